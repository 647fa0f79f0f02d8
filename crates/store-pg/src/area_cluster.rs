//! The Cluster area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Cluster for PgStore {
    async fn acquire_leases(
        &self,
        holder: &str,
        names: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<Lease>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let ms = i64::try_from(ttl.as_millis())
            .map_err(|_| StoreError::Backend("lease time out of range".into()))?;
        // The database's clock decides expiry, so nodes' clocks need not agree.
        let rows = self
            .rows(
                "INSERT INTO leases (name, holder, epoch, expires_at)
                 SELECT n, $2, 1, clock_timestamp() + make_interval(secs => $3::float8 / 1000) FROM UNNEST($1::text[]) AS n
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
                     holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()
                 RETURNING name, epoch",
                &[&names, &holder, &(ms as f64)],
            )
            .await?;
        collect(rows, |r| {
            Ok(Lease {
                name: get(r, 0)?,
                epoch: u64_col(r, 1)?,
            })
        })
    }

    async fn release_leases(&self, holder: &str, names: &[String]) -> Result<()> {
        self.exec(
            "DELETE FROM leases WHERE name = ANY($1) AND holder = $2",
            &[&names, &holder],
        )
        .await?;
        Ok(())
    }

    async fn announce(&self, changes: &[Change]) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        changes::announce(&tx, &self.origin, changes).await?;
        tx.commit().await.map_err(backend)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>> {
        self.ensure_ready().await?;
        changes::listen(self.pool.config().clone(), self.origin.clone())
            .await
            .map(Some)
    }
}
