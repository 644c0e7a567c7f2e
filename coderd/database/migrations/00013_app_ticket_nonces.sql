-- +goose Up
-- Used sign-in tickets of subdomain apps. A ticket (a one-minute,
-- encrypted link that carries a dashboard login to an app's origin) works
-- once: its nonce is inserted when it is redeemed, and a second insert of
-- the same nonce (a replay, on any replica) finds it. Rows past their
-- ticket's expiry are useless (the ticket is refused as expired anyway)
-- and are deleted as tickets are redeemed.
CREATE TABLE app_ticket_nonces (
    nonce      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX app_ticket_nonces_expires_at_idx ON app_ticket_nonces (expires_at);

-- +goose Down
DROP TABLE app_ticket_nonces;
