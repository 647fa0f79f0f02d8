//! The one path by which a write reaches the in-memory views.
//!
//! The views (the volunteer index, the AED registry, regions and their
//! partitions, pedestrian graphs, cached credentials, monitoring units) are
//! copies of the database. Every write they mirror is described by a
//! [`Change`], and [`apply`] is the only function that brings them up to
//! date, whoever wrote:
//!
//! - this process: the writing handler calls [`apply`] right after the store
//!   answered, so its caller reads its own write;
//! - another process on the same SQLite file (`firstlink admin …`,
//!   `aeds import`, `devices provision`, `routing build`): the store lists
//!   the write in its `changes` table in the same transaction, and
//!   [`follow`] tails it (within a fraction of a second);
//! - another node on PostgreSQL: LISTEN/NOTIFY, announced in the writing
//!   transaction, arrives through the same [`follow`].
//!
//! A change names what changed; [`apply`] re-reads the current row (positions
//! excepted, which carry their value and are ordered by their fix time), so
//! applying a change twice or late ends in the state of a cold load. A feed
//! that broke or fell behind reports [`Change::Resync`]: everything is read
//! again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::AlertState;
use firstlink_store::{Change, StoreError};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::app::App;
use crate::auth::Principal;
use crate::partition::{self, Partition};

/// Follows the store's change feed until the store closes it.
pub fn follow(app: &Arc<App>, mut feed: mpsc::Receiver<Change>) {
    let a = Arc::clone(app);
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while feed.recv_many(&mut batch, 1_024).await > 0 {
            apply(&a, std::mem::take(&mut batch)).await;
        }
    });
}

/// Brings every view up to date with `changes` (in commit order).
///
/// Positions carry their value and are ordered by their fix time, so they
/// are applied at once; every other change re-reads its row under
/// `App::applying`. Without that lock a feed batch that read a row just
/// before a handler's commit could write it back just after the handler's
/// own apply — a rotated unit key accepted for another moment, say.
pub async fn apply(app: &Arc<App>, changes: Vec<Change>) {
    let t = Instant::now();
    let _serial = if changes
        .iter()
        .all(|c| matches!(c, Change::Positions(_) | Change::PositionDeleted(_)))
    {
        None
    } else {
        Some(app.applying.lock().await)
    };
    let mut aeds = Vec::new();
    let mut missions = Vec::new();
    let mut resync = false;
    let mut monitoring = false;
    // Every change in the batch is committed already, so the first read of a
    // volunteer (or of the regions) sees all of the batch's changes to it.
    let mut volunteers_read = HashSet::new();
    let mut regions_read = false;
    for c in changes {
        if is_region_change(&c) {
            if !regions_read {
                regions_read = true;
                if let Err(e) = reload_regions(app).await {
                    tracing::warn!(error = %e, "could not reload regions");
                    resync = true;
                }
            }
            continue;
        }
        match c {
            Change::Positions(fixes) => {
                let unknown: Vec<_> = {
                    let mut idx = app.index_mut();
                    fixes
                        .into_iter()
                        .filter(|f| {
                            !idx.set_position(f.volunteer, f.position, f.at_unix)
                                && idx.position(f.volunteer).is_none()
                        })
                        .collect()
                };
                // A volunteer whose own change has not arrived yet (created by
                // another process a moment ago): read them now, so the fix is
                // not lost.
                for f in unknown {
                    if let Ok(Some(v)) = app.store.volunteer(f.volunteer).await {
                        app.index_volunteer(&v);
                        app.index_mut()
                            .set_position(f.volunteer, f.position, f.at_unix);
                    }
                }
            }
            Change::PositionDeleted(v) => {
                app.index_mut().clear_position(v);
            }
            Change::Volunteer(v) if !volunteers_read.insert(v) => {}
            Change::Volunteer(v) => match app.store.volunteer(v).await {
                Ok(Some(v)) => app.index_volunteer(&v),
                Ok(None) => app.forget_volunteer(v),
                Err(e) => {
                    tracing::warn!(volunteer.id = %v, error = %e, "could not load a changed volunteer");
                    resync = true;
                }
            },
            Change::Aed(a) => aeds.push(a),
            Change::Setting(k) => monitoring |= k.starts_with("monitor."),
            Change::Region(_) => {}
            Change::Mission(m) => {
                if !missions.contains(&m) {
                    missions.push(m);
                }
            }
            Change::ApiKey(id) => app
                .tokens
                .forget(|p| matches!(p, Principal::Dispatch { key_id, .. } if *key_id == id)),
            Change::Operator(id) => app
                .tokens
                .forget(|p| matches!(p, Principal::Operator { id: o, .. } if *o == id)),
            Change::Unit(_) => monitoring = true,
            Change::Graph(r) => reload_graph(app, r).await,
            Change::Resync => resync = true,
        }
    }
    if resync {
        if let Err(e) = reload_all(app).await {
            tracing::error!(error = %e, "could not reload the shared state");
        }
        return;
    }
    if let Err(e) = reload_aeds(app, &aeds).await {
        tracing::warn!(error = %e, "could not reload changed AEDs");
    }
    if monitoring
        && monitoring_here(app)
        && let Err(e) = app.monitor.refresh_shared(app).await
    {
        tracing::warn!(error = %e, "could not re-read monitoring units, rules and routing");
    }
    // Missions are independent of each other: refresh several at once.
    futures_util::stream::iter(missions)
        .for_each_concurrent(16, |m: IncidentId| async move {
            if let Err(e) = app.missions.refresh(app, m).await {
                tracing::warn!(incident.id = %m, error = %e, "could not refresh a mission changed elsewhere");
            }
        })
        .await;
    app.metrics.cluster_apply(t.elapsed());
}

