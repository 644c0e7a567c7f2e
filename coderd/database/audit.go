package database

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
)

// AuditLog is a row of audit_logs.
type AuditLog struct {
	ID               uuid.UUID
	Time             time.Time
	UserID           *uuid.UUID
	OrganizationID   *uuid.UUID
	IP               *netip.Addr
	UserAgent        string
	ResourceType     string
	ResourceID       *uuid.UUID
	ResourceTarget   string
	Action           string
	Diff             json.RawMessage
	StatusCode       int32
	AdditionalFields json.RawMessage
	RequestID        *uuid.UUID
}

// InsertAuditLog appends an entry.
func (s *Store) InsertAuditLog(ctx context.Context, a AuditLog) error {
	if len(a.Diff) == 0 {
		a.Diff = json.RawMessage("{}")
	}
	if len(a.AdditionalFields) == 0 {
		a.AdditionalFields = json.RawMessage("{}")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO audit_logs (id, "time", user_id, organization_id, ip, user_agent, resource_type, resource_id, resource_target, action, diff, status_code, additional_fields, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		a.ID, a.Time, a.UserID, a.OrganizationID, a.IP, a.UserAgent, a.ResourceType, a.ResourceID, a.ResourceTarget, a.Action, a.Diff, a.StatusCode, a.AdditionalFields, a.RequestID)
	if err != nil {
		return fmt.Errorf("insert audit log: %w", err)
	}
	return nil
}

// AuditLogsFilter narrows GetAuditLogs.
type AuditLogsFilter struct {
	ResourceType string
	Action       string
	Limit        int
	Offset       int
}

// GetAuditLogs returns entries newest first and the total matching count.
func (s *Store) GetAuditLogs(ctx context.Context, f AuditLogsFilter) ([]AuditLog, int64, error) {
	where := []string{"true"}
	var args []any
	if f.ResourceType != "" {
		args = append(args, f.ResourceType)
		where = append(where, fmt.Sprintf("resource_type = $%d", len(args)))
	}
	if f.Action != "" {
		args = append(args, f.Action)
		where = append(where, fmt.Sprintf("action = $%d", len(args)))
	}
	cond := strings.Join(where, " AND ")
	var count int64
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM audit_logs WHERE "+cond, args...).Scan(&count); err != nil {
		return nil, 0, fmt.Errorf("count audit logs: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit, f.Offset)
	rows, err := s.db.Query(ctx, fmt.Sprintf(`SELECT id, "time", user_id, organization_id, ip, user_agent, resource_type, resource_id, resource_target, action, diff, status_code, additional_fields, request_id
		FROM audit_logs WHERE %s ORDER BY "time" DESC, id LIMIT $%d OFFSET $%d`, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit logs: %w", err)
	}
	defer rows.Close()
	var out []AuditLog
	for rows.Next() {
		var a AuditLog
		if err := rows.Scan(&a.ID, &a.Time, &a.UserID, &a.OrganizationID, &a.IP, &a.UserAgent, &a.ResourceType, &a.ResourceID, &a.ResourceTarget, &a.Action, &a.Diff, &a.StatusCode, &a.AdditionalFields, &a.RequestID); err != nil {
			return nil, 0, fmt.Errorf("scan audit log: %w", err)
		}
		out = append(out, a)
	}
	return out, count, rows.Err()
}
