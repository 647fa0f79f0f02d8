//! The OutboxStore area of the SqliteStore backend.

use super::*;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue(&self, items: &[NewOutbox]) -> Result<()> {
        let items = items.to_vec();
        self.write(move |c| insert_outbox(c, &items, Utc::now()))
            .await
    }

    async fn outbox_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT id, dedupe_key, volunteer_id, incident_id, recipient, message, created_at, attempts FROM outbox
                     WHERE status = 'pending' AND next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1)
                     ORDER BY next_attempt_at, id LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![ts(now), limit], outbox_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn outbox_claim(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: u32,
        hold: chrono::Duration,
    ) -> Result<Vec<OutboxItem>> {
        let holder = holder.to_string();
        self.write(move |c| {
            let mut s = c
                .prepare_cached(
                    "UPDATE outbox SET claimed_by = ?3, claimed_until = ?4 WHERE id IN (
                         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1
                         AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?2)
                     RETURNING id, dedupe_key, volunteer_id, incident_id, recipient, message, created_at, attempts",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![ts(now), limit, holder, ts(now + hold)], outbox_row).map_err(backend)?;
            let mut items = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)?;
            items.sort_by_key(|i| i.id);
            Ok(items)
        })
        .await
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = ?1",
                params![id, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()> {
        let e = error.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3, claimed_until = NULL WHERE id = ?1",
                params![id, ts(next_at), e],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        let e = error.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?2, claimed_until = NULL WHERE id = ?1",
                params![id, e],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            let s: Option<String> = c
                .query_row("SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, ''))) FROM outbox WHERE status = 'pending'", [], |r| r.get(0))
                .map_err(backend)?;
            opt_ts(s).map_err(backend)
        })
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(status='pending'),0), COALESCE(SUM(status='sent'),0), COALESCE(SUM(status='dead'),0) FROM outbox",
                [],
                |r| Ok(OutboxStats { pending: r.get(0)?, sent: r.get(1)?, dead: r.get(2)? }),
            )
            .map_err(backend)
        })
        .await
    }

    async fn outbox_sent_keys(&self, incident: IncidentId) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT dedupe_key FROM outbox WHERE incident_id = ?1 AND status = 'sent' ORDER BY id")
                .map_err(backend)?;
            let rows = s.query_map([incident.to_string()], |r| r.get(0)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}
