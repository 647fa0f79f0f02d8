//! The OutboxStore area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl OutboxStore for PgStore {
    async fn enqueue(&self, items: &[NewOutbox]) -> Result<()> {
        let c = self.conn().await?;
        insert_outbox(&*c, items, Utc::now()).await
    }

    async fn outbox_due(&self, now: DateTime<Utc>, limit_n: u32) -> Result<Vec<OutboxItem>> {
        collect(
            self.rows(
                &format!(
                    "SELECT {OUTBOX_COLS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
                     AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $2"
                ),
                &[&now, &limit(limit_n)],
            )
            .await?,
            outbox_row,
        )
    }

    async fn outbox_claim(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit_n: u32,
        hold: chrono::Duration,
    ) -> Result<Vec<OutboxItem>> {
        // SKIP LOCKED: nodes claiming at once take different items.
        let until = now + hold;
        let mut items = collect(
            self.rows(
                &format!(
                    "UPDATE outbox SET claimed_by = $3, claimed_until = $4 WHERE id IN (
                         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
                         AND (claimed_until IS NULL OR claimed_until <= $1)
                         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                     RETURNING {OUTBOX_COLS}"
                ),
                &[&now, &limit(limit_n), &holder, &until],
            )
            .await?,
            outbox_row,
        )?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.exec(
            "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = $1",
            &[&id, &at],
        )
        .await?;
        Ok(())
    }

    async fn outbox_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, claimed_until = NULL WHERE id = $1",
            &[&id, &next_at, &error],
        )
        .await?;
        Ok(())
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        self.exec("UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = $2, claimed_until = NULL WHERE id = $1", &[&id, &error])
            .await?;
        Ok(())
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let r = self.one("SELECT MIN(GREATEST(next_attempt_at, claimed_until)) FROM outbox WHERE status = 'pending'", &[]).await?;
        get(&r, 0)
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        let r = self
            .one(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
                        count(*) FILTER (WHERE status = 'dead') FROM outbox",
                &[],
            )
            .await?;
        Ok(OutboxStats {
            pending: u64_col(&r, 0)?,
            sent: u64_col(&r, 1)?,
            dead: u64_col(&r, 2)?,
        })
    }

    async fn outbox_sent_keys(&self, incident: IncidentId) -> Result<Vec<String>> {
        let rows = self.rows("SELECT dedupe_key FROM outbox WHERE incident_id = $1 AND status = 'sent' ORDER BY id", &[&incident.0]).await?;
        collect(rows, |r| get(r, 0))
    }
}
