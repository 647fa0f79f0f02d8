//! The mission runtime: runs each input through the domain engine, makes the
//! result durable, then acts on it.
//!
//! Per mission, inputs are serialised by an async mutex. Planning (the engine
//! step plus reserving the AEDs and volunteers it picked) is serialised across
//! missions by one short lock, so two missions can never take the same AED or
//! alert the same volunteer. The new state, timeline events, outbox entries
//! and AED claims are committed in one transaction; only then is the new state
//! adopted, the events published and the outbox woken. If the commit fails,
//! the reservations are undone and the state is unchanged.
//!
//! Several nodes may share the database ([`crate::cluster`]): any node
//! applies inputs (a volunteer's answer lands wherever the load balancer
//! sends it), each step commits only on top of the version it was computed
//! from, and a node that finds the mission moved on reloads it and runs the
//! input again. The database also refuses a volunteer or an AED taken by
//! another node's mission, and the step is then planned again without them.
//! Timers fire only on the node holding the mission's lease.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use firstlink_domain::ids::{IncidentId, RegionId};
use firstlink_domain::incident::NewIncident;
use firstlink_domain::mission::{
    Effect, EventKind, Input, Mission, MissionCtx, MissionError, Note, Outcome,
};
use firstlink_store::{Created, MissionStep, NewOutbox, OutboxMessage, StoreError};
use serde_json::json;
use tokio::sync::Notify;

use crate::app::{App, BusEvent};

struct Live {
    region: RegionId,
    mission: Mission,
    seq: u64,
    /// The stored version `mission` is (see `MissionStep::base_version`).
    version: u64,
}

/// How often one input is planned again after losing a race to another node.
const ATTEMPTS: usize = 5;

#[derive(Default)]
struct Timers {
    set: BTreeSet<(DateTime<Utc>, IncidentId)>,
    at: HashMap<IncidentId, DateTime<Utc>>,
}

