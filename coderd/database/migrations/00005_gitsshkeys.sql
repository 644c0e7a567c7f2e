-- +goose Up
-- Each user's git SSH key pair: the public key goes to GitHub/GitLab, the
-- private key reaches the user's workspaces (agent and Terraform) for git
-- over SSH. One pair per user; coderd makes it on first use, so users
-- created before this migration need no backfill.
CREATE TABLE gitsshkeys (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- OpenSSH private key format (PEM "OPENSSH PRIVATE KEY"), unencrypted.
    private_key text NOT NULL,
    -- One authorized_keys line: "ssh-ed25519 AAAA...".
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE gitsshkeys;
