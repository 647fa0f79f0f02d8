//! Several `firstlink serve` nodes on one PostgreSQL database.
//!
//! There is no cluster protocol of our own: the database is the shared state
//! and the coordinator.
//!
//! - **What changed elsewhere** arrives through the store's change feed
//!   (`Store::changes`, LISTEN/NOTIFY in the same transaction as the write)
//!   and is applied to this node's in-memory indexes: positions, volunteers,
//!   AEDs (readiness included), regions and missions. When the feed was
//!   interrupted, everything is reloaded.
//! - **Leases** (`Store::acquire_leases`, expiry by the database's clock):
//!   each live mission's timers are driven by the node holding
//!   `mission:<id>` — at first the node that took the call; `job:leader`
//!   runs the jobs that must run once (retention, owner reminders, webhook
//!   delivery, fetch-and-return reminders). Every node renews what it holds
//!   and tries to take over what has expired, every `lease_seconds / 4`.
//!   A node stops driving a lease it could not renew before it expires.
//! - **Fencing**: a mission step commits only on the version it was computed
//!   from, so a node that lost its lease (paused, partitioned) and wakes up
//!   cannot overwrite newer state; a volunteer or AED is taken by one mission
//!   in the database, whatever the nodes' indexes say.
//! - **The outbox** is claimed per item (`FOR UPDATE SKIP LOCKED`), so each
//!   notification is sent by one node; a node that dies mid-send lets its
//!   hold run out and another node sends it.
//!
//! With the embedded SQLite store there is one node: it holds every lease
//! without asking and nothing arrives on a feed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firstlink_domain::ids::{IncidentId, VolunteerId};
use firstlink_store::{Change, StoreError};
use tokio::sync::mpsc;

use crate::app::App;

const LEADER: &str = "job:leader";

