-- +goose Up
CREATE TYPE user_status AS ENUM ('active', 'suspended', 'dormant');
CREATE TYPE login_type AS ENUM ('password', 'token', 'none');
CREATE TYPE api_key_scope AS ENUM ('all', 'application_connect');

CREATE TABLE organizations (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_idx ON organizations (lower(name));
-- At most one default organization.
CREATE UNIQUE INDEX organizations_single_default_idx ON organizations (is_default) WHERE is_default;

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    username        text NOT NULL,
    name            text NOT NULL DEFAULT '',
    hashed_password bytea NOT NULL DEFAULT ''::bytea,
    status          user_status NOT NULL DEFAULT 'active',
    rbac_roles      text[] NOT NULL DEFAULT '{}',
    login_type      login_type NOT NULL DEFAULT 'password',
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00'
);
CREATE UNIQUE INDEX users_username_idx ON users (lower(username)) WHERE NOT deleted;
CREATE UNIQUE INDEX users_email_idx ON users (lower(email)) WHERE NOT deleted;

CREATE TABLE organization_members (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    roles           text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

-- API keys: both browser/CLI sessions (token_name = '') and named long-lived
-- tokens. Only sha256(secret) is stored; the id half is public.
CREATE TABLE api_keys (
    id               text PRIMARY KEY,
    hashed_secret    bytea NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login_type       login_type NOT NULL,
    token_name       text NOT NULL DEFAULT '',
    scope            api_key_scope NOT NULL DEFAULT 'all',
    lifetime_seconds bigint NOT NULL,
    expires_at       timestamptz NOT NULL,
    last_used        timestamptz NOT NULL,
    ip_address       inet,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
CREATE UNIQUE INDEX api_keys_token_name_idx ON api_keys (user_id, token_name) WHERE token_name <> '';

CREATE TABLE audit_logs (
    id                uuid PRIMARY KEY,
    "time"            timestamptz NOT NULL,
    user_id           uuid,
    organization_id   uuid,
    ip                inet,
    user_agent        text NOT NULL DEFAULT '',
    resource_type     text NOT NULL,
    resource_id       uuid,
    resource_target   text NOT NULL DEFAULT '',
    action            text NOT NULL,
    diff              jsonb NOT NULL DEFAULT '{}'::jsonb,
    status_code       integer NOT NULL,
    additional_fields jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id        uuid
);
CREATE INDEX audit_logs_time_idx ON audit_logs ("time" DESC);

CREATE TABLE site_configs (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE site_configs;
DROP TABLE audit_logs;
DROP TABLE api_keys;
DROP TABLE organization_members;
DROP TABLE users;
DROP TABLE organizations;
DROP TYPE api_key_scope;
DROP TYPE login_type;
DROP TYPE user_status;
