-- firstlink schema for PostgreSQL, version 1: the tables of the SQLite
-- backend's 0001_init with native types (uuid, timestamptz, jsonb, date,
-- double precision, bigint, arrays). Constraint names are stable: the
-- backend maps unique violations to domain conflicts by name.

CREATE TABLE regions (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL CONSTRAINT regions_slug_key UNIQUE,
    name        text NOT NULL,
    timezone    text NOT NULL,
    country     text NOT NULL,
    policy      jsonb NOT NULL,          -- DispatchPolicy
    created_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          text CONSTRAINT api_keys_pkey PRIMARY KEY,
    region_id   uuid NOT NULL REFERENCES regions(id),
    name        text NOT NULL,
    hash        text NOT NULL,           -- argon2 PHC string of the secret
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_region ON api_keys(region_id);

CREATE TABLE operators (
    id            uuid PRIMARY KEY,
    username      text NOT NULL CONSTRAINT operators_username_key UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL,         -- dispatcher | operator | admin
    regions       uuid[] NOT NULL,
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);

CREATE TABLE sessions (
    token_hash  text PRIMARY KEY,
    kind        text NOT NULL,           -- operator | volunteer
    subject     uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_subject ON sessions(subject);

CREATE TABLE volunteers (
    id             uuid PRIMARY KEY,
    region_id      uuid NOT NULL REFERENCES regions(id),
    name           text NOT NULL,
    phone          text,
    email          text,
    password_hash  text NOT NULL,
    language       text NOT NULL,
    languages      text[] NOT NULL,
    birth_date     date NOT NULL,
    tier           text NOT NULL,
    training_kind  text,
    training_date  date,
    consent_at     timestamptz,
    verified_at    timestamptz,
    suspended_at   timestamptz,
    available      boolean NOT NULL,
    quiet_start    integer,
    quiet_end      integer,
    created_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX volunteers_phone ON volunteers(region_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX volunteers_email ON volunteers(region_id, email) WHERE email IS NOT NULL;

CREATE TABLE verification_codes (
    volunteer_id uuid PRIMARY KEY REFERENCES volunteers(id) ON DELETE CASCADE,
    code_hash    text NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0
);

-- Only the latest position of each volunteer is kept.
CREATE TABLE positions (
    volunteer_id uuid PRIMARY KEY REFERENCES volunteers(id) ON DELETE CASCADE,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    at_unix      bigint NOT NULL
);
CREATE INDEX positions_at ON positions(at_unix);

CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    volunteer_id  uuid NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
    recipient     jsonb NOT NULL,        -- channel and address
    created_at    timestamptz NOT NULL
);
CREATE INDEX devices_volunteer ON devices(volunteer_id);

CREATE TABLE aeds (
    id            uuid PRIMARY KEY,
    region_id     uuid NOT NULL REFERENCES regions(id),
    name          text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    access        text NOT NULL,
    opening_hours text,
    readiness     text NOT NULL,
    status        text NOT NULL,
    details       jsonb NOT NULL,        -- the rest of the record (restricted fields included)
    updated_at    timestamptz NOT NULL
);
CREATE INDEX aeds_region ON aeds(region_id);

CREATE TABLE incidents (
    id            uuid PRIMARY KEY,
    region_id     uuid NOT NULL REFERENCES regions(id),
    external_id   text NOT NULL,
    status        text NOT NULL,
    state         jsonb NOT NULL,        -- the Mission
    next_deadline timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT incidents_region_external_key UNIQUE (region_id, external_id)
);
CREATE INDEX incidents_live ON incidents(created_at) WHERE status = 'active';
CREATE INDEX incidents_region ON incidents(region_id, created_at);

-- One row per volunteer and mission, mirrored from the mission state for look-ups.
CREATE TABLE alerts (
    incident_id  uuid NOT NULL REFERENCES incidents(id),
    volunteer_id uuid NOT NULL,
    state        text NOT NULL,
    alerted_at   timestamptz NOT NULL,
    PRIMARY KEY (incident_id, volunteer_id)
);
CREATE INDEX alerts_volunteer ON alerts(volunteer_id, alerted_at);

-- `pos` is the global commit order of mission events: it is taken from
-- `event_log_counter` (a single row, locked until commit), so a higher
-- position is never visible before a lower one, whichever node commits.
CREATE TABLE mission_events (
    incident_id uuid NOT NULL REFERENCES incidents(id),
    seq         bigint NOT NULL,
    pos         bigint NOT NULL UNIQUE,
    at          timestamptz NOT NULL,
    event       jsonb NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE event_log_counter (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pos      bigint NOT NULL
);
INSERT INTO event_log_counter (only_row, pos) VALUES (true, 0);

CREATE TABLE aed_claims (
    aed_id       uuid CONSTRAINT aed_claims_pkey PRIMARY KEY,
    incident_id  uuid NOT NULL,
    volunteer_id uuid NOT NULL,
    claimed_at   timestamptz NOT NULL
);

-- The durable outbox: a notification is recorded here, in the same
-- transaction as the state change that causes it, before it is sent.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key      text NOT NULL CONSTRAINT outbox_dedupe_key UNIQUE,
    volunteer_id    uuid,
    incident_id     uuid,
    recipient       jsonb,               -- NULL = resolve the volunteer's devices when sending
    message         jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    status          text NOT NULL,       -- pending | sent | dead
    last_error      text,
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox(next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox(incident_id) WHERE incident_id IS NOT NULL;

CREATE TABLE surveys (
    incident_id  uuid NOT NULL,
    volunteer_id uuid NOT NULL,
    answers      jsonb NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (incident_id, volunteer_id)
);

CREATE TABLE audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    region_id  uuid,
    target     text,
    details    jsonb NOT NULL
);
CREATE INDEX audit_region ON audit(region_id, id);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
