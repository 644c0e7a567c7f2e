-- +goose Up
-- The coderd processes sharing this database, one row each. A replica
-- inserts its row at start, refreshes updated_at (the database's clock, so
-- replicas need no synchronised clocks) every heartbeat interval, and
-- deletes the row when it stops cleanly. A row whose updated_at is older
-- than three intervals belongs to a replica that died: its peers stop
-- meshing with it, and one of them deletes the row.
--
-- relay_address is the URL at which peers reach this replica's own DERP
-- server (not the load balancer's access URL); empty when the replica was
-- started without one, which is refused when other replicas are live.
-- database_latency is the heartbeat's round trip in microseconds; error is
-- what this replica reports as wrong with itself (peers it cannot reach, a
-- missing relay address), empty when healthy.
CREATE TABLE replicas (
    id               uuid PRIMARY KEY,
    hostname         text NOT NULL,
    relay_address    text NOT NULL DEFAULT '',
    region_id        integer NOT NULL,
    version          text NOT NULL,
    error            text NOT NULL DEFAULT '',
    database_latency integer NOT NULL DEFAULT 0 CHECK (database_latency >= 0),
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Peers and the clean-up look rows up by age.
CREATE INDEX replicas_updated_at_idx ON replicas (updated_at);

-- +goose Down
DROP TABLE replicas;
