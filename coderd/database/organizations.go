package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Organization is a row of organizations.
type Organization struct {
	ID          uuid.UUID
	Name        string
	DisplayName string
	Description string
	IsDefault   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const orgColumns = `id, name, display_name, description, is_default, created_at, updated_at`

func scanOrg(row pgx.Row) (Organization, error) {
	var o Organization
	err := row.Scan(&o.ID, &o.Name, &o.DisplayName, &o.Description, &o.IsDefault, &o.CreatedAt, &o.UpdatedAt)
	return o, notFound(err)
}

// EnsureDefaultOrganization returns the default organization, creating it
// on first use. Safe to race: the single-default index decides.
func (s *Store) EnsureDefaultOrganization(ctx context.Context, now time.Time) (Organization, error) {
	o, err := scanOrg(s.db.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE is_default`))
	if err == nil {
		return o, nil
	}
	if err != ErrNotFound {
		return Organization{}, fmt.Errorf("get default organization: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO organizations (id, name, display_name, description, is_default, created_at, updated_at)
		VALUES ($1, 'coder', 'Coder', 'The default organization.', true, $2, $2) ON CONFLICT DO NOTHING`, uuid.New(), now)
	if err != nil {
		return Organization{}, fmt.Errorf("create default organization: %w", err)
	}
	o, err = scanOrg(s.db.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE is_default`))
	if err != nil {
		return Organization{}, fmt.Errorf("get default organization: %w", err)
	}
	return o, nil
}

// GetOrganizationByID returns an organization.
func (s *Store) GetOrganizationByID(ctx context.Context, id uuid.UUID) (Organization, error) {
	return scanOrg(s.db.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
}

// GetOrganizationByName returns an organization, matching case-insensitively.
func (s *Store) GetOrganizationByName(ctx context.Context, name string) (Organization, error) {
	return scanOrg(s.db.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE lower(name) = lower($1)`, name))
}

// GetOrganizationsByUserID lists the organizations a user belongs to.
func (s *Store) GetOrganizationsByUserID(ctx context.Context, userID uuid.UUID) ([]Organization, error) {
	rows, err := s.db.Query(ctx, `SELECT `+prefixed("o.", orgColumns)+` FROM organizations o
		JOIN organization_members m ON m.organization_id = o.id WHERE m.user_id = $1 ORDER BY o.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []Organization
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// OrganizationMember is a row of organization_members.
type OrganizationMember struct {
	OrganizationID uuid.UUID
	UserID         uuid.UUID
	Roles          []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// InsertOrganizationMember adds a user to an organization.
func (s *Store) InsertOrganizationMember(ctx context.Context, m OrganizationMember) error {
	if m.Roles == nil {
		m.Roles = []string{}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO organization_members (organization_id, user_id, roles, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)`, m.OrganizationID, m.UserID, m.Roles, m.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert organization member: %w", err)
	}
	return nil
}

// GetOrganizationIDsByUserIDs maps each user to the organizations it is in.
func (s *Store) GetOrganizationIDsByUserIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `SELECT user_id, organization_id FROM organization_members WHERE user_id = ANY($1) ORDER BY created_at`, ids)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID][]uuid.UUID, len(ids))
	for rows.Next() {
		var u, o uuid.UUID
		if err := rows.Scan(&u, &o); err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		out[u] = append(out[u], o)
	}
	return out, rows.Err()
}