/// Whether this node runs monitoring (and so keeps units in memory).
fn monitoring_here(app: &App) -> bool {
    app.config.monitor.enabled && app.is_ready()
}

fn is_region_change(c: &Change) -> bool {
    match c {
        Change::Region(_) => true,
        Change::Setting(k) => k.starts_with(partition::PREFIX),
        _ => false,
    }
}

/// A region's stored partition settings (none stored: no boundary, no neighbours).
pub async fn stored_partition(app: &App, region: RegionId) -> anyhow::Result<Partition> {
    Ok(
        match app.store.setting(&partition::setting_key(region)).await? {
            Some(s) => serde_json::from_str(&s).unwrap_or_else(|e| {
                tracing::warn!(region.id = %region, error = %e, "stored partition settings unreadable; none used");
                Partition::default()
            }),
            None => Partition::default(),
        },
    )
}

pub(crate) async fn reload_regions(app: &Arc<App>) -> anyhow::Result<()> {
    for r in app.store.regions().await? {
        let new = app.region(r.id).is_none();
        if new && let Err(e) = app.load_graph(&r) {
            // A broken graph file of a new region must not keep the region away.
            tracing::error!(region = %r.slug, error = %e, "could not load the new region's graph; straight-line distances");
        }
        let p = stored_partition(app, r.id).await?;
        app.put_region(r, p)?;
    }
    Ok(())
}

async fn reload_graph(app: &Arc<App>, region: RegionId) {
    let Some(r) = app.region(region) else {
        tracing::warn!(region.id = %region, "graph announced for an unknown region");
        return;
    };
    if let Err(e) = app.load_graph(&r.region) {
        tracing::error!(region = %r.region.slug, error = %e, "could not load the rebuilt graph; keeping the previous one");
    }
}

/// Re-reads changed AEDs (all of them after a large import).
async fn reload_aeds(app: &Arc<App>, ids: &[AedId]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let records = if ids.len() > 256 {
        app.store.aeds(None).await?
    } else {
        let mut v = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = app.store.aed(*id).await? {
                v.push(a);
            }
        }
        v
    };
    // Where monitoring runs, its in-memory decision is the newest readiness
    // (dispatch learns it before the commit): a re-read row must not roll
    // it back.
    let monitored: HashSet<AedId> = if monitoring_here(app) {
        app.monitor
            .units(None)
            .into_iter()
            .filter(|u| u.revoked_at.is_none())
            .filter_map(|u| u.aed_id)
            .collect()
    } else {
        HashSet::new()
    };
    let mut reg = app.aeds_mut();
    for mut a in records {
        let Some(rt) = app.region(a.region_id) else {
            continue;
        };
        if monitored.contains(&a.id)
            && let Some(cur) = reg.get(a.id)
        {
            a.readiness = cur.readiness;
        }
        let (id, out) = (a.id, a.details.out_for_return);
        reg.upsert(a, rt.tz, &rt.region.country);
        match out {
            Some(o) => reg.set_out(
                id,
                crate::aeds::OutForReturn {
                    incident: o.incident,
                    volunteer: o.volunteer,
                    since: o.since,
                },
            ),
            None => {
                reg.returned(id);
            }
        }
    }
    Ok(())
}

/// Everything again, after the feed was interrupted.
async fn reload_all(app: &Arc<App>) -> anyhow::Result<()> {
    tracing::info!("reloading shared state after an interruption of the change feed");
    reload_regions(app).await?;
    for v in app.store.volunteers(None, None, u32::MAX).await? {
        app.index_volunteer(&v);
    }
    let fixes = app.store.positions().await?;
    {
        let mut idx = app.index_mut();
        for f in fixes {
            idx.set_position(f.volunteer, f.position, f.at_unix);
        }
    }
    let ids: Vec<_> = app
        .store
        .aeds(None)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect();
    reload_aeds(app, &ids).await?;
    app.tokens.forget(|_| true);
    if monitoring_here(app) {
        app.monitor.refresh_shared(app).await?;
    }
    if !app.cluster.shared() {
        return Ok(());
    }
    let mut live: HashSet<IncidentId> = app.missions.live_ids().into_iter().collect();
    for sm in app.store.live_missions().await? {
        live.insert(sm.mission.id);
    }
    for id in live {
        app.missions.refresh(app, id).await?;
    }
    let busy: HashSet<VolunteerId> = app
        .store
        .busy()
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let live = app.missions.live().await;
    let mut idx = app.index_mut();
    for (_, m) in live {
        for a in &m.alerts {
            let mine = a.state == AlertState::Alerted || a.state.responding();
            idx.set_busy(a.volunteer, mine && busy.contains(&a.volunteer));
        }
    }
    Ok(())
}
