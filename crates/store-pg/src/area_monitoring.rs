//! The Monitoring area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Monitoring for PgStore {
    async fn save_unit(&self, u: &MonitorUnit) -> Result<()> {
        self.exec_announced(
            "INSERT INTO monitor_units (id, region_id, aed_id, lorawan_device_id, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET region_id = excluded.region_id, aed_id = excluded.aed_id,
             lorawan_device_id = excluded.lorawan_device_id, data = excluded.data",
            &[&u.id, &u.region_id.0, &u.aed_id.map(|a| a.0), &u.lorawan.as_ref().map(|l| l.device_id.as_str()), &to_json(u)?],
            &[Change::Unit(u.id)],
        )
        .await?;
        Ok(())
    }

    async fn units(&self) -> Result<Vec<MonitorUnit>> {
        collect(
            self.rows("SELECT data FROM monitor_units ORDER BY id", &[])
                .await?,
            |r| json_col(r, 0),
        )
    }

    async fn save_unit_states(
        &self,
        states: &[(Uuid, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = states.iter().map(|s| s.0).collect();
        let vals: Vec<&serde_json::Value> = states.iter().map(|s| &s.1).collect();
        self.exec(
            "UPDATE monitor_units u SET state = v.state, state_at = $3
             FROM unnest($1::uuid[], $2::jsonb[]) AS v(id, state) WHERE u.id = v.id",
            &[&ids, &vals, &at],
        )
        .await?;
        Ok(())
    }

    async fn unit_states(&self) -> Result<Vec<(Uuid, serde_json::Value)>> {
        collect(
            self.rows(
                "SELECT id, state FROM monitor_units WHERE state IS NOT NULL",
                &[],
            )
            .await?,
            |r| Ok((get(r, 0)?, get(r, 1)?)),
        )
    }

    async fn commit_monitor(&self, w: &MonitorWrite) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        if let Some(r) = &w.readiness {
            tx.execute(
                "UPDATE aeds SET readiness = $2, updated_at = $3 WHERE id = $1",
                &[&r.aed_id.0, &enum_str(&r.readiness), &r.at],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO readiness_history (aed_id, at, readiness, causes) VALUES ($1, $2, $3, $4)",
                &[&r.aed_id.0, &r.at, &enum_str(&r.readiness), &to_json(&r.causes)?],
            )
            .await
            .map_err(backend)?;
        }
        if let Some((id, st)) = &w.unit_state {
            tx.execute(
                "UPDATE monitor_units SET state = $2, state_at = $3 WHERE id = $1",
                &[id, st, &w.at],
            )
            .await
            .map_err(backend)?;
        }
        for t in &w.tickets {
            tx.execute(
                "INSERT INTO service_tickets (id, region_id, aed_id, cause, open, opened_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET open = excluded.open, data = excluded.data",
                &[&t.id, &t.region_id.0, &t.aed_id.0, &t.cause, &(t.state != TicketState::Resolved), &t.opened_at, &to_json(t)?],
            )
            .await
            .map_err(backend)?;
        }
        insert_outbox(&tx, &w.outbox, w.at).await?;
        if let Some(r) = &w.readiness {
            changes::announce(&tx, &self.origin, &[Change::Aed(r.aed_id)]).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn tickets(
        &self,
        region: Option<RegionId>,
        aed: Option<AedId>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<Ticket>> {
        let rows = self
            .rows(
                "SELECT data FROM service_tickets WHERE ($1::uuid IS NULL OR region_id = $1) AND ($2::uuid IS NULL OR aed_id = $2)
                 AND (NOT $3 OR open) ORDER BY opened_at DESC, id LIMIT $4",
                &[&region.map(|r| r.0), &aed.map(|a| a.0), &open_only, &self::limit(limit)],
            )
            .await?;
        collect(rows, |r| json_col(r, 0))
    }

    async fn ticket(&self, id: Uuid) -> Result<Option<Ticket>> {
        self.opt("SELECT data FROM service_tickets WHERE id = $1", &[&id])
            .await?
            .as_ref()
            .map(|r| json_col(r, 0))
            .transpose()
    }

    async fn readiness_history(&self, aed: AedId, limit: u32) -> Result<Vec<ReadinessRecord>> {
        let rows = self
            .rows("SELECT aed_id, at, readiness, causes FROM readiness_history WHERE aed_id = $1 ORDER BY id DESC LIMIT $2", &[&aed.0, &self::limit(limit)])
            .await?;
        collect(rows, |r| {
            Ok(ReadinessRecord {
                aed_id: AedId(get(r, 0)?),
                at: get(r, 1)?,
                readiness: enum_col(r, 2)?,
                causes: json_col(r, 3)?,
            })
        })
    }

    async fn save_telemetry(&self, buckets: &[TelemetryBucket]) -> Result<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let units: Vec<Uuid> = buckets.iter().map(|b| b.unit_id).collect();
        let starts: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.start).collect();
        let data = buckets.iter().map(to_json).collect::<Result<Vec<_>>>()?;
        self.exec(
            "INSERT INTO telemetry_buckets (unit_id, start, data) SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::jsonb[])
             ON CONFLICT (unit_id, start) DO UPDATE SET data = excluded.data",
            &[&units, &starts, &data],
        )
        .await?;
        Ok(())
    }

    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64> {
        self.exec("DELETE FROM telemetry_buckets WHERE start < $1", &[&before])
            .await
    }

    async fn telemetry(
        &self,
        unit: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryBucket>> {
        let rows = self
            .rows("SELECT data FROM telemetry_buckets WHERE unit_id = $1 AND start >= $2 ORDER BY start LIMIT $3", &[&unit, &since, &self::limit(limit)])
            .await?;
        collect(rows, |r| json_col(r, 0))
    }
}
