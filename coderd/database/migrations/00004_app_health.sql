-- +goose Up
-- What an agent last reported of its apps' health checks. A row exists
-- only once the agent has reported; until then the API shows the app as
-- initializing. Rows belong to one agent, so a new build (new agents)
-- starts over at initializing.
CREATE TYPE workspace_app_health AS ENUM ('initializing', 'healthy', 'unhealthy');

CREATE TABLE workspace_app_healths (
    agent_id   uuid NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    slug       text NOT NULL,
    health     workspace_app_health NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (agent_id, slug)
);

-- +goose Down
DROP TABLE workspace_app_healths;
DROP TYPE workspace_app_health;
