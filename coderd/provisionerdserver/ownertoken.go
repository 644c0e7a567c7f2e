package provisionerdserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// ownerWorkspaceToken issues the short-lived owner token templates receive
// as CODER_WORKSPACE_OWNER_SESSION_TOKEN, replacing the previous one.
func (s *Server) ownerWorkspaceToken(ctx context.Context, ownerID, wsID uuid.UUID) (string, error) {
	if err := deleteOwnerWorkspaceToken(ctx, s.opts.DB, ownerID, wsID); err != nil {
		return "", err
	}
	id, secret, hashed, err := apikey.Generate()
	if err != nil {
		return "", err
	}
	now := s.now()
	_, err = s.opts.DB.InsertAPIKey(ctx, database.APIKey{ID: id, HashedSecret: hashed, UserID: ownerID, LoginType: string(codersdk.LoginTypeToken),
		TokenName: workspaceTokenName(wsID), Scope: string(codersdk.APIKeyScopeAll), LifetimeSeconds: int64((7 * 24 * time.Hour).Seconds()),
		ExpiresAt: now.Add(7 * 24 * time.Hour), LastUsed: now, CreatedAt: now})
	if err != nil {
		return "", err
	}
	return apikey.Token(id, secret), nil
}

// deleteOwnerWorkspaceToken deletes the workspace's owner token, if any,
// through db (a transaction or the store).
func deleteOwnerWorkspaceToken(ctx context.Context, db *database.Store, ownerID, wsID uuid.UUID) error {
	k, err := db.GetAPIKeyByName(ctx, ownerID, workspaceTokenName(wsID))
	if errors.Is(err, database.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get owner workspace token: %w", err)
	}
	if err := db.DeleteAPIKey(ctx, k.ID); err != nil && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("delete owner workspace token: %w", err)
	}
	return nil
}

func workspaceTokenName(wsID uuid.UUID) string { return "workspace-" + wsID.String()[:8] }
