-- +goose Up
-- The latest run of each script of an agent (coder_script resources and
-- the legacy startup/shutdown scripts; their definitions live in the
-- agent's spec, in order, and script_index is the position there). A row
-- exists only once the agent has reported a run of that script; rows
-- belong to one agent, so a new build starts empty. Times are the agent's
-- clock; reported_at is coderd's.
CREATE TABLE workspace_agent_script_runs (
    agent_id     uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    script_index integer NOT NULL CHECK (script_index >= 0),
    stage        text NOT NULL CHECK (stage IN ('start', 'stop', 'cron')),
    status       text NOT NULL CHECK (status IN ('ok', 'exit_failure', 'timed_out', 'pipes_left_open')),
    exit_code    integer NOT NULL,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (agent_id, script_index)
);

-- +goose Down
DROP TABLE workspace_agent_script_runs;
