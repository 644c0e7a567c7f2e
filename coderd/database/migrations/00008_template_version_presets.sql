-- +goose Up
-- A template version's presets (coder_workspace_preset data sources found
-- by its import): named sets of parameter values offered at creation.
ALTER TABLE template_versions ADD COLUMN presets jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE template_versions DROP COLUMN presets;
