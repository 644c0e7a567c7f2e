package database

import (
	"context"
	"fmt"
	"time"
)

// UseAppTicketNonce marks a subdomain app sign-in ticket's nonce used and
// reports whether it was unused until now. Every replica shares the table,
// so a ticket redeemed on one is refused on the others. Nonces whose
// tickets expired before now are deleted on the way.
func (s *Store) UseAppTicketNonce(ctx context.Context, nonce string, expiresAt, now time.Time) (bool, error) {
	if _, err := s.db.Exec(ctx, `DELETE FROM app_ticket_nonces WHERE expires_at <= $1`, now); err != nil {
		return false, fmt.Errorf("delete expired app ticket nonces: %w", err)
	}
	tag, err := s.db.Exec(ctx, `INSERT INTO app_ticket_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`, nonce, expiresAt)
	if err != nil {
		return false, fmt.Errorf("use app ticket nonce: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
