package database

import (
	"context"
	"fmt"
	"time"
)

// ListRecentProvisionerDaemons lists the daemons of every organization seen
// since `since`, most recently seen first: the health report's view of the
// whole deployment (ListProvisionerDaemons is one organization's).
func (s *Store) ListRecentProvisionerDaemons(ctx context.Context, since time.Time) ([]ProvisionerDaemon, error) {
	rows, err := s.db.Query(ctx, `SELECT d.id, d.organization_id, d.name, d.provisioners, d.tags, d.key_id, d.version, d.api_version, d.created_at, d.last_seen_at,
			(SELECT j.id FROM provisioner_jobs j WHERE j.worker_id = d.id AND j.completed_at IS NULL ORDER BY j.started_at DESC LIMIT 1)
		FROM provisioner_daemons d WHERE d.last_seen_at >= $1 ORDER BY d.last_seen_at DESC, d.name`, since)
	if err != nil {
		return nil, fmt.Errorf("list recent provisioner daemons: %w", err)
	}
	defer rows.Close()
	var out []ProvisionerDaemon
	for rows.Next() {
		var d ProvisionerDaemon
		if err := rows.Scan(&d.ID, &d.OrganizationID, &d.Name, &d.Provisioners, &d.Tags, &d.KeyID, &d.Version, &d.APIVersion, &d.CreatedAt, &d.LastSeenAt, &d.CurrentJobID); err != nil {
			return nil, fmt.Errorf("scan provisioner daemon: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
