//! The Missions area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Missions for PgStore {
    async fn claims(&self) -> Result<Vec<Claim>> {
        let rows = self
            .rows(
                "SELECT aed_id, incident_id, volunteer_id FROM aed_claims",
                &[],
            )
            .await?;
        collect(rows, |r| {
            Ok(Claim {
                aed: AedId(get(r, 0)?),
                incident: IncidentId(get(r, 1)?),
                volunteer: VolunteerId(get(r, 2)?),
            })
        })
    }

    async fn create_incident(&self, step: &MissionStep) -> Result<Created> {
        let m = &step.mission;
        let state = to_json(m)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Another node may create the same incident at the same moment: the
        // unique (region, external id) decides, the loser reads the winner's id.
        let inserted = tx
            .query_opt(
                "INSERT INTO incidents (id, region_id, external_id, status, state, next_deadline, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (region_id, external_id) DO NOTHING RETURNING id",
                &[&m.id.0, &step.region_id.0, &m.incident.external_id, &enum_str(&m.status), &state, &m.next_deadline(), &step.at],
            )
            .await
            .map_err(backend)?;
        if inserted.is_none() {
            let row = tx
                .query_opt(
                    "SELECT id FROM incidents WHERE region_id = $1 AND external_id = $2",
                    &[&step.region_id.0, &m.incident.external_id],
                )
                .await
                .map_err(backend)?
                .ok_or_else(|| StoreError::Backend("incident conflict without a row".into()))?;
            return Ok(Created::Existing(IncidentId(get(&row, 0)?)));
        }
        write_step_parts(&tx, step).await?;
        changes::announce(&tx, &self.origin, &[Change::Mission(m.id)]).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Created::New)
    }

    async fn commit_step(&self, step: &MissionStep) -> Result<()> {
        let m = &step.mission;
        let state = to_json(m)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let n = tx
            .execute(
                "UPDATE incidents SET status = $2, state = $3, next_deadline = $4, updated_at = $5, version = version + 1
                 WHERE id = $1 AND version = $6",
                &[&m.id.0, &enum_str(&m.status), &state, &m.next_deadline(), &step.at, &to_i64(step.base_version)?],
            )
            .await
            .map_err(backend)?;
        if n == 0 {
            let exists = tx
                .query_opt("SELECT 1 FROM incidents WHERE id = $1", &[&m.id.0])
                .await
                .map_err(backend)?;
            return Err(if exists.is_some() {
                StoreError::Stale
            } else {
                StoreError::NotFound
            });
        }
        write_step_parts(&tx, step).await?;
        changes::announce(&tx, &self.origin, &[Change::Mission(m.id)]).await?;
        tx.commit().await.map_err(backend)
    }

    async fn mission(&self, id: IncidentId) -> Result<Option<StoredMission>> {
        self.opt(
            "SELECT region_id, state, updated_at, version FROM incidents WHERE id = $1",
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(mission_row)
        .transpose()
    }

    async fn live_missions(&self) -> Result<Vec<StoredMission>> {
        collect(
            self.rows("SELECT region_id, state, updated_at, version FROM incidents WHERE status = 'active' ORDER BY created_at, id", &[]).await?,
            mission_row,
        )
    }

    async fn missions(
        &self,
        region: RegionId,
        live_only: bool,
        limit_n: u32,
    ) -> Result<Vec<StoredMission>> {
        collect(
            self.rows(
                "SELECT region_id, state, updated_at, version FROM incidents WHERE region_id = $1 AND (NOT $2 OR status = 'active')
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                &[&region.0, &live_only, &limit(limit_n)],
            )
            .await?,
            mission_row,
        )
    }

    async fn events(&self, id: IncidentId, after_seq: u64) -> Result<Vec<(u64, Event)>> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let rows = self.rows("SELECT seq, event FROM mission_events WHERE incident_id = $1 AND seq > $2 ORDER BY seq", &[&id.0, &after]).await?;
        collect(rows, |r| Ok((u64_col(r, 0)?, json_col(r, 1)?)))
    }

    async fn alerts_of(&self, volunteer: VolunteerId, limit_n: u32) -> Result<Vec<IncidentId>> {
        let rows = self
            .rows(
                "SELECT incident_id FROM alerts WHERE volunteer_id = $1 ORDER BY alerted_at DESC LIMIT $2",
                &[&volunteer.0, &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| Ok(IncidentId(get(r, 0)?)))
    }

    async fn save_survey(
        &self,
        incident: IncidentId,
        volunteer: VolunteerId,
        answers: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO surveys (incident_id, volunteer_id, answers, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET answers = excluded.answers, at = excluded.at",
            &[&incident.0, &volunteer.0, answers, &at],
        )
        .await?;
        Ok(())
    }

    async fn integration(&self, region: RegionId) -> Result<Option<serde_json::Value>> {
        self.opt(
            "SELECT settings FROM region_integrations WHERE region_id = $1",
            &[&region.0],
        )
        .await?
        .map(|r| get(&r, 0))
        .transpose()
    }

    async fn set_integration(
        &self,
        region: RegionId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO region_integrations (region_id, settings, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (region_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            &[&region.0, settings, &at],
        )
        .await?;
        Ok(())
    }

    async fn integrations(&self) -> Result<Vec<(RegionId, serde_json::Value)>> {
        let rows = self
            .rows(
                "SELECT region_id, settings FROM region_integrations ORDER BY region_id",
                &[],
            )
            .await?;
        collect(rows, |r| Ok((RegionId(get(r, 0)?), get(r, 1)?)))
    }

    async fn incident_by_external_id(
        &self,
        region: RegionId,
        external_id: &str,
    ) -> Result<Option<IncidentId>> {
        self.opt(
            "SELECT id FROM incidents WHERE region_id = $1 AND external_id = $2",
            &[&region.0, &external_id],
        )
        .await?
        .map(|r| Ok(IncidentId(get(&r, 0)?)))
        .transpose()
    }

    async fn cad_message(&self, region: RegionId, key: &str) -> Result<Option<CadMessage>> {
        self.opt(
            "SELECT region_id, key, incident_id, kind, source_at, received_at FROM cad_messages WHERE region_id = $1 AND key = $2",
            &[&region.0, &key],
        )
        .await?
        .as_ref()
        .map(cad_row)
        .transpose()
    }

    async fn record_cad_message(&self, m: &CadMessage) -> Result<()> {
        self.exec(
            "INSERT INTO cad_messages (region_id, key, incident_id, kind, source_at, received_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (region_id, key) DO UPDATE SET incident_id = excluded.incident_id, kind = excluded.kind,
               source_at = excluded.source_at, received_at = excluded.received_at",
            &[&m.region_id.0, &m.key, &m.incident.0, &m.kind, &m.source_at, &m.received_at],
        )
        .await?;
        Ok(())
    }

    async fn cad_latest(&self, incident: IncidentId) -> Result<Option<DateTime<Utc>>> {
        let r = self
            .one(
                "SELECT MAX(source_at) FROM cad_messages WHERE incident_id = $1",
                &[&incident.0],
            )
            .await?;
        get(&r, 0)
    }

    async fn event_log(
        &self,
        region: RegionId,
        after: i64,
        limit_n: u32,
    ) -> Result<Vec<LoggedEvent>> {
        let rows = self
            .rows(
                "SELECT e.pos, i.region_id, e.incident_id, e.seq, e.event FROM mission_events e
                 JOIN incidents i ON i.id = e.incident_id
                 WHERE e.pos > $1 AND i.region_id = $2 ORDER BY e.pos LIMIT $3",
                &[&after, &region.0, &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| {
            Ok(LoggedEvent {
                pos: get(r, 0)?,
                region_id: RegionId(get(r, 1)?),
                incident: IncidentId(get(r, 2)?),
                seq: u64_col(r, 3)?,
                event: json_col(r, 4)?,
            })
        })
    }

    async fn event_log_head(&self) -> Result<i64> {
        let r = self
            .one(
                "SELECT COALESCE(MAX(pos), 0)::int8 FROM mission_events",
                &[],
            )
            .await?;
        get(&r, 0)
    }

    async fn webhook_cursor(&self, region: RegionId) -> Result<Option<WebhookCursor>> {
        self.opt(
            "SELECT region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at
             FROM webhook_cursors WHERE region_id = $1",
            &[&region.0],
        )
        .await?
        .as_ref()
        .map(cursor_row)
        .transpose()
    }

    async fn save_webhook_cursor(&self, w: &WebhookCursor) -> Result<()> {
        let attempts = i32::try_from(w.attempts)
            .map_err(|_| StoreError::Backend("attempts out of range".into()))?;
        self.exec(
            "INSERT INTO webhook_cursors (region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (region_id) DO UPDATE SET last_pos = excluded.last_pos, attempts = excluded.attempts,
               next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,
               delivered = excluded.delivered, skipped = excluded.skipped, updated_at = excluded.updated_at",
            &[&w.region_id.0, &w.last_pos, &attempts, &w.next_attempt_at, &w.last_error, &to_i64(w.delivered)?, &to_i64(w.skipped)?, &w.updated_at],
        )
        .await?;
        Ok(())
    }

    async fn live_mission_ids(&self) -> Result<Vec<IncidentId>> {
        let rows = self
            .rows("SELECT id FROM incidents WHERE status = 'active'", &[])
            .await?;
        collect(rows, |r| Ok(IncidentId(get(r, 0)?)))
    }

    async fn busy(&self) -> Result<Vec<(VolunteerId, IncidentId)>> {
        let rows = self
            .rows(
                "SELECT volunteer_id, incident_id FROM volunteer_busy ORDER BY since",
                &[],
            )
            .await?;
        collect(rows, |r| {
            Ok((VolunteerId(get(r, 0)?), IncidentId(get(r, 1)?)))
        })
    }
}
