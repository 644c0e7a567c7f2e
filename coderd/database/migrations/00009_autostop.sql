-- +goose Up
-- Workspace autostop. templates.default_ttl_ms is what a new workspace's
-- ttl_ms starts as (0: no autostop). workspaces.ttl_ms is how long a
-- workspace runs after a start build succeeds (NULL or 0: until stopped by
-- hand). workspace_builds.deadline is when the lifecycle executor stops a
-- running workspace: set when a start build succeeds (completion + ttl),
-- pushed later by activity, NULL for stop and delete builds and for
-- workspaces without a ttl.
ALTER TABLE templates ADD COLUMN default_ttl_ms bigint NOT NULL DEFAULT 0 CHECK (default_ttl_ms >= 0);
ALTER TABLE workspaces ADD COLUMN ttl_ms bigint CHECK (ttl_ms >= 0);
ALTER TABLE workspace_builds ADD COLUMN deadline timestamptz;
-- The executor's scan: only builds that carry a deadline.
CREATE INDEX workspace_builds_deadline_idx ON workspace_builds (deadline) WHERE deadline IS NOT NULL;

-- +goose Down
DROP INDEX workspace_builds_deadline_idx;
ALTER TABLE workspace_builds DROP COLUMN deadline;
ALTER TABLE workspaces DROP COLUMN ttl_ms;
ALTER TABLE templates DROP COLUMN default_ttl_ms;
