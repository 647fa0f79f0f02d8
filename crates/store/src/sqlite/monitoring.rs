//! The Monitoring area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Monitoring for SqliteStore {
    async fn save_unit(&self, u: &MonitorUnit) -> Result<()> {
        let u = u.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO monitor_units (id, region_id, aed_id, lorawan_device_id, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET region_id = excluded.region_id, aed_id = excluded.aed_id,
                 lorawan_device_id = excluded.lorawan_device_id, data = excluded.data",
                params![
                    u.id.to_string(),
                    u.region_id.to_string(),
                    u.aed_id.map(|a| a.to_string()),
                    u.lorawan.as_ref().map(|l| l.device_id.clone()),
                    json(&u)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn units(&self) -> Result<Vec<MonitorUnit>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT data FROM monitor_units ORDER BY id")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| from_json(&r.get::<_, String>(0)?))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_unit_states(
        &self,
        states: &[(Uuid, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let states = states.to_vec();
        self.write(move |c| {
            let mut up = c
                .prepare_cached("UPDATE monitor_units SET state = ?2, state_at = ?3 WHERE id = ?1")
                .map_err(backend)?;
            for (id, st) in &states {
                up.execute(params![id.to_string(), st.to_string(), ts(at)])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn unit_states(&self) -> Result<Vec<(Uuid, serde_json::Value)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, state FROM monitor_units WHERE state IS NOT NULL")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((uuid_col(r, 0)?, from_json(&r.get::<_, String>(1)?)?))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn commit_monitor(&self, w: &MonitorWrite) -> Result<()> {
        let w = w.clone();
        self.write(move |c| {
            if let Some(r) = &w.readiness {
                c.execute(
                    "UPDATE aeds SET readiness = ?2, updated_at = ?3 WHERE id = ?1",
                    params![r.aed_id.to_string(), enum_str(&r.readiness), ts(r.at)],
                )
                .map_err(backend)?;
                c.execute(
                    "INSERT INTO readiness_history (aed_id, at, readiness, causes) VALUES (?1, ?2, ?3, ?4)",
                    params![r.aed_id.to_string(), ts(r.at), enum_str(&r.readiness), json(&r.causes)],
                )
                .map_err(backend)?;
            }
            if let Some((id, st)) = &w.unit_state {
                c.execute("UPDATE monitor_units SET state = ?2, state_at = ?3 WHERE id = ?1", params![id.to_string(), st.to_string(), ts(w.at)])
                    .map_err(backend)?;
            }
            let mut up = c
                .prepare_cached(
                    "INSERT INTO service_tickets (id, region_id, aed_id, cause, open, opened_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET open = excluded.open, data = excluded.data",
                )
                .map_err(backend)?;
            for t in &w.tickets {
                up.execute(params![
                    t.id.to_string(),
                    t.region_id.to_string(),
                    t.aed_id.to_string(),
                    t.cause,
                    t.state != TicketState::Resolved,
                    ts(t.opened_at),
                    json(t)
                ])
                .map_err(backend)?;
            }
            insert_outbox(c, &w.outbox, w.at)
        })
        .await
    }

    async fn tickets(
        &self,
        region: Option<RegionId>,
        aed: Option<AedId>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<Ticket>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT data FROM service_tickets WHERE (?1 IS NULL OR region_id = ?1) AND (?2 IS NULL OR aed_id = ?2)
                     AND (?3 = 0 OR open = 1) ORDER BY opened_at DESC, id LIMIT ?4",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![region.map(|r| r.to_string()), aed.map(|a| a.to_string()), open_only, limit], |r| {
                    from_json(&r.get::<_, String>(0)?)
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn ticket(&self, id: Uuid) -> Result<Option<Ticket>> {
        self.read(move |c| {
            c.query_row(
                "SELECT data FROM service_tickets WHERE id = ?1",
                [id.to_string()],
                |r| from_json(&r.get::<_, String>(0)?),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn readiness_history(&self, aed: AedId, limit: u32) -> Result<Vec<ReadinessRecord>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT at, readiness, causes FROM readiness_history WHERE aed_id = ?1 ORDER BY id DESC LIMIT ?2")
                .map_err(backend)?;
            let rows = s
                .query_map(params![aed.to_string(), limit], |r| {
                    Ok(ReadinessRecord {
                        aed_id: aed,
                        at: parse_ts(&r.get::<_, String>(0)?)?,
                        readiness: str_enum(&r.get::<_, String>(1)?)?,
                        causes: from_json(&r.get::<_, String>(2)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_telemetry(&self, buckets: &[TelemetryBucket]) -> Result<()> {
        let buckets = buckets.to_vec();
        self.write(move |c| {
            let mut up = c
                .prepare_cached(
                    "INSERT INTO telemetry_buckets (unit_id, start, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (unit_id, start) DO UPDATE SET data = excluded.data",
                )
                .map_err(backend)?;
            for b in &buckets {
                up.execute(params![b.unit_id.to_string(), ts(b.start), json(b)])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM telemetry_buckets WHERE start < ?1",
                [ts(before)],
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }

    async fn telemetry(
        &self,
        unit: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryBucket>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT data FROM telemetry_buckets WHERE unit_id = ?1 AND start >= ?2 ORDER BY start LIMIT ?3")
                .map_err(backend)?;
            let rows = s.query_map(params![unit.to_string(), ts(since), limit], |r| from_json(&r.get::<_, String>(0)?)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}
