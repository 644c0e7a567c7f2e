package database

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// SetTemplateVersionPresets stores what a successful import found (a JSON
// array of codersdk.Preset).
func (s *Store) SetTemplateVersionPresets(ctx context.Context, id uuid.UUID, presets json.RawMessage) error {
	if _, err := s.db.Exec(ctx, `UPDATE template_versions SET presets = $2 WHERE id = $1`, id, presets); err != nil {
		return fmt.Errorf("store presets: %w", err)
	}
	return nil
}

// GetTemplateVersionPresets returns a version's presets as stored.
func (s *Store) GetTemplateVersionPresets(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var raw json.RawMessage
	err := s.db.QueryRow(ctx, `SELECT presets FROM template_versions WHERE id = $1`, id).Scan(&raw)
	return raw, notFound(err)
}
