-- +goose Up
-- Template files: tar archives, content-addressed by sha256 per uploader
-- organization-independent; identical uploads share one row.
CREATE TABLE files (
    id         uuid PRIMARY KEY,
    hash       text NOT NULL,
    created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    mimetype   text NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX files_hash_idx ON files (hash);

CREATE TYPE provisioner_job_type AS ENUM ('template_version_import', 'workspace_build');

CREATE TABLE provisioner_jobs (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    initiator_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    type            provisioner_job_type NOT NULL,
    provisioner     text NOT NULL DEFAULT 'terraform',
    file_id         uuid NOT NULL REFERENCES files (id) ON DELETE RESTRICT,
    -- input is what the daemon needs beyond the file, by job type.
    input           jsonb NOT NULL DEFAULT '{}'::jsonb,
    tags            jsonb NOT NULL DEFAULT '{"scope": "organization", "owner": ""}'::jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    started_at      timestamptz,
    canceled_at     timestamptz,
    completed_at    timestamptz,
    -- worker_id is the daemon that acquired the job; updated_at doubles as
    -- its heartbeat while running.
    worker_id       uuid,
    error           text,
    error_code      text NOT NULL DEFAULT '',
    logs_length     integer NOT NULL DEFAULT 0,
    job_status      text GENERATED ALWAYS AS (
        CASE
            WHEN completed_at IS NOT NULL AND canceled_at IS NOT NULL THEN 'canceled'
            WHEN completed_at IS NOT NULL AND COALESCE(error, '') <> '' THEN 'failed'
            WHEN completed_at IS NOT NULL THEN 'succeeded'
            WHEN canceled_at IS NOT NULL THEN 'canceling'
            WHEN started_at IS NOT NULL THEN 'running'
            ELSE 'pending'
        END
    ) STORED
);
-- The acquire query scans only pending jobs, oldest first.
CREATE INDEX provisioner_jobs_pending_idx ON provisioner_jobs (organization_id, created_at) WHERE started_at IS NULL;
CREATE INDEX provisioner_jobs_running_idx ON provisioner_jobs (updated_at) WHERE started_at IS NOT NULL AND completed_at IS NULL;

CREATE TYPE log_level AS ENUM ('trace', 'debug', 'info', 'warn', 'error');
CREATE TYPE log_source AS ENUM ('provisioner_daemon', 'provisioner');

CREATE TABLE provisioner_job_logs (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    source     log_source NOT NULL,
    level      log_level NOT NULL,
    stage      text NOT NULL,
    output     text NOT NULL
);
CREATE INDEX provisioner_job_logs_job_id_idx ON provisioner_job_logs (job_id, id);

CREATE TABLE provisioner_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    hashed_secret   bytea NOT NULL,
    tags            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX provisioner_keys_name_idx ON provisioner_keys (organization_id, lower(name));

CREATE TABLE provisioner_daemons (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    provisioners    text[] NOT NULL DEFAULT '{terraform}',
    tags            jsonb NOT NULL DEFAULT '{}'::jsonb,
    key_id          uuid REFERENCES provisioner_keys (id) ON DELETE SET NULL,
    version         text NOT NULL DEFAULT '',
    api_version     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL
);

CREATE TABLE templates (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL,
    display_name      text NOT NULL DEFAULT '',
    description       text NOT NULL DEFAULT '',
    icon              text NOT NULL DEFAULT '',
    active_version_id uuid NOT NULL,
    created_by        uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    deleted           boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX templates_name_idx ON templates (organization_id, lower(name)) WHERE NOT deleted;

CREATE TABLE template_versions (
    id              uuid PRIMARY KEY,
    template_id     uuid REFERENCES templates (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    message         text NOT NULL DEFAULT '',
    readme          text NOT NULL DEFAULT '',
    job_id          uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE RESTRICT,
    created_by      uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    archived        boolean NOT NULL DEFAULT false,
    -- Filled by a successful import.
    parameters      jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX template_versions_name_idx ON template_versions (template_id, lower(name)) WHERE template_id IS NOT NULL;
ALTER TABLE templates ADD CONSTRAINT templates_active_version_fk FOREIGN KEY (active_version_id) REFERENCES template_versions (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE workspaces (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    template_id     uuid NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    name            text NOT NULL,
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX workspaces_owner_name_idx ON workspaces (owner_id, lower(name)) WHERE NOT deleted;
CREATE INDEX workspaces_template_idx ON workspaces (template_id) WHERE NOT deleted;

CREATE TYPE workspace_transition AS ENUM ('start', 'stop', 'delete');
CREATE TYPE build_reason AS ENUM ('initiator', 'autostart', 'autostop', 'cli', 'dashboard');

CREATE TABLE workspace_builds (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE RESTRICT,
    build_number        integer NOT NULL,
    transition          workspace_transition NOT NULL,
    initiator_id        uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    reason              build_reason NOT NULL DEFAULT 'initiator',
    -- Terraform state after this build; NULL until it ends. A failed build
    -- keeps what Terraform wrote, or the previous build's state.
    provisioner_state   bytea,
    job_id              uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE RESTRICT,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (workspace_id, build_number)
);
CREATE UNIQUE INDEX workspace_builds_job_idx ON workspace_builds (job_id);

CREATE TABLE workspace_build_parameters (
    workspace_build_id uuid NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
    name               text NOT NULL,
    value              text NOT NULL,
    PRIMARY KEY (workspace_build_id, name)
);

CREATE TABLE workspace_resources (
    id          uuid PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    transition  workspace_transition NOT NULL,
    type        text NOT NULL,
    name        text NOT NULL,
    hide        boolean NOT NULL DEFAULT false,
    icon        text NOT NULL DEFAULT '',
    daily_cost  integer NOT NULL DEFAULT 0,
    metadata    jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at  timestamptz NOT NULL
);
CREATE INDEX workspace_resources_job_idx ON workspace_resources (job_id);

CREATE TYPE agent_lifecycle_state AS ENUM ('created', 'starting', 'start_timeout', 'start_error', 'ready', 'shutting_down', 'shutdown_timeout', 'shutdown_error', 'off');

CREATE TABLE workspace_agents (
    id                         uuid PRIMARY KEY,
    resource_id                uuid NOT NULL REFERENCES workspace_resources (id) ON DELETE CASCADE,
    name                       text NOT NULL,
    -- sha256 of the agent token; the token itself is only in Terraform state.
    hashed_token               bytea NOT NULL,
    auth                       text NOT NULL DEFAULT 'token',
    os                         text NOT NULL,
    arch                       text NOT NULL,
    directory                  text NOT NULL DEFAULT '',
    -- The rest of what the provisioner reported (env, scripts, apps,
    -- metadata, timeouts), as the agent manifest needs it.
    spec                       jsonb NOT NULL DEFAULT '{}'::jsonb,
    lifecycle_state            agent_lifecycle_state NOT NULL DEFAULT 'created',
    version                    text NOT NULL DEFAULT '',
    first_connected_at         timestamptz,
    last_connected_at          timestamptz,
    disconnected_at            timestamptz,
    started_at                 timestamptz,
    ready_at                   timestamptz,
    logs_length                integer NOT NULL DEFAULT 0,
    logs_overflowed            boolean NOT NULL DEFAULT false,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);
CREATE UNIQUE INDEX workspace_agents_token_idx ON workspace_agents (hashed_token);
CREATE INDEX workspace_agents_resource_idx ON workspace_agents (resource_id);

-- Wake idle daemons the moment a job is queued.
-- +goose StatementBegin
CREATE FUNCTION notify_provisioner_job_posted() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('provisioner_job_posted', NEW.organization_id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER provisioner_job_posted AFTER INSERT ON provisioner_jobs
    FOR EACH ROW EXECUTE FUNCTION notify_provisioner_job_posted();

-- +goose Down
DROP TRIGGER provisioner_job_posted ON provisioner_jobs;
DROP FUNCTION notify_provisioner_job_posted();
DROP TABLE workspace_agents;
DROP TYPE agent_lifecycle_state;
DROP TABLE workspace_resources;
DROP TABLE workspace_build_parameters;
DROP TABLE workspace_builds;
DROP TYPE build_reason;
DROP TYPE workspace_transition;
DROP TABLE workspaces;
ALTER TABLE templates DROP CONSTRAINT templates_active_version_fk;
DROP TABLE template_versions;
DROP TABLE templates;
DROP TABLE provisioner_daemons;
DROP TABLE provisioner_keys;
DROP TABLE provisioner_job_logs;
DROP TYPE log_source;
DROP TYPE log_level;
DROP TABLE provisioner_jobs;
DROP TYPE provisioner_job_type;
DROP TABLE files;
