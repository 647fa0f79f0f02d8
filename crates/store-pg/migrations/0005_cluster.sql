-- Several nodes on one database (issue 9).

-- Optimistic concurrency for mission steps: a step commits only on top of
-- the version it was computed from. The version is the fencing token that
-- keeps a node which lost a mission's lease from overwriting newer state.
ALTER TABLE incidents ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- Who is busy with which live mission: a volunteer is alerted for one
-- mission at a time, across every node.
CREATE TABLE volunteer_busy (
    volunteer_id uuid PRIMARY KEY,
    incident_id  uuid NOT NULL,
    since        timestamptz NOT NULL
);
CREATE INDEX volunteer_busy_incident ON volunteer_busy(incident_id);

-- Time-limited leases: which node drives a mission's timers, which node
-- runs the singleton jobs. Expiry is the database's clock, not the nodes'.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Outbox items are claimed by one node's worker at a time.
ALTER TABLE outbox ADD COLUMN claimed_by text;
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
