//! Periodic work: delete positions past their retention, refresh who is
//! eligible (training validity changes with the date), expire sessions,
//! delete monitoring telemetry past its retention.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;

/// Runs one round now.
pub async fn run_once(app: &Arc<App>) -> anyhow::Result<usize> {
    let retention = i64::from(app.config.position_retention_hours) * 3600;
    let cutoff = (app.now().timestamp() - retention).max(0) as u32;
    if !app.cluster.is_leader() {
        // Another node deletes the stored ones; this one forgets its copies.
        app.index_mut().expire_before(cutoff);
        return Ok(0);
    }
    let purged = app.store.purge_positions(cutoff).await?;
    let n = purged.len();
    let gone = purged
        .into_iter()
        .map(firstlink_store::Change::PositionDeleted)
        .collect();
    crate::changes::apply(app, gone).await;
    app.index_mut().expire_before(cutoff);
    if n > 0 {
        tracing::info!(positions = n, "deleted positions past their retention");
    }
    let keep = chrono::Duration::days(i64::from(
        app.config.monitor.telemetry_retention_days.max(1),
    ));
    let buckets = app.store.purge_telemetry(app.now() - keep).await?;
    if buckets > 0 {
        tracing::info!(buckets, "deleted monitoring telemetry past its retention");
    }
    Ok(n)
}

pub fn spawn(app: &Arc<App>) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            if let Err(e) = run_once(&app).await {
                tracing::error!(error = %e, "housekeeping failed");
            }
            rounds += 1;
            if rounds.is_multiple_of(60) {
                match app.store.volunteers(None, None, u32::MAX).await {
                    Ok(vs) => vs.iter().for_each(|v| app.index_volunteer(v)),
                    Err(e) => tracing::error!(error = %e, "eligibility refresh failed"),
                }
            }
        }
    });
}