fn mission_lease(id: IncidentId) -> String {
    format!("mission:{id}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Cluster {
    /// This node's name in leases and outbox claims.
    pub node: String,
    shared: AtomicBool,
    leases: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Until when this node may act on each lease it holds (its own clock,
    /// measured from before the renewal was asked, minus a margin).
    until: HashMap<String, Instant>,
}

impl Cluster {
    pub fn new(node: String) -> Self {
        Self {
            node,
            shared: AtomicBool::new(false),
            leases: Mutex::new(Held::default()),
        }
    }

    /// Whether other nodes may share the store.
    pub fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    fn holds(&self, name: &str) -> bool {
        !self.shared()
            || lock(&self.leases)
                .until
                .get(name)
                .is_some_and(|t| Instant::now() < *t)
    }

    /// Whether this node runs the jobs that must run once.
    pub fn is_leader(&self) -> bool {
        self.holds(LEADER)
    }

    /// Whether this node drives the mission's timers.
    pub fn drives(&self, id: IncidentId) -> bool {
        self.holds(&mission_lease(id))
    }

    fn lease_ttl(app: &App) -> Duration {
        Duration::from_secs(u64::from(app.config.cluster.lease_seconds.max(2)))
    }

    /// Takes and records leases; returns the names held afterwards.
    async fn acquire(&self, app: &App, names: &[String]) -> Result<HashSet<String>, StoreError> {
        let ttl = Self::lease_ttl(app);
        let asked = Instant::now();
        let held = app.store.acquire_leases(&self.node, names, ttl).await?;
        // Act on a lease for at most 3/4 of its time, counted from before asking.
        let until = asked + ttl * 3 / 4;
        let names: HashSet<String> = held.into_iter().map(|l| l.name).collect();
        let mut h = lock(&self.leases);
        for n in &names {
            h.until.insert(n.clone(), until);
        }
        Ok(names)
    }

    /// The node that took a call drives its mission (best effort: if the
    /// database is unreachable now, the lease loop takes it shortly).
    pub async fn lead_mission(&self, app: &App, id: IncidentId) {
        if !self.shared() {
            return;
        }
        if let Err(e) = self.acquire(app, &[mission_lease(id)]).await {
            tracing::warn!(incident.id = %id, error = %e, "could not take the new mission's lease yet");
        }
    }

    /// A mission ended on this node: its lease is not needed any more.
    pub async fn mission_ended(&self, app: &App, id: IncidentId) {
        if !self.shared() {
            return;
        }
        let name = mission_lease(id);
        lock(&self.leases).until.remove(&name);
        if let Err(e) = app.store.release_leases(&self.node, &[name]).await {
            tracing::debug!(incident.id = %id, error = %e, "could not release an ended mission's lease; it expires");
        }
    }
}

/// The node id from the configuration, or the host name and listen port.
pub fn node_id(config: &crate::Config) -> String {
    if let Some(id) = config
        .cluster
        .node_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return id.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".into());
    match config
        .listen
        .rsplit(':')
        .next()
        .filter(|p| *p != "0" && !p.is_empty())
    {
        Some(port) => format!("{host}:{port}"),
        // A port picked at start says nothing stable: unique, but not kept across restarts.
        None => format!("{host}:{}", uuid::Uuid::new_v4().simple()),
    }
}

/// Subscribes to the store's change feed, before anything is loaded so that
/// nothing committed meanwhile is missed; notes whether other nodes share
/// the store.
pub async fn subscribe(app: &Arc<App>) -> anyhow::Result<Option<mpsc::Receiver<Change>>> {
    let feed = app.store.changes().await?;
    let shared = app.store.shared();
    app.cluster.shared.store(shared, Ordering::Relaxed);
    if shared {
        tracing::info!(node = %app.cluster.node, "sharing the database with other nodes");
    }
    Ok(feed)
}

/// Starts applying the feed and, with other nodes, keeping leases (after the
/// state is loaded).
pub fn spawn(app: &Arc<App>, feed: Option<mpsc::Receiver<Change>>) {
    let Some(feed) = feed else { return };
    crate::changes::follow(app, feed);
    if !app.cluster.shared() {
        return;
    }
    let a = Arc::clone(app);
    tokio::spawn(async move {
        let every = Cluster::lease_ttl(&a) / 4;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = keep_leases(&a).await {
                tracing::warn!(error = %e, "could not renew leases");
            }
        }
    });
}

/// Renews what this node holds and takes over what has expired.
async fn keep_leases(app: &Arc<App>) -> Result<(), StoreError> {
    let c = &app.cluster;
    // Also the live missions this node has not heard of yet (its feed may lag).
    let mut live = app.missions.live_ids();
    let known: HashSet<IncidentId> = live.iter().copied().collect();
    live.extend(
        app.store
            .live_mission_ids()
            .await?
            .into_iter()
            .filter(|id| !known.contains(id)),
    );
    let mut names: Vec<String> = live.iter().map(|id| mission_lease(*id)).collect();
    names.push(LEADER.into());
    let before: HashSet<String> = lock(&c.leases)
        .until
        .iter()
        .filter(|(_, t)| Instant::now() < **t)
        .map(|(n, _)| n.clone())
        .collect();
    let held = c.acquire(app, &names).await?;
    {
        let mut h = lock(&c.leases);
        h.until.retain(|n, _| held.contains(n));
    }
    // Missions this node drove that ended through another node: let their leases go.
    let ended: Vec<String> = before
        .iter()
        .filter(|n| n.starts_with("mission:") && !names.contains(*n))
        .cloned()
        .collect();
    if !ended.is_empty() {
        app.store.release_leases(&c.node, &ended).await?;
    }
    if held.contains(LEADER) && !before.contains(LEADER) {
        tracing::info!(node = %c.node, "this node now runs the singleton jobs");
    }
    for id in live {
        let name = mission_lease(id);
        if held.contains(&name) && !before.contains(&name) {
            tracing::info!(incident.id = %id, node = %c.node, "driving this mission's timers");
            // In the background: taking over many missions must not delay the next renewal.
            let a = Arc::clone(app);
            tokio::spawn(async move { a.missions.rearm(&a, id).await });
        }
    }
    Ok(())
}

/// Makes this node's busy flags and AED claims for `incident` match the database.
pub async fn sync_mission_reservations(
    app: &App,
    incident: IncidentId,
    volunteers: &[VolunteerId],
) -> Result<(), StoreError> {
    if !app.cluster.shared() {
        return Ok(());
    }
    let busy: HashSet<VolunteerId> = app
        .store
        .busy()
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let claims: Vec<_> = app
        .store
        .claims()
        .await?
        .into_iter()
        .filter(|c| c.incident == incident)
        .collect();
    {
        let mut idx = app.index_mut();
        for v in volunteers {
            idx.set_busy(*v, busy.contains(v));
        }
    }
    let mut reg = app.aeds_mut();
    for (aed, _) in reg.claims_of(incident) {
        if !claims.iter().any(|c| c.aed == aed) {
            reg.release(aed, incident);
        }
    }
    for c in claims {
        reg.claim(c.aed, c.incident, c.volunteer);
    }
    Ok(())
}

/// After losing a race for a volunteer or an AED: every busy flag and claim
/// from the database, so the next plan avoids what other nodes took.
pub async fn refresh_reservations(app: &App) -> Result<(), StoreError> {
    let busy = app.store.busy().await?;
    let claims = app.store.claims().await?;
    {
        let mut idx = app.index_mut();
        for (v, _) in &busy {
            idx.set_busy(*v, true);
        }
    }
    let mut reg = app.aeds_mut();
    for c in claims {
        if reg.claimed_by(c.aed).is_none() {
            reg.claim(c.aed, c.incident, c.volunteer);
        }
    }
    Ok(())
}
