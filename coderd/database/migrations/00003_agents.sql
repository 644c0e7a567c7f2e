-- +goose Up
ALTER TABLE workspace_agents
    ADD COLUMN expanded_directory text NOT NULL DEFAULT '',
    ADD COLUMN subsystems text[] NOT NULL DEFAULT '{}',
    ADD COLUMN api_version text NOT NULL DEFAULT '',
    ADD COLUMN listening_ports jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN last_stats jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Startup script output; UNLOGGED like other high-churn, re-creatable data
-- would be tempting, but users read these after a crash, so keep them.
CREATE TABLE workspace_agent_logs (
    id         bigserial PRIMARY KEY,
    agent_id   uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    level      log_level NOT NULL,
    source     text NOT NULL DEFAULT '',
    output     text NOT NULL
);
CREATE INDEX workspace_agent_logs_agent_idx ON workspace_agent_logs (agent_id, id);

-- +goose Down
DROP TABLE workspace_agent_logs;
ALTER TABLE workspace_agents
    DROP COLUMN expanded_directory,
    DROP COLUMN subsystems,
    DROP COLUMN api_version,
    DROP COLUMN listening_ports,
    DROP COLUMN last_stats;
