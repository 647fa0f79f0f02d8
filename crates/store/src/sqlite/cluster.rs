//! The Cluster area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Cluster for SqliteStore {
    async fn acquire_leases(
        &self,
        holder: &str,
        names: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<Lease>> {
        let (holder, names) = (holder.to_string(), names.to_vec());
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| StoreError::Backend("lease time out of range".into()))?;
        self.write(move |c| {
            let now = Utc::now();
            let mut up = c
                .prepare_cached(
                    "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT (name) DO UPDATE SET
                         epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
                         holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4
                     RETURNING name, epoch",
                )
                .map_err(backend)?;
            let mut held = Vec::new();
            for n in &names {
                if let Some(l) = up
                    .query_row(params![n, holder, ts(now + ttl), ts(now)], |r| Ok(Lease { name: r.get(0)?, epoch: r.get(1)? }))
                    .optional()
                    .map_err(backend)?
                {
                    held.push(l);
                }
            }
            Ok(held)
        })
        .await
    }

    async fn release_leases(&self, holder: &str, names: &[String]) -> Result<()> {
        let (holder, names) = (holder.to_string(), names.to_vec());
        self.write(move |c| {
            for n in &names {
                c.execute(
                    "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                    params![n, holder],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>> {
        // From the newest change now: whoever subscribes loads the state
        // afterwards, so nothing committed meanwhile is missed (a change
        // applied twice is harmless).
        let mut after: i64 = self
            .read(|c| {
                c.query_row("SELECT COALESCE(MAX(id), 0) FROM changes", [], |r| r.get(0))
                    .map_err(backend)
            })
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4_096);
        let readers = Arc::clone(&self.readers);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TAIL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                let r = Arc::clone(&readers);
                let read = tokio::task::spawn_blocking(move || {
                    let c = r[0].lock().map_err(|_| StoreError::Closed)?;
                    read_changes(&c, after)
                })
                .await;
                let batch = match read {
                    Ok(Ok(Tail::Changes(b))) => b,
                    Ok(Ok(Tail::Gap(max))) => {
                        tracing::warn!("the change feed fell behind its pruning; reloading");
                        after = max;
                        vec![(max, Change::Resync)]
                    }
                    Ok(Err(StoreError::Closed)) => return,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not read the change feed; retrying");
                        continue;
                    }
                    Err(_) => return,
                };
                for (id, ch) in batch {
                    after = after.max(id);
                    if tx.send(ch).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    async fn announce(&self, changes: &[Change]) -> Result<()> {
        let rows: Vec<(&'static str, String)> = changes.iter().filter_map(change_row).collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            for (kind, key) in &rows {
                c.execute(
                    "INSERT INTO changes (kind, key) VALUES (?1, ?2)",
                    params![kind, key],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}
