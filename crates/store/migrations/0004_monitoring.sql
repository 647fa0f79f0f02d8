-- AED readiness monitoring (issue 6): monitoring units, service tickets,
-- readiness history and downsampled telemetry. Records are JSON documents
-- (schema: crates/store/src/monitoring.rs) with the columns queries need.

CREATE TABLE monitor_units (
    id                TEXT PRIMARY KEY,
    region_id         TEXT NOT NULL REFERENCES regions(id),
    aed_id            TEXT,
    lorawan_device_id TEXT UNIQUE,
    data              TEXT NOT NULL,
    -- The rule engine's state (last values, timers, active causes), checkpointed.
    state             TEXT,
    state_at          TEXT
);

CREATE TABLE service_tickets (
    id        TEXT PRIMARY KEY,
    region_id TEXT NOT NULL REFERENCES regions(id),
    aed_id    TEXT NOT NULL,
    cause     TEXT NOT NULL,
    open      INTEGER NOT NULL,          -- 1 until resolved
    opened_at TEXT NOT NULL,
    data      TEXT NOT NULL
);
-- One unresolved ticket per AED and cause.
CREATE UNIQUE INDEX service_tickets_one_open ON service_tickets(aed_id, cause) WHERE open = 1;
CREATE INDEX service_tickets_region ON service_tickets(region_id, opened_at);

CREATE TABLE readiness_history (
    id        INTEGER PRIMARY KEY,
    aed_id    TEXT NOT NULL,
    at        TEXT NOT NULL,
    readiness TEXT NOT NULL,
    causes    TEXT NOT NULL
);
CREATE INDEX readiness_history_aed ON readiness_history(aed_id, id);

CREATE TABLE telemetry_buckets (
    unit_id TEXT NOT NULL,
    start   TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (unit_id, start)
);
