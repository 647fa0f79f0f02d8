-- AED readiness monitoring (issue 6); mirrors the SQLite migration of the same name.

CREATE TABLE monitor_units (
    id                uuid PRIMARY KEY,
    region_id         uuid NOT NULL REFERENCES regions(id),
    aed_id            uuid,
    lorawan_device_id text UNIQUE,
    data              jsonb NOT NULL,
    state             jsonb,
    state_at          timestamptz
);

CREATE TABLE service_tickets (
    id        uuid PRIMARY KEY,
    region_id uuid NOT NULL REFERENCES regions(id),
    aed_id    uuid NOT NULL,
    cause     text NOT NULL,
    open      boolean NOT NULL,
    opened_at timestamptz NOT NULL,
    data      jsonb NOT NULL
);
CREATE UNIQUE INDEX service_tickets_one_open ON service_tickets(aed_id, cause) WHERE open;
CREATE INDEX service_tickets_region ON service_tickets(region_id, opened_at);

CREATE TABLE readiness_history (
    id        bigserial PRIMARY KEY,
    aed_id    uuid NOT NULL,
    at        timestamptz NOT NULL,
    readiness text NOT NULL,
    causes    jsonb NOT NULL
);
CREATE INDEX readiness_history_aed ON readiness_history(aed_id, id);

CREATE TABLE telemetry_buckets (
    unit_id uuid NOT NULL,
    start   timestamptz NOT NULL,
    data    jsonb NOT NULL,
    PRIMARY KEY (unit_id, start)
);
