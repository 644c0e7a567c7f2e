package database

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// User is a row of users.
type User struct {
	ID             uuid.UUID
	Email          string
	Username       string
	Name           string
	HashedPassword []byte
	Status         string
	RBACRoles      []string
	LoginType      string
	Deleted        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastSeenAt     time.Time
}

// Unique index names on users, for IsUniqueViolation.
const (
	UniqueUsersUsername = "users_username_idx"
	UniqueUsersEmail    = "users_email_idx"
)

const userColumns = `id, email, username, name, hashed_password, status, rbac_roles, login_type, deleted, created_at, updated_at, last_seen_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Username, &u.Name, &u.HashedPassword, &u.Status, &u.RBACRoles, &u.LoginType, &u.Deleted, &u.CreatedAt, &u.UpdatedAt, &u.LastSeenAt)
	return u, notFound(err)
}

// InsertUser creates a user.
func (s *Store) InsertUser(ctx context.Context, u User) (User, error) {
	if u.RBACRoles == nil {
		u.RBACRoles = []string{}
	}
	if u.HashedPassword == nil {
		// A user without a password (login type none): the column is NOT
		// NULL, and nil would be sent as NULL.
		u.HashedPassword = []byte{}
	}
	row := s.db.QueryRow(ctx, `INSERT INTO users (id, email, username, name, hashed_password, status, rbac_roles, login_type, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING `+userColumns,
		u.ID, u.Email, u.Username, u.Name, u.HashedPassword, u.Status, u.RBACRoles, u.LoginType, u.CreatedAt)
	out, err := scanUser(row)
	if err != nil {
		return User{}, fmt.Errorf("insert user: %w", err)
	}
	return out, nil
}

// CountUsers counts users that are not deleted.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM users WHERE NOT deleted`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// GetUserByID returns a user that is not deleted.
func (s *Store) GetUserByID(ctx context.Context, id uuid.UUID) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND NOT deleted`, id))
}

// GetUserByEmailOrUsername matches either, case-insensitively.
func (s *Store) GetUserByEmailOrUsername(ctx context.Context, email, username string) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE NOT deleted AND (($1 <> '' AND lower(email) = lower($1)) OR ($2 <> '' AND lower(username) = lower($2))) LIMIT 1`, email, username))
}

// UsersFilter narrows GetUsers.
type UsersFilter struct {
	Search string
	Status string
	// OnlyID restricts the result to one user (for callers who may only see
	// themselves).
	OnlyID uuid.UUID
	Limit  int
	Offset int
}

// GetUsers returns a page of users ordered by username, and the total
// matching count.
func (s *Store) GetUsers(ctx context.Context, f UsersFilter) ([]User, int, error) {
	where := []string{"NOT deleted"}
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Search != "" {
		p := arg("%" + escapeLike(strings.ToLower(f.Search)) + "%")
		where = append(where, "(lower(username) LIKE "+p+" OR lower(email) LIKE "+p+")")
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status)+"::user_status")
	}
	if f.OnlyID != uuid.Nil {
		where = append(where, "id = "+arg(f.OnlyID))
	}
	cond := strings.Join(where, " AND ")
	var count int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM users WHERE "+cond, args...).Scan(&count); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT " + userColumns + " FROM users WHERE " + cond + " ORDER BY lower(username) LIMIT " + arg(limit) + " OFFSET " + arg(f.Offset)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan user: %w", err)
		}
		users = append(users, u)
	}
	return users, count, rows.Err()
}

// UpdateUserStatus sets a user's status.
func (s *Store) UpdateUserStatus(ctx context.Context, id uuid.UUID, status string, now time.Time) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `UPDATE users SET status = $2, updated_at = $3 WHERE id = $1 AND NOT deleted RETURNING `+userColumns, id, status, now))
}

// UpdateUserRoles replaces a user's site roles.
func (s *Store) UpdateUserRoles(ctx context.Context, id uuid.UUID, roles []string, now time.Time) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `UPDATE users SET rbac_roles = $2, updated_at = $3 WHERE id = $1 AND NOT deleted RETURNING `+userColumns, id, roles, now))
}

// UpdateUserLastSeen records activity; cheap enough for every request
// because callers throttle it.
func (s *Store) UpdateUserLastSeen(ctx context.Context, id uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE users SET last_seen_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("update last seen: %w", err)
	}
	return nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
