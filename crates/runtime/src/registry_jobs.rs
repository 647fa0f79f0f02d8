//! Background work for the AED registry: fetch-and-return tracking,
//! follow-up of AEDs not returned in time, and keeping the opening-hours
//! timelines of the days ahead ready.
//!
//! [`spawn`] is started by [`crate::launch`].

use std::sync::Arc;

use chrono::Duration;
use firstlink_domain::mission::{EventKind, Progress};

use crate::app::App;

/// How long an AED may stay out before operators are told.
pub const RETURN_TIMEOUT_HOURS: i64 = 24;

/// Follows mission events: an AED its responder collected stays unavailable
/// after the mission until it is confirmed returned. Checks overdue returns
/// every ten minutes and records them in the audit log for operators.
pub fn spawn(app: &Arc<App>) {
    let mut rx = app.bus.subscribe();
    let a = Arc::clone(app);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let EventKind::Progress {
                        volunteer,
                        progress: Progress::AedCollected,
                    } = ev.event.kind
                    {
                        let mut reg = a.aeds_mut();
                        if let Some(aed) = reg.claim_of(ev.incident, volunteer) {
                            reg.mark_collected(aed, ev.incident);
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "registry job lagged behind mission events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let a = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            // Opening-hours timelines for the days ahead, so dispatch never builds one
            // while a patient waits (cheap when they still cover the next two days).
            let t = std::time::Instant::now();
            a.aeds().warm(a.now());
            tracing::debug!(
                ms = t.elapsed().as_millis() as u64,
                "AED opening hours warmed"
            );
            if !a.cluster.is_leader() {
                continue;
            }
            let overdue = a
                .aeds()
                .overdue_returns(a.now(), Duration::hours(RETURN_TIMEOUT_HOURS));
            for (aed, out) in overdue {
                let region = a.aeds().get(aed).map(|x| x.region_id);
                tracing::warn!(aed.id = %aed, incident.id = %out.incident, "AED not confirmed returned");
                let e = firstlink_store::AuditEntry {
                    at: a.now(),
                    actor: "system".into(),
                    action: "aed.return_overdue".into(),
                    region_id: region,
                    target: Some(aed.to_string()),
                    details: serde_json::json!({ "incident": out.incident, "volunteer": out.volunteer, "since": out.since }),
                };
                if let Err(err) = a.store.audit(&e).await {
                    tracing::error!(error = %err, "could not write the audit log");
                }
            }
        }
    });
}
