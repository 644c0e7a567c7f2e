-- +goose Up
-- The latest result of each metadata script of an agent (coder_agent's
-- metadata blocks; their descriptions live in the agent's spec). A row
-- exists only once the agent has reported that key; rows belong to one
-- agent, so a new build starts empty.
CREATE TABLE workspace_agent_metadata (
    agent_id     uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    key          text NOT NULL,
    value        text NOT NULL,
    error        text NOT NULL,
    collected_at timestamptz NOT NULL,
    PRIMARY KEY (agent_id, key)
);

-- +goose Down
DROP TABLE workspace_agent_metadata;
