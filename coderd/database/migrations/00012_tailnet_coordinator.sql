-- +goose Up
-- The shared tailnet coordinator: each coderd process's coordinator keeps
-- its own peers in memory and mirrors them here, so a client coordinating
-- through one replica finds an agent coordinating through another.
-- Changes are announced with NOTIFY on tailnet_coordinator (ids only);
-- receivers read the rows.
--
-- One row per coordinator (a process; a new id after it lost the
-- database). heartbeat_at is the database's clock; a row silent for three
-- heartbeat intervals is dead, and one replica deletes it, marking its
-- peers lost.
CREATE TABLE tailnet_coordinators (
    id           uuid PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);

CREATE INDEX tailnet_coordinators_heartbeat_at_idx ON tailnet_coordinators (heartbeat_at);

-- A node connected through a coordinator. status 'lost' is a peer whose
-- connection dropped without a goodbye (or whose coordinator died): kept
-- a while so its partners are told "lost" rather than "disconnected", then
-- deleted by age. A goodbye deletes the row. No foreign key to
-- tailnet_coordinators: a dead coordinator's rows outlive it as 'lost'.
-- node is NULL until the peer published one.
CREATE TABLE tailnet_peers (
    id             uuid NOT NULL,
    coordinator_id uuid NOT NULL,
    is_agent       boolean NOT NULL,
    node           jsonb,
    status         text NOT NULL CHECK (status IN ('ok', 'lost')),
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (id, coordinator_id)
);

CREATE INDEX tailnet_peers_coordinator_id_idx ON tailnet_peers (coordinator_id);
CREATE INDEX tailnet_peers_lost_updated_at_idx ON tailnet_peers (updated_at) WHERE status = 'lost';

-- A client's tunnel to an agent, held by the coordinator the client is
-- connected through; gone with that coordinator.
CREATE TABLE tailnet_tunnels (
    src_id         uuid NOT NULL,
    dst_id         uuid NOT NULL,
    coordinator_id uuid NOT NULL REFERENCES tailnet_coordinators (id) ON DELETE CASCADE,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (src_id, dst_id, coordinator_id)
);

CREATE INDEX tailnet_tunnels_dst_id_idx ON tailnet_tunnels (dst_id);
CREATE INDEX tailnet_tunnels_coordinator_id_idx ON tailnet_tunnels (coordinator_id);

-- +goose Down
DROP TABLE tailnet_tunnels;
DROP TABLE tailnet_peers;
DROP TABLE tailnet_coordinators;
