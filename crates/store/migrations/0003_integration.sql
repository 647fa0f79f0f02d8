-- Dispatch-centre integration (issue 8): per-region CAD settings, the CAD
-- messages acted on, and the webhook delivery cursors.

-- One JSON document per region (CAP/EIDO mappings, signature policy, the
-- status webhook); its schema belongs to the server (api/cad.rs).
CREATE TABLE region_integrations (
    region_id  TEXT PRIMARY KEY REFERENCES regions(id),
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every CAP / EIDO message that changed (or created) an incident, under its
-- idempotency key: CAP "<sender>|<identifier>", EIDO "eido|<$id>". CAP
-- Update/Cancel find their incident through the keys they reference; a
-- repeated message is answered from here without acting twice.
CREATE TABLE cad_messages (
    region_id   TEXT NOT NULL REFERENCES regions(id),
    key         TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    kind        TEXT NOT NULL,           -- alert | update | cancel | eido
    source_at   TEXT NOT NULL,           -- CAP sent / EIDO lastUpdateTimeStamp
    received_at TEXT NOT NULL,
    PRIMARY KEY (region_id, key)
);
CREATE INDEX cad_messages_incident ON cad_messages(incident_id);

-- One delivery cursor per region's status webhook: the position (rowid of
-- mission_events, a durable global commit order) of the last event the
-- receiver acknowledged or that was given up on.
CREATE TABLE webhook_cursors (
    region_id       TEXT PRIMARY KEY REFERENCES regions(id),
    last_pos        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL
);
