//! The Missions area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Missions for SqliteStore {
    async fn claims(&self) -> Result<Vec<Claim>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT aed_id, incident_id, volunteer_id FROM aed_claims")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(Claim {
                        aed: AedId(uuid_col(r, 0)?),
                        incident: IncidentId(uuid_col(r, 1)?),
                        volunteer: VolunteerId(uuid_col(r, 2)?),
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn create_incident(&self, step: &MissionStep) -> Result<Created> {
        let step = step.clone();
        self.write(move |c| {
            let m = &step.mission;
            let existing: Option<String> = c
                .query_row(
                    "SELECT id FROM incidents WHERE region_id = ?1 AND external_id = ?2",
                    params![step.region_id.to_string(), m.incident.external_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(id) = existing {
                let id = id.parse().map_err(|_| StoreError::Corrupt("incident id".into()))?;
                return Ok(Created::Existing(id));
            }
            c.execute(
                "INSERT INTO incidents (id, region_id, external_id, status, state, next_deadline, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    m.id.to_string(),
                    step.region_id.to_string(),
                    m.incident.external_id,
                    status_str(m.status),
                    json(m),
                    m.next_deadline().map(ts),
                    ts(step.at)
                ],
            )
            .map_err(backend)?;
            write_step_parts(c, &step)?;
            Ok(Created::New)
        })
        .await
    }

    async fn commit_step(&self, step: &MissionStep) -> Result<()> {
        let step = step.clone();
        self.write(move |c| {
            let m = &step.mission;
            let n = c
                .execute(
                    "UPDATE incidents SET status = ?2, state = ?3, next_deadline = ?4, updated_at = ?5, version = version + 1
                     WHERE id = ?1 AND version = ?6",
                    params![m.id.to_string(), status_str(m.status), json(m), m.next_deadline().map(ts), ts(step.at), step.base_version],
                )
                .map_err(backend)?;
            if n == 0 {
                let exists = c.query_row("SELECT 1 FROM incidents WHERE id = ?1", [m.id.to_string()], |_| Ok(())).optional().map_err(backend)?;
                return Err(if exists.is_some() { StoreError::Stale } else { StoreError::NotFound });
            }
            write_step_parts(c, &step)
        })
        .await
    }

    async fn mission(&self, id: IncidentId) -> Result<Option<StoredMission>> {
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, state, updated_at, version FROM incidents WHERE id = ?1",
                [id.to_string()],
                mission_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn live_missions(&self) -> Result<Vec<StoredMission>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT region_id, state, updated_at, version FROM incidents WHERE status = 'active' ORDER BY created_at")
                .map_err(backend)?;
            let rows = s.query_map([], mission_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn missions(
        &self,
        region: RegionId,
        live_only: bool,
        limit: u32,
    ) -> Result<Vec<StoredMission>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT region_id, state, updated_at, version FROM incidents WHERE region_id = ?1 AND (?2 = 0 OR status = 'active')
                     ORDER BY created_at DESC LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![region.to_string(), live_only, limit], mission_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn events(&self, id: IncidentId, after_seq: u64) -> Result<Vec<(u64, Event)>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT seq, event FROM mission_events WHERE incident_id = ?1 AND seq > ?2 ORDER BY seq")
                .map_err(backend)?;
            let rows = s
                .query_map(params![id.to_string(), after_seq], |r| Ok((r.get(0)?, from_json(&r.get::<_, String>(1)?)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn alerts_of(&self, volunteer: VolunteerId, limit: u32) -> Result<Vec<IncidentId>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT incident_id FROM alerts WHERE volunteer_id = ?1 ORDER BY alerted_at DESC LIMIT ?2")
                .map_err(backend)?;
            let rows = s.query_map(params![volunteer.to_string(), limit], |r| Ok(IncidentId(uuid_col(r, 0)?))).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_survey(
        &self,
        incident: IncidentId,
        volunteer: VolunteerId,
        answers: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let a = answers.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO surveys (incident_id, volunteer_id, answers, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET answers = excluded.answers, at = excluded.at",
                params![incident.to_string(), volunteer.to_string(), a, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn integration(&self, region: RegionId) -> Result<Option<serde_json::Value>> {
        self.read(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT settings FROM region_integrations WHERE region_id = ?1",
                    [region.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            s.map(|s| from_json(&s)).transpose().map_err(backend)
        })
        .await
    }

    async fn set_integration(
        &self,
        region: RegionId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let v = settings.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO region_integrations (region_id, settings, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                params![region.to_string(), v, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn integrations(&self) -> Result<Vec<(RegionId, serde_json::Value)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT region_id, settings FROM region_integrations ORDER BY region_id")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((
                        RegionId(uuid_col(r, 0)?),
                        from_json(&r.get::<_, String>(1)?)?,
                    ))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn incident_by_external_id(
        &self,
        region: RegionId,
        external_id: &str,
    ) -> Result<Option<IncidentId>> {
        let e = external_id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id FROM incidents WHERE region_id = ?1 AND external_id = ?2",
                params![region.to_string(), e],
                |r| Ok(IncidentId(uuid_col(r, 0)?)),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn cad_message(&self, region: RegionId, key: &str) -> Result<Option<CadMessage>> {
        let k = key.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, key, incident_id, kind, source_at, received_at FROM cad_messages WHERE region_id = ?1 AND key = ?2",
                params![region.to_string(), k],
                |r| {
                    Ok(CadMessage {
                        region_id: RegionId(uuid_col(r, 0)?),
                        key: r.get(1)?,
                        incident: IncidentId(uuid_col(r, 2)?),
                        kind: r.get(3)?,
                        source_at: parse_ts(&r.get::<_, String>(4)?)?,
                        received_at: parse_ts(&r.get::<_, String>(5)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn record_cad_message(&self, m: &CadMessage) -> Result<()> {
        let m = m.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO cad_messages (region_id, key, incident_id, kind, source_at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (region_id, key) DO UPDATE SET incident_id = excluded.incident_id, kind = excluded.kind,
                   source_at = excluded.source_at, received_at = excluded.received_at",
                params![m.region_id.to_string(), m.key, m.incident.to_string(), m.kind, ts(m.source_at), ts(m.received_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn cad_latest(&self, incident: IncidentId) -> Result<Option<DateTime<Utc>>> {
        self.read(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT MAX(source_at) FROM cad_messages WHERE incident_id = ?1",
                    [incident.to_string()],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            opt_ts(s).map_err(backend)
        })
        .await
    }

    async fn event_log(
        &self,
        region: RegionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>> {
        self.read(move |c| {
            // mission_events is a rowid table written only by the single writer
            // thread and never deleted from: its rowid is the commit order.
            let mut s = c
                .prepare(
                    "SELECT e.rowid, i.region_id, e.incident_id, e.seq, e.event FROM mission_events e
                     JOIN incidents i ON i.id = e.incident_id
                     WHERE e.rowid > ?1 AND i.region_id = ?2 ORDER BY e.rowid LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![after, region.to_string(), limit], |r| {
                    Ok(LoggedEvent {
                        pos: r.get(0)?,
                        region_id: RegionId(uuid_col(r, 1)?),
                        incident: IncidentId(uuid_col(r, 2)?),
                        seq: r.get(3)?,
                        event: from_json(&r.get::<_, String>(4)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn event_log_head(&self) -> Result<i64> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(rowid), 0) FROM mission_events",
                [],
                |r| r.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn webhook_cursor(&self, region: RegionId) -> Result<Option<WebhookCursor>> {
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at
                 FROM webhook_cursors WHERE region_id = ?1",
                [region.to_string()],
                |r| {
                    Ok(WebhookCursor {
                        region_id: RegionId(uuid_col(r, 0)?),
                        last_pos: r.get(1)?,
                        attempts: r.get(2)?,
                        next_attempt_at: opt_ts(r.get(3)?)?,
                        last_error: r.get(4)?,
                        delivered: r.get(5)?,
                        skipped: r.get(6)?,
                        updated_at: parse_ts(&r.get::<_, String>(7)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn save_webhook_cursor(&self, w: &WebhookCursor) -> Result<()> {
        let w = w.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO webhook_cursors (region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (region_id) DO UPDATE SET last_pos = excluded.last_pos, attempts = excluded.attempts,
                   next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,
                   delivered = excluded.delivered, skipped = excluded.skipped, updated_at = excluded.updated_at",
                params![
                    w.region_id.to_string(),
                    w.last_pos,
                    w.attempts,
                    w.next_attempt_at.map(ts),
                    w.last_error,
                    w.delivered,
                    w.skipped,
                    ts(w.updated_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn live_mission_ids(&self) -> Result<Vec<IncidentId>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id FROM incidents WHERE status = 'active'")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| Ok(IncidentId(uuid_col(r, 0)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn busy(&self) -> Result<Vec<(VolunteerId, IncidentId)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT volunteer_id, incident_id FROM volunteer_busy ORDER BY since")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((VolunteerId(uuid_col(r, 0)?), IncidentId(uuid_col(r, 1)?)))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}