#[derive(Default)]
pub struct Missions {
    live: Mutex<HashMap<IncidentId, Arc<tokio::sync::Mutex<Live>>>>,
    timers: Mutex<Timers>,
    wake: Notify,
    plan: Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("no such incident")]
    NotFound,
    #[error(transparent)]
    Mission(#[from] MissionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the region of this incident is not configured")]
    NoRegion,
    #[error("the location lies outside region {region}'s boundary (more than {margin_m} m)")]
    OutsideRegion { region: String, margin_m: f64 },
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Missions {
    pub fn live_count(&self) -> usize {
        lock(&self.live).len()
    }

    /// Stores a new incident (idempotent on the region's external id) and
    /// starts alerting in the background. Returns `(id, created)`.
    pub async fn create(
        &self,
        app: &Arc<App>,
        region: RegionId,
        new: NewIncident,
    ) -> Result<(IncidentId, bool), InputError> {
        let rt = match app.region(region) {
            Some(rt) => rt,
            None => {
                // Created by another process a moment ago, and its change not
                // applied yet: read the regions now rather than refuse the call.
                crate::changes::apply(app, vec![firstlink_store::Change::Region(region)]).await;
                app.region(region).ok_or(InputError::NoRegion)?
            }
        };
        if !rt.partition.takes(new.location) {
            return Err(InputError::OutsideRegion {
                region: rt.region.slug.clone(),
                margin_m: rt.partition.margin_m(),
            });
        }
        let now = app.now();
        let id = IncidentId::new();
        let mission = Mission::new(id, new, rt.region.policy.clone(), now);
        let step = MissionStep {
            region_id: region,
            mission: mission.clone(),
            events: vec![],
            outbox: vec![],
            claims: vec![],
            releases: vec![],
            busy: vec![],
            free: vec![],
            base_version: 0,
            at: now,
        };
        match app.store.create_incident(&step).await? {
            Created::Existing(existing) => Ok((existing, false)),
            Created::New => {
                app.metrics.incident_received(&rt.region.slug);
                lock(&self.live).insert(
                    id,
                    Arc::new(tokio::sync::Mutex::new(Live {
                        region,
                        mission,
                        seq: 0,
                        version: 0,
                    })),
                );
                // The node that took the call drives the mission while it lives.
                app.cluster.lead_mission(app, id).await;
                self.spawn_start(app, id);
                Ok((id, true))
            }
        }
    }

    fn spawn_start(&self, app: &Arc<App>, id: IncidentId) {
        let app = Arc::clone(app);
        tokio::spawn(async move {
            if app.failpoint.as_deref() == Some("hold_after_incident_commit") {
                tracing::warn!(incident.id = %id, "failpoint: holding the incident before planning");
                return;
            }
            match app.missions.input(&app, id, Input::Start).await {
                Ok(_) | Err(InputError::Mission(MissionError::AlreadyStarted)) => {}
                Err(e) => tracing::error!(incident.id = %id, error = %e, "could not start mission"),
            }
        });
    }

    async fn cell(
        &self,
        app: &Arc<App>,
        id: IncidentId,
    ) -> Result<Arc<tokio::sync::Mutex<Live>>, InputError> {
        if let Some(c) = lock(&self.live).get(&id) {
            return Ok(Arc::clone(c));
        }
        let sm = app.store.mission(id).await?.ok_or(InputError::NotFound)?;
        let seq = app.store.events(id, 0).await?.last().map_or(0, |e| e.0);
        let cell = Arc::new(tokio::sync::Mutex::new(Live {
            region: sm.region_id,
            mission: sm.mission,
            seq,
            version: sm.version,
        }));
        if cell.lock().await.mission.is_live() {
            return Ok(Arc::clone(lock(&self.live).entry(id).or_insert(cell)));
        }
        Ok(cell)
    }

    /// The mission as it stands, and its region.
    pub async fn get(
        &self,
        app: &Arc<App>,
        id: IncidentId,
    ) -> Result<(RegionId, Mission), InputError> {
        let cell = self.cell(app, id).await?;
        let g = cell.lock().await;
        Ok((g.region, g.mission.clone()))
    }

    /// Snapshots of every live mission.
    pub async fn live(&self) -> Vec<(RegionId, Mission)> {
        let cells: Vec<_> = lock(&self.live).values().cloned().collect();
        let mut out = Vec::with_capacity(cells.len());
        for c in cells {
            let g = c.lock().await;
            out.push((g.region, g.mission.clone()));
        }
        out
    }

    /// Applies one input durably. On success returns the new state and what happened.
    pub async fn input(
        &self,
        app: &Arc<App>,
        id: IncidentId,
        input: Input,
    ) -> Result<(RegionId, Mission, Outcome), InputError> {
        let cell = self.cell(app, id).await?;
        let mut g = cell.lock().await;
        let mut attempt = 1;
        loop {
            match self.step(app, id, &mut g, input.clone()).await {
                Err(InputError::Store(e @ (StoreError::Stale | StoreError::Conflict(_))))
                    if attempt < ATTEMPTS =>
                {
                    // Another node got there first: catch up and plan again.
                    tracing::info!(incident.id = %id, error = %e, attempt, "mission step lost a race; planning again");
                    attempt += 1;
                    if matches!(e, StoreError::Stale) {
                        self.reload(app, id, &mut g).await?;
                    } else {
                        crate::cluster::refresh_reservations(app).await?;
                    }
                }
                Err(e) => return Err(e),
                Ok((next, out, step)) => {
                    drop(g);
                    return Ok(self.after_commit(app, id, next, out, step).await);
                }
            }
        }
    }

    /// Replaces the cached state with the stored one, publishing the events
    /// this node has not seen yet.
    async fn reload(&self, app: &Arc<App>, id: IncidentId, g: &mut Live) -> Result<(), InputError> {
        let sm = app.store.mission(id).await?.ok_or(InputError::NotFound)?;
        if sm.version <= g.version && g.version > 0 {
            return Ok(());
        }
        let events = app.store.events(id, g.seq).await?;
        let before: BTreeSet<_> = g.mission.alerts.iter().map(|a| a.volunteer).collect();
        g.region = sm.region_id;
        g.mission = sm.mission;
        g.version = sm.version;
        if let Some((seq, _)) = events.last() {
            g.seq = *seq;
        }
        let mut touched: Vec<_> = g.mission.alerts.iter().map(|a| a.volunteer).collect();
        touched.extend(before);
        crate::cluster::sync_mission_reservations(app, id, &touched).await?;
        // Counted in the metrics of the node that committed them; published here.
        for (seq, event) in events {
            let _ = app.bus.send(BusEvent {
                region: g.region,
                incident: id,
                seq,
                event,
            });
        }
        Ok(())
    }

    /// Brings this node's copy of a mission up to date after another node
    /// changed it: state, events on the live feeds, reservations, timers.
    pub async fn refresh(&self, app: &Arc<App>, id: IncidentId) -> Result<(), InputError> {
        let cached = lock(&self.live).get(&id).cloned();
        let cell = match cached {
            Some(c) => c,
            None => {
                let Some(sm) = app.store.mission(id).await? else {
                    return Ok(());
                };
                if !sm.mission.is_live() {
                    return Ok(());
                }
                let fresh = Live {
                    region: sm.region_id,
                    mission: sm.mission.clone(),
                    seq: 0,
                    version: 0,
                };
                Arc::clone(
                    lock(&self.live)
                        .entry(id)
                        .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(fresh))),
                )
            }
        };
        let mut g = cell.lock().await;
        self.reload(app, id, &mut g).await?;
        let (live, deadline) = (g.mission.is_live(), g.mission.next_deadline());
        drop(g);
        if live {
            self.schedule(id, deadline);
        } else {
            lock(&self.live).remove(&id);
            self.schedule(id, None);
        }
        Ok(())
    }

    /// Ids of the live missions this node knows.
    pub fn live_ids(&self) -> Vec<IncidentId> {
        lock(&self.live).keys().copied().collect()
    }

    /// Re-arms a mission's timer from its state (after taking its lease over).
    pub async fn rearm(&self, app: &Arc<App>, id: IncidentId) {
        match self.refresh(app, id).await {
            Ok(()) => {
                // Its node died between storing the incident and planning it.
                if matches!(self.get(app, id).await, Ok((_, m)) if !m.started && m.is_live()) {
                    self.spawn_start(app, id);
                }
            }
            Err(e) => {
                tracing::warn!(incident.id = %id, error = %e, "could not load a mission taken over; retrying shortly");
                self.schedule(id, Some(app.now() + chrono::Duration::seconds(1)));
            }
        }
    }

    /// Plans one input on the cached state and commits it.
    async fn step(
        &self,
        app: &Arc<App>,
        id: IncidentId,
        g: &mut Live,
        input: Input,
    ) -> Result<(Mission, Outcome, MissionStep), InputError> {
        let region = g.region;
        let rt = app.region(region).ok_or(InputError::NoRegion)?;
        let now = app.now();
        let mut next = g.mission.clone();
        let walk = app.walk_for(region, next.policy.detour_factor);
        // Regions are partitions: the mission sees its own region's
        // volunteers and AEDs, and those of neighbours that agreed.
        let regions = app.dispatch_regions(region);
        let out = {
            let _plan = lock(&self.plan);
            let out = {
                let idx = app.index();
                let aeds = app.aeds();
                let volunteers = crate::partition::ScopedVolunteers {
                    index: &idx,
                    mask: idx.mask_of(&regions),
                };
                let aeds = crate::partition::ScopedAeds {
                    registry: &aeds,
                    regions: &regions,
                };
                let ctx = MissionCtx {
                    now,
                    tz: rt.tz,
                    volunteers: &volunteers,
                    aeds: &aeds,
                    walk: &*walk,
                };
                next.handle(input, &ctx)?
            };
            self.reserve(app, id, &out);
            out
        };
        let mut seq = g.seq;
        let events: Vec<(u64, _)> = out
            .events
            .iter()
            .map(|e| {
                seq += 1;
                (seq, e.clone())
            })
            .collect();
        let step = MissionStep {
            region_id: region,
            mission: next.clone(),
            outbox: outbox_for(&next, &out.effects, &events, now),
            claims: out
                .effects
                .iter()
                .filter_map(|e| {
                    if let Effect::Claim { aed, volunteer } = e {
                        Some((*aed, *volunteer))
                    } else {
                        None
                    }
                })
                .collect(),
            releases: out
                .effects
                .iter()
                .filter_map(|e| {
                    if let Effect::Release { aed } = e {
                        Some(*aed)
                    } else {
                        None
                    }
                })
                .collect(),
            busy: out
                .effects
                .iter()
                .filter_map(|e| {
                    if let Effect::Busy {
                        volunteer,
                        busy: true,
                    } = e
                    {
                        Some(*volunteer)
                    } else {
                        None
                    }
                })
                .collect(),
            free: out
                .effects
                .iter()
                .filter_map(|e| {
                    if let Effect::Busy {
                        volunteer,
                        busy: false,
                    } = e
                    {
                        Some(*volunteer)
                    } else {
                        None
                    }
                })
                .collect(),
            base_version: g.version,
            events,
            at: now,
        };
        if let Err(e) = app.store.commit_step(&step).await {
            self.unreserve(app, id, &out);
            return Err(e.into());
        }
        g.mission = next.clone();
        g.seq = seq;
        g.version += 1;
        Ok((next, out, step))
    }

    /// What follows a commit: reservations freed, events published, the
    /// outbox woken, the timer re-armed.
    async fn after_commit(
        &self,
        app: &Arc<App>,
        id: IncidentId,
        next: Mission,
        out: Outcome,
        step: MissionStep,
    ) -> (RegionId, Mission, Outcome) {
        let region = step.region_id;
        self.settle(app, id, &out);
        persist_out_for_return(app, &out).await;
        for (seq, event) in step.events {
            app.metrics.mission_event(&next, &event);
            let _ = app.bus.send(BusEvent {
                region,
                incident: id,
                seq,
                event,
            });
        }
        if !step.outbox.is_empty() {
            app.outbox.wake();
        }
        self.schedule(id, next.next_deadline());
        if !next.is_live() {
            lock(&self.live).remove(&id);
            app.cluster.mission_ended(app, id).await;
        }
        (region, next, out)
    }

    /// Takes the AEDs and volunteers a step picked, before its commit.
    fn reserve(&self, app: &App, id: IncidentId, out: &Outcome) {
        // Lock order: the index before the AEDs (as planning reads them).
        let mut idx = app.index_mut();
        let mut aeds = app.aeds_mut();
        for e in &out.effects {
            match e {
                Effect::Claim { aed, volunteer } if !aeds.claim(*aed, id, *volunteer) => {
                    tracing::error!(aed.id = %aed, incident.id = %id, "AED claimed twice; the planner excludes claimed AEDs");
                }
                Effect::Busy {
                    volunteer,
                    busy: true,
                } => idx.set_busy(*volunteer, true),
                _ => {}
            }
        }
    }

    fn unreserve(&self, app: &App, id: IncidentId, out: &Outcome) {
        // Lock order: the index before the AEDs (as planning reads them).
        let mut idx = app.index_mut();
        let mut aeds = app.aeds_mut();
        for e in &out.effects {
            match e {
                Effect::Claim { aed, .. } => aeds.release(*aed, id),
                Effect::Busy {
                    volunteer,
                    busy: true,
                } => idx.set_busy(*volunteer, false),
                _ => {}
            }
        }
    }

    /// Frees what a committed step let go of.
    fn settle(&self, app: &App, id: IncidentId, out: &Outcome) {
        // Lock order: the index before the AEDs (as planning reads them).
        let mut idx = app.index_mut();
        let mut aeds = app.aeds_mut();
        for e in &out.effects {
            match e {
                Effect::Release { aed } => aeds.release(*aed, id),
                Effect::Busy {
                    volunteer,
                    busy: false,
                } => idx.set_busy(*volunteer, false),
                _ => {}
            }
        }
    }

    fn schedule(&self, id: IncidentId, at: Option<DateTime<Utc>>) {
        let mut t = lock(&self.timers);
        if let Some(old) = t.at.remove(&id) {
            t.set.remove(&(old, id));
        }
        if let Some(at) = at {
            t.at.insert(id, at);
            t.set.insert((at, id));
        }
        drop(t);
        self.wake.notify_one();
    }

    /// Loads live missions after a restart: re-arms their timers, restores
    /// who is busy, and starts any that were stored but never started.
    pub async fn resume(&self, app: &Arc<App>) -> Result<(), StoreError> {
        for sm in app.store.live_missions().await? {
            let id = sm.mission.id;
            let seq = app.store.events(id, 0).await?.last().map_or(0, |e| e.0);
            {
                let mut idx = app.index_mut();
                for a in &sm.mission.alerts {
                    if a.state == firstlink_domain::mission::AlertState::Alerted
                        || a.state.responding()
                    {
                        idx.set_busy(a.volunteer, true);
                    }
                }
            }
            let started = sm.mission.started;
            let deadline = sm.mission.next_deadline();
            lock(&self.live).insert(
                id,
                Arc::new(tokio::sync::Mutex::new(Live {
                    region: sm.region_id,
                    mission: sm.mission,
                    seq,
                    version: sm.version,
                })),
            );
            if started {
                self.schedule(id, deadline);
            } else {
                tracing::info!(incident.id = %id, "resuming an incident that was stored but not yet planned");
                self.spawn_start(app, id);
            }
        }
        Ok(())
    }

    /// Runs timers until the process ends.
    pub fn spawn_scheduler(app: &Arc<App>) {
        let app = Arc::clone(app);
        tokio::spawn(async move {
            loop {
                let next = lock(&app.missions.timers).set.first().copied();
                let now = app.now();
                match next {
                    Some((at, id)) if at <= now => {
                        {
                            let mut t = lock(&app.missions.timers);
                            t.set.remove(&(at, id));
                            t.at.remove(&id);
                        }
                        // Another node holds this mission's lease and drives its timers.
                        if !app.cluster.drives(id) {
                            continue;
                        }
                        let app2 = Arc::clone(&app);
                        tokio::spawn(async move {
                            if let Err(e) = app2.missions.input(&app2, id, Input::Tick).await {
                                tracing::warn!(incident.id = %id, error = %e, "mission tick failed; retrying shortly");
                                app2.missions
                                    .schedule(id, Some(app2.now() + chrono::Duration::seconds(2)));
                            }
                        });
                    }
                    Some((at, _)) => {
                        let wait = (at - now).to_std().unwrap_or_default();
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = app.missions.wake.notified() => {}
                        }
                    }
                    None => app.missions.wake.notified().await,
                }
            }
        });
    }
}

