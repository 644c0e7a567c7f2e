-- +goose Up
-- Template settings an admin changes after creation (coder templates edit).
-- require_active_version: members' workspaces start on the template's
-- active version, never an older one. allow_user_cancel_workspace_jobs:
-- members may cancel their own workspaces' builds (admins always may).
ALTER TABLE templates
    ADD COLUMN require_active_version boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_user_cancel_workspace_jobs boolean NOT NULL DEFAULT true;

-- +goose Down
ALTER TABLE templates
    DROP COLUMN require_active_version,
    DROP COLUMN allow_user_cancel_workspace_jobs;
