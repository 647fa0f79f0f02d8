-- Dispatch-centre integration (issue 8): per-region CAD settings, the CAD
-- messages acted on, and the webhook delivery cursors (see the SQLite
-- backend's 0003_integration for the meaning of each table).

CREATE TABLE region_integrations (
    region_id  uuid PRIMARY KEY REFERENCES regions(id),
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE cad_messages (
    region_id   uuid NOT NULL REFERENCES regions(id),
    key         text NOT NULL,
    incident_id uuid NOT NULL REFERENCES incidents(id),
    kind        text NOT NULL,           -- alert | update | cancel | eido
    source_at   timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (region_id, key)
);
CREATE INDEX cad_messages_incident ON cad_messages(incident_id);

-- last_pos is a mission_events.pos (the global commit order).
CREATE TABLE webhook_cursors (
    region_id       uuid PRIMARY KEY REFERENCES regions(id),
    last_pos        bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text,
    delivered       bigint NOT NULL DEFAULT 0,
    skipped         bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL
);
