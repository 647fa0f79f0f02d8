-- Several nodes on one database (issue 9). The embedded backend serves one
-- node, but keeps the same rules so the storage suite runs unchanged.

-- Optimistic concurrency for mission steps (the fencing token).
ALTER TABLE incidents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- A volunteer is busy with at most one live mission.
CREATE TABLE volunteer_busy (
    volunteer_id TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL,
    since        TEXT NOT NULL
);
CREATE INDEX volunteer_busy_incident ON volunteer_busy(incident_id);

-- Time-limited leases (mission timers, singleton jobs).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);

-- Outbox items are claimed by one worker at a time.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
