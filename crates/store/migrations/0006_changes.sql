-- The change feed of the embedded store: every write that a running server
-- mirrors in memory leaves a row here in the same transaction, whoever wrote
-- it (the server itself, or `firstlink admin …` / `aeds import` / `devices
-- provision` against the same file). The server tails this table and applies
-- each change by re-reading the row it names. SQLite serialises writers, so
-- ids are in commit order. Positions and mission steps are not listed: only
-- the server writes them.
CREATE TABLE changes (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,   -- v volunteer, a AED, r region, k API key, o operator, u unit, s setting, g graph
    key   TEXT NOT NULL
);

-- Keep the last 10,000 changes at most; a reader that fell further behind
-- sees the gap and reloads everything.
CREATE TRIGGER changes_prune AFTER INSERT ON changes WHEN NEW.id % 1000 = 0
BEGIN DELETE FROM changes WHERE id <= NEW.id - 10000; END;

CREATE TRIGGER volunteers_ins AFTER INSERT ON volunteers BEGIN INSERT INTO changes (kind, key) VALUES ('v', NEW.id); END;
CREATE TRIGGER volunteers_upd AFTER UPDATE ON volunteers BEGIN INSERT INTO changes (kind, key) VALUES ('v', NEW.id); END;
CREATE TRIGGER volunteers_del AFTER DELETE ON volunteers BEGIN INSERT INTO changes (kind, key) VALUES ('v', OLD.id); END;

CREATE TRIGGER regions_ins AFTER INSERT ON regions BEGIN INSERT INTO changes (kind, key) VALUES ('r', NEW.id); END;
CREATE TRIGGER regions_upd AFTER UPDATE ON regions BEGIN INSERT INTO changes (kind, key) VALUES ('r', NEW.id); END;

CREATE TRIGGER api_keys_ins AFTER INSERT ON api_keys BEGIN INSERT INTO changes (kind, key) VALUES ('k', NEW.id); END;
CREATE TRIGGER api_keys_upd AFTER UPDATE ON api_keys BEGIN INSERT INTO changes (kind, key) VALUES ('k', NEW.id); END;

CREATE TRIGGER operators_ins AFTER INSERT ON operators BEGIN INSERT INTO changes (kind, key) VALUES ('o', NEW.id); END;
CREATE TRIGGER operators_upd AFTER UPDATE ON operators BEGIN INSERT INTO changes (kind, key) VALUES ('o', NEW.id); END;

CREATE TRIGGER aeds_ins AFTER INSERT ON aeds BEGIN INSERT INTO changes (kind, key) VALUES ('a', NEW.id); END;
CREATE TRIGGER aeds_upd AFTER UPDATE ON aeds BEGIN INSERT INTO changes (kind, key) VALUES ('a', NEW.id); END;
CREATE TRIGGER aeds_del AFTER DELETE ON aeds BEGIN INSERT INTO changes (kind, key) VALUES ('a', OLD.id); END;

-- Units: not the checkpointed rule state (`state`, `state_at`), which only
-- the monitoring runtime writes, every few minutes.
CREATE TRIGGER units_ins AFTER INSERT ON monitor_units BEGIN INSERT INTO changes (kind, key) VALUES ('u', NEW.id); END;
CREATE TRIGGER units_upd AFTER UPDATE OF region_id, aed_id, lorawan_device_id, data ON monitor_units
BEGIN INSERT INTO changes (kind, key) VALUES ('u', NEW.id); END;
CREATE TRIGGER units_del AFTER DELETE ON monitor_units BEGIN INSERT INTO changes (kind, key) VALUES ('u', OLD.id); END;

CREATE TRIGGER settings_ins AFTER INSERT ON settings BEGIN INSERT INTO changes (kind, key) VALUES ('s', NEW.key); END;
CREATE TRIGGER settings_upd AFTER UPDATE ON settings BEGIN INSERT INTO changes (kind, key) VALUES ('s', NEW.key); END;
