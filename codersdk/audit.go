package codersdk

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// AuditAction is what happened to a resource.
type AuditAction string

// Audit actions.
const (
	AuditActionCreate   AuditAction = "create"
	AuditActionWrite    AuditAction = "write"
	AuditActionDelete   AuditAction = "delete"
	AuditActionLogin    AuditAction = "login"
	AuditActionLogout   AuditAction = "logout"
	AuditActionRegister AuditAction = "register"
)

// AuditLog is one audited event.
type AuditLog struct {
	ID               uuid.UUID       `json:"id"`
	RequestID        uuid.UUID       `json:"request_id"`
	Time             time.Time       `json:"time"`
	IP               string          `json:"ip"`
	UserAgent        string          `json:"user_agent"`
	ResourceType     string          `json:"resource_type"`
	ResourceID       uuid.UUID       `json:"resource_id"`
	ResourceTarget   string          `json:"resource_target"`
	Action           AuditAction     `json:"action"`
	Diff             json.RawMessage `json:"diff"`
	StatusCode       int32           `json:"status_code"`
	AdditionalFields json.RawMessage `json:"additional_fields"`
	OrganizationID   uuid.UUID       `json:"organization_id"`
	// User is who acted; nil for failed anonymous attempts.
	User *User `json:"user"`
}

// AuditLogResponse is one page of the audit log.
type AuditLogResponse struct {
	AuditLogs []AuditLog `json:"audit_logs"`
	Count     int64      `json:"count"`
}

// AuditLogsRequest pages and filters the audit log.
type AuditLogsRequest struct {
	// ResourceType and Action filter; empty means any.
	ResourceType string
	Action       AuditAction
	Limit        int
	Offset       int
}

// AuditLogs returns the newest audit entries first (owner and auditor only).
func (c *Client) AuditLogs(ctx context.Context, req AuditLogsRequest) (AuditLogResponse, error) {
	var out AuditLogResponse
	opts := []RequestOption{WithQueryParam("resource_type", req.ResourceType), WithQueryParam("action", string(req.Action))}
	if req.Limit > 0 {
		opts = append(opts, WithQueryParam("limit", strconv.Itoa(req.Limit)))
	}
	if req.Offset > 0 {
		opts = append(opts, WithQueryParam("offset", strconv.Itoa(req.Offset)))
	}
	return out, c.do(ctx, http.MethodGet, "/api/v2/audit", nil, http.StatusOK, &out, opts...)
}