/// The outbox entries a step's effects call for. Keys make each
/// notification unique per volunteer and mission, so a retried step or a
/// restart never sends it twice.
fn outbox_for(
    m: &Mission,
    effects: &[Effect],
    events: &[(u64, firstlink_domain::mission::Event)],
    now: DateTime<Utc>,
) -> Vec<NewOutbox> {
    let id = m.id;
    let msg_seq = events
        .iter()
        .find(|(_, e)| matches!(e.kind, EventKind::Message { .. }))
        .map_or(0, |e| e.0);
    let mut out = Vec::new();
    for e in effects {
        match e {
            Effect::Alert { volunteer, walk_m, eta_s } => out.push(NewOutbox {
                dedupe_key: format!("alert:{id}:{volunteer}"),
                volunteer: Some(*volunteer),
                incident: Some(id),
                recipient: None,
                message: OutboxMessage {
                    id: format!("m-{id}-{volunteer}"),
                    kind: "alert".into(),
                    incident: Some(id),
                    data: json!({
                        "incident_id": id,
                        "distance_m": walk_m.round() as u64,
                        "eta_s": eta_s,
                        "test": m.incident.test,
                        "incident_created_at": m.created_at,
                        "answer_by": now + chrono::Duration::seconds(i64::from(m.policy.answer_timeout_s)),
                    }),
                    urgent: true,
                    // A late alert still helps while the mission needs people;
                    // the stand-down replaces it on the phone when it does not.
                    ttl_seconds: m.policy.answer_timeout_s + 60,
                },
                not_before: now,
            }),
            Effect::Notify { volunteer, note, at } => {
                let (kind, data, collapse) = match note {
                    Note::StandDown => ("stand_down", json!({}), true),
                    Note::OutOfRange => ("out_of_range", json!({}), true),
                    Note::Ended => ("ended", json!({}), true),
                    Note::Cancelled => ("cancelled", json!({}), true),
                    Note::Message { text } => ("message", json!({ "text": text, "seq": msg_seq }), false),
                    Note::ReturnAed { aed, name } => ("return_aed", json!({ "aed_id": aed, "aed_name": name }), false),
                    Note::Survey => ("survey", json!({}), false),
                };
                let key = if kind == "message" {
                    format!("message:{id}:{volunteer}:{msg_seq}")
                } else {
                    format!("{kind}:{id}:{volunteer}")
                };
                let mut data = data;
                data["incident_id"] = json!(id);
                out.push(NewOutbox {
                    dedupe_key: key,
                    volunteer: Some(*volunteer),
                    incident: Some(id),
                    recipient: None,
                    message: OutboxMessage {
                        // Stand-downs and endings replace the alert on the phone.
                        id: if collapse { format!("m-{id}-{volunteer}") } else { format!("{kind}-{id}-{volunteer}-{msg_seq}") },
                        kind: kind.into(),
                        incident: Some(id),
                        data,
                        urgent: false,
                        ttl_seconds: if kind == "survey" { 7 * 24 * 3600 } else { 3600 },
                    },
                    not_before: at.unwrap_or(now),
                });
            }
            _ => {}
        }
    }
    out
}

/// An AED released while collected is out for return: that survives a
/// restart in its record (the in-memory registry holds it already).
async fn persist_out_for_return(app: &App, out: &Outcome) {
    for e in &out.effects {
        let Effect::Release { aed } = e else { continue };
        let Some(o) = app.aeds().out_for_return(*aed) else {
            continue;
        };
        let rec = firstlink_store::OutForReturnRecord {
            incident: o.incident,
            volunteer: o.volunteer,
            since: o.since,
        };
        let saved = match app.store.aed(*aed).await {
            Ok(Some(mut a)) => {
                a.details.out_for_return = Some(rec);
                app.store.upsert_aed(&a).await
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            tracing::error!(aed.id = %aed, error = %e, "could not record that the AED is out for return");
        }
    }
}
