-- firstlink schema, version 1. Times are RFC 3339 text in UTC unless the
-- column name ends in _unix. Ids are UUID text.

CREATE TABLE regions (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    country     TEXT NOT NULL,
    policy      TEXT NOT NULL,           -- DispatchPolicy as JSON
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,        -- the public key id, part of the key
    region_id   TEXT NOT NULL REFERENCES regions(id),
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,           -- argon2 PHC string of the secret
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,         -- argon2 PHC string
    role          TEXT NOT NULL,         -- dispatcher | operator | admin
    regions       TEXT NOT NULL,         -- JSON array of region ids
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,        -- SHA-256 of a 256-bit random token
    kind        TEXT NOT NULL,           -- operator | volunteer
    subject     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX sessions_subject ON sessions(subject);

CREATE TABLE volunteers (
    id             TEXT PRIMARY KEY,
    region_id      TEXT NOT NULL REFERENCES regions(id),
    name           TEXT NOT NULL,
    phone          TEXT,
    email          TEXT,
    password_hash  TEXT NOT NULL,
    language       TEXT NOT NULL,
    languages      TEXT NOT NULL,        -- JSON array
    birth_date     TEXT NOT NULL,
    tier           TEXT NOT NULL,
    training_kind  TEXT,
    training_date  TEXT,
    consent_at     TEXT,
    verified_at    TEXT,
    suspended_at   TEXT,
    available      INTEGER NOT NULL,
    quiet_start    INTEGER,
    quiet_end      INTEGER,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX volunteers_phone ON volunteers(region_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX volunteers_email ON volunteers(region_id, email) WHERE email IS NOT NULL;

CREATE TABLE verification_codes (
    volunteer_id TEXT PRIMARY KEY REFERENCES volunteers(id) ON DELETE CASCADE,
    code_hash    TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);

-- Only the latest position of each volunteer is kept.
CREATE TABLE positions (
    volunteer_id TEXT PRIMARY KEY REFERENCES volunteers(id) ON DELETE CASCADE,
    lat          REAL NOT NULL,
    lon          REAL NOT NULL,
    at_unix      INTEGER NOT NULL
);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    volunteer_id  TEXT NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
    recipient     TEXT NOT NULL,         -- channel and address as JSON
    created_at    TEXT NOT NULL
);
CREATE INDEX devices_volunteer ON devices(volunteer_id);

CREATE TABLE aeds (
    id            TEXT PRIMARY KEY,
    region_id     TEXT NOT NULL REFERENCES regions(id),
    name          TEXT NOT NULL,
    lat           REAL NOT NULL,
    lon           REAL NOT NULL,
    access        TEXT NOT NULL,
    opening_hours TEXT,
    readiness     TEXT NOT NULL,
    status        TEXT NOT NULL,
    details       TEXT NOT NULL,         -- the rest of the record as JSON (restricted fields included)
    updated_at    TEXT NOT NULL
);
CREATE INDEX aeds_region ON aeds(region_id);

CREATE TABLE incidents (
    id            TEXT PRIMARY KEY,
    region_id     TEXT NOT NULL REFERENCES regions(id),
    external_id   TEXT NOT NULL,
    status        TEXT NOT NULL,
    state         TEXT NOT NULL,         -- the Mission as JSON
    next_deadline TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (region_id, external_id)
);
CREATE INDEX incidents_live ON incidents(status) WHERE status = 'active';

-- One row per volunteer and mission, mirrored from the mission state for look-ups.
CREATE TABLE alerts (
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    volunteer_id TEXT NOT NULL,
    state        TEXT NOT NULL,
    alerted_at   TEXT NOT NULL,
    PRIMARY KEY (incident_id, volunteer_id)
);
CREATE INDEX alerts_volunteer ON alerts(volunteer_id, alerted_at);

CREATE TABLE mission_events (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL,           -- JSON
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE aed_claims (
    aed_id       TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL,
    volunteer_id TEXT NOT NULL,
    claimed_at   TEXT NOT NULL
);

-- The durable outbox: a notification is recorded here, in the same
-- transaction as the state change that causes it, before it is sent.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT NOT NULL UNIQUE,
    volunteer_id    TEXT,
    incident_id     TEXT,
    recipient       TEXT,                -- JSON; NULL = resolve the volunteer's devices when sending
    message         TEXT NOT NULL,       -- JSON
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,       -- pending | sent | dead
    last_error      TEXT,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';

CREATE TABLE surveys (
    incident_id  TEXT NOT NULL,
    volunteer_id TEXT NOT NULL,
    answers      TEXT NOT NULL,
    at           TEXT NOT NULL,
    PRIMARY KEY (incident_id, volunteer_id)
);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    region_id  TEXT,
    target     TEXT,
    details    TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
