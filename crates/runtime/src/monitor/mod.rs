//! AED readiness monitoring at run time: monitoring units in AED cabinets
//! report over MQTT (an external broker, the embedded broker in
//! [`broker`]), LoRaWAN through The Things Stack, or HTTPS; each message is
//! decoded and run through the unit's readiness rules (`firstlink-monitor`,
//! pure). A change of readiness reaches dispatch at once (the in-memory AED
//! registry), then is committed with its tickets and technician
//! notifications in one transaction ([`firstlink_store::MonitorWrite`]).
//!
//! Ordering: every message of a unit is handled under that unit's async
//! mutex, from decoding to commit, so a unit's decisions are committed in
//! the order they were made. Telemetry that arrives late never rolls the
//! state back (the rules keep per-signal timestamps).
//!
//! What is durable when: readiness changes, tickets and notifications are
//! committed before the message is acknowledged (embedded broker PUBACK,
//! external broker manual ack, HTTP 202); plain telemetry is aggregated into
//! 15-minute buckets and the rule state checkpointed every
//! `monitor.checkpoint_seconds`, so a crash loses at most that much history,
//! never a decision.
//!
//! Rooms: this file holds the state and its loading, units, rules and
//! routing; [`ingest`] decodes messages and applies the rules; [`tickets`]
//! opens, escalates and notifies tickets.

pub mod broker;
mod ingest;
pub mod mqtt;
mod tickets;

use tickets::{first_notice, recipients};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use firstlink_domain::aed::Readiness;
use firstlink_domain::ids::{AedId, RegionId};
use firstlink_domain::mission::{Input, Progress};
use firstlink_monitor::{
    Cause, DecodeError, LorawanCodec, ModelRules, Reading, Signal, StatusLight, Transition,
    UnitCtx, UnitEvent, UnitKey, UnitState,
};
use firstlink_store::{
    MonitorUnit, MonitorWrite, NewOutbox, OutboxMessage, ReadinessRecord, Recipient, StoreError,
    TelemetryBucket, Ticket, TicketState,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::App;

/// Length of a telemetry bucket.
const BUCKET_S: i64 = 900;
/// Bad-input warnings logged per second at most (the rest are only counted).
const LOG_PER_SECOND: u32 = 5;

/// How a message reached us; decides whether it must carry its own MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An external broker: firstlink cannot see who published, so JSON
    /// messages must carry a MAC (binary ones always do).
    ExternalMqtt,
    /// The embedded broker, on a connection authenticated as this unit.
    Broker,
    /// HTTPS with the unit's secret as bearer token.
    Https,
}

/// A unit's message as received.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Json(&'a [u8]),
    Binary(&'a [u8]),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown monitoring unit")]
    UnknownUnit,
    #[error("the unit's credentials are revoked")]
    Revoked,
    #[error("wrong unit credentials")]
    BadCredentials,
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("the message's timestamp is in the future")]
    FromFuture,
    #[error("the message is older than the unit's state can take (more than 7 days)")]
    TooOld,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl IngestError {
    /// Stable code for metrics and HTTP errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownUnit => "unknown_unit",
            Self::Revoked => "revoked_unit",
            Self::BadCredentials => "bad_credentials",
            Self::Decode(e) => e.code(),
            Self::FromFuture => "from_future",
            Self::TooOld => "too_old",
            Self::Store(_) => "store",
        }
    }

    /// The sender's fault (counted and dropped) rather than ours (retried).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

/// Where a region's service tickets go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceRouting {
    /// The region's technicians: notified of every new ticket.
    pub technicians: Vec<Contact>,
    /// Service partners by AED owner name (the AED record's `owner_name`):
    /// they get the tickets of their owners' AEDs instead of the technicians.
    pub partners: std::collections::BTreeMap<String, Vec<Contact>>,
    /// An unacknowledged ticket escalates after this long (0 = never).
    pub escalate_after_minutes: u32,
    /// Who hears of escalations (empty: the technicians again).
    pub escalation: Vec<Contact>,
}

/// One person or system that receives service notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    /// E.164, e.g. "+4512345678".
    pub phone: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Language of the notification texts (en, da, sv, nb, fi, de).
    #[serde(default)]
    pub lang: Option<String>,
}

impl Contact {
    fn recipients(&self) -> Vec<Recipient> {
        let mut v = Vec::new();
        if let Some(a) = &self.email {
            v.push(Recipient::Email { address: a.clone() });
        }
        if let Some(p) = &self.phone {
            v.push(Recipient::Sms { phone: p.clone() });
        }
        if let Some(u) = &self.webhook_url {
            v.push(Recipient::Webhook {
                url: u.clone(),
                secret: self.webhook_secret.clone().unwrap_or_default(),
            });
        }
        v
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a contact needs a name".into());
        }
        if self.email.is_none() && self.phone.is_none() && self.webhook_url.is_none() {
            return Err(format!(
                "contact {:?} has no e-mail, phone or webhook",
                self.name
            ));
        }
        if let Some(e) = &self.email
            && !e.contains('@')
        {
            return Err(format!(
                "contact {:?}: {e:?} is not an e-mail address",
                self.name
            ));
        }
        if let Some(p) = &self.phone
            && !(p.starts_with('+') && p.len() >= 8 && p[1..].chars().all(|c| c.is_ascii_digit()))
        {
            return Err(format!(
                "contact {:?}: phone must be E.164 (+ and digits)",
                self.name
            ));
        }
        if let Some(u) = &self.webhook_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(format!(
                "contact {:?}: webhook_url must be http(s)",
                self.name
            ));
        }
        Ok(())
    }
}

/// Messages accepted and refused, by reason.
#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub transitions: AtomicU64,
    rejected: Mutex<HashMap<&'static str, u64>>,
    log_window: Mutex<(i64, u32)>,
}

impl Counters {
    pub fn rejected(&self) -> HashMap<&'static str, u64> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a refused message and logs it, at most a few per second.
    pub fn reject(&self, what: &str, err: &IngestError) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(err.code())
            .or_default() += 1;
        let now = Utc::now().timestamp();
        let mut w = self.log_window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0 != now {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 <= LOG_PER_SECOND {
            tracing::warn!(source = what, code = err.code(), error = %err, "telemetry refused");
        }
    }
}

struct Meta {
    unit: MonitorUnit,
    key: UnitKey,
}

struct Slot {
    meta: RwLock<Meta>,
    inner: tokio::sync::Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    state: UnitState,
    bucket: Option<TelemetryBucket>,
    finished: Vec<TelemetryBucket>,
    dirty: bool,
}

impl Inner {
    fn record(&mut self, unit: Uuid, r: &Reading) {
        let start = bucket_start(r.at);
        match &self.bucket {
            Some(b) if b.start == start => {}
            Some(b) if b.start > start => return, // late: the chart keeps its newer bucket
            _ => {
                if let Some(b) = self.bucket.take() {
                    self.finished.push(b);
                }
                self.bucket = Some(TelemetryBucket {
                    unit_id: unit,
                    start,
                    messages: 0,
                    temp_min: None,
                    temp_max: None,
                    temp_last: None,
                    light: None,
                    unit_battery: None,
                    door_opens: 0,
                });
            }
        }
        let Some(b) = self.bucket.as_mut() else {
            return;
        };
        b.messages += 1;
        for s in &r.signals {
            match *s {
                Signal::TemperatureC(t) => {
                    b.temp_min = Some(b.temp_min.map_or(t, |m| m.min(t)));
                    b.temp_max = Some(b.temp_max.map_or(t, |m| m.max(t)));
                    b.temp_last = Some(t);
                }
                Signal::StatusLight(l) => b.light = Some(light_code(l).into()),
                Signal::UnitBatteryPct(p) => b.unit_battery = Some(p),
                Signal::DoorOpen(true) => b.door_opens += 1,
                _ => {}
            }
        }
    }
}

fn light_code(l: StatusLight) -> &'static str {
    match l {
        StatusLight::Ok => "ok",
        StatusLight::Fault => "fault",
        StatusLight::Off => "off",
        StatusLight::Unknown => "unknown",
    }
}

fn bucket_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::seconds(BUCKET_S))
        .unwrap_or(t)
}

/// What tickets need about a unit's AED, copied out of the registry.
struct AedFacts {
    region: RegionId,
    name: String,
    owner: Option<String>,
}

/// What the rules need about a unit's AED (read on every message, so
/// nothing here allocates).
struct Basis {
    rules: Arc<ModelRules>,
    registered: Option<firstlink_domain::geo::LatLon>,
    pad_expiry: Option<chrono::NaiveDate>,
    battery_expiry: Option<chrono::NaiveDate>,
}

impl Basis {
    fn ctx(&self, interval_s: u32) -> UnitCtx<'_> {
        UnitCtx {
            rules: &self.rules,
            registered: self.registered,
            interval_s,
            pad_expiry: self.pad_expiry,
            battery_expiry: self.battery_expiry,
        }
    }
}

/// The monitoring runtime: units, their rule states, open tickets.
#[derive(Default)]
pub struct Monitor {
    master: OnceLock<[u8; 32]>,
    units: RwLock<HashMap<Uuid, Arc<Slot>>>,
    lorawan: RwLock<HashMap<String, Uuid>>,
    /// Unresolved tickets by AED and cause.
    tickets: Mutex<HashMap<(AedId, String), Ticket>>,
    /// Rules per AED model (the AED record's `model`); `""` is the default.
    rules: RwLock<HashMap<String, Arc<ModelRules>>>,
    routing: RwLock<HashMap<RegionId, ServiceRouting>>,
    pub counters: Counters,
    broker_addr: OnceLock<std::net::SocketAddr>,
    external_connected: std::sync::atomic::AtomicBool,
}

fn rd<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn wr<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// Settings keys.
const RULES_KEY: &str = "monitor.rules";
/// When the last complete checkpoint started (RFC 3339): the stored rule
/// states hold everything heard until then.
const HEARD_UNTIL_KEY: &str = "monitor.heard_until";
fn routing_key(r: RegionId) -> String {
    format!("monitor.routing.{r}")
}

impl Monitor {
    /// Loads the master key, units, their checkpointed states, open tickets,
    /// rules and routing.
    pub async fn load(&self, app: &App) -> anyhow::Result<()> {
        let master = load_master_key(&app.config)?;
        let _ = self.master.set(master);
        let states: HashMap<Uuid, serde_json::Value> =
            app.store.unit_states().await?.into_iter().collect();
        // Until when the stored states hold everything this server heard:
        // the time since then (the restart gap) does not count as silence.
        let heard_until = match app.store.setting(HEARD_UNTIL_KEY).await? {
            Some(s) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(e) => {
                    tracing::warn!(error = %e, "stored monitoring checkpoint time unreadable; silence restarts from now");
                    None
                }
            },
            None => None,
        };
        let now = app.now();
        let mut deferred = 0u32;
        for u in app.store.units().await? {
            let mut state = match states
                .get(&u.id)
                .map(|v| serde_json::from_value::<UnitState>(v.clone()))
            {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    tracing::warn!(unit = %u.id, error = %e, "checkpointed unit state unreadable; starting afresh");
                    UnitState::new(now)
                }
                // Never reported: silent two intervals after provisioning
                // (counting only the time this server was listening).
                None => UnitState::new(u.created_at),
            };
            if state.resume(heard_until, now) > chrono::Duration::zero() {
                deferred += 1;
            }
            self.put_unit(u, state);
        }
        if let Some(since) = heard_until {
            tracing::info!(
                down_seconds = (now - since).num_seconds(),
                units = deferred,
                "monitoring resumed: the time not listening does not count as silence"
            );
        }
        let unresolved = app.store.tickets(None, None, true, u32::MAX).await?;
        lock(&self.tickets).extend(
            unresolved
                .into_iter()
                .map(|t| ((t.aed_id, t.cause.clone()), t)),
        );
        if let Some(s) = app.store.setting(RULES_KEY).await? {
            let map: HashMap<String, ModelRules> = serde_json::from_str(&s)?;
            *wr(&self.rules) = map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        }
        for r in app.regions() {
            if let Some(s) = app.store.setting(&routing_key(r.region.id)).await? {
                wr(&self.routing).insert(r.region.id, serde_json::from_str(&s)?);
            }
        }
        Ok(())
    }

    /// Where the embedded MQTT endpoint listens, once bound.
    pub fn broker_addr(&self) -> Option<std::net::SocketAddr> {
        self.broker_addr.get().copied()
    }

    pub fn set_external_connected(&self, up: bool) {
        self.external_connected.store(up, Ordering::Relaxed);
    }

    /// Whether the external broker (when configured) is connected.
    pub fn external_connected(&self) -> bool {
        self.external_connected.load(Ordering::Relaxed)
    }

    fn master(&self) -> [u8; 32] {
        // Set by `load`; a unit cannot be provisioned before, so the zero key is never used.
        self.master.get().copied().unwrap_or([0; 32])
    }

    /// The unit's current key.
    pub fn key_for(&self, unit: &MonitorUnit) -> UnitKey {
        UnitKey::derive(&self.master(), unit.id, unit.key_generation)
    }

    fn put_unit(&self, u: MonitorUnit, state: UnitState) {
        let key = self.key_for(&u);
        let mut lw = wr(&self.lorawan);
        lw.retain(|_, id| *id != u.id);
        if let Some(l) = &u.lorawan {
            lw.insert(l.device_id.clone(), u.id);
        }
        drop(lw);
        let mut units = wr(&self.units);
        match units.get(&u.id) {
            Some(slot) => *wr(&slot.meta) = Meta { unit: u, key },
            None => {
                let inner = Inner {
                    state,
                    ..Default::default()
                };
                units.insert(
                    u.id,
                    Arc::new(Slot {
                        meta: RwLock::new(Meta {
                            unit: u.clone(),
                            key,
                        }),
                        inner: tokio::sync::Mutex::new(inner),
                    }),
                );
            }
        }
    }

    /// Adds or changes a unit (after the store committed it). When the unit
    /// left an AED, that AED is unmonitored from now on.
    pub fn upsert_unit(&self, app: &App, u: MonitorUnit) {
        let before = self.unit(u.id).and_then(|x| x.aed_id);
        if let Some(old) = before.filter(|a| Some(*a) != u.aed_id) {
            app.aeds_mut().set_readiness(old, Readiness::Unmonitored);
        }
        self.put_unit(u, UnitState::new(app.now()));
    }

    pub fn unit(&self, id: Uuid) -> Option<MonitorUnit> {
        rd(&self.units).get(&id).map(|s| rd(&s.meta).unit.clone())
    }

    pub fn units(&self, region: Option<RegionId>) -> Vec<MonitorUnit> {
        let mut v: Vec<_> = rd(&self.units)
            .values()
            .map(|s| rd(&s.meta).unit.clone())
            .filter(|u| region.is_none_or(|r| u.region_id == r))
            .collect();
        v.sort_by_key(|u| u.id);
        v
    }

    /// Bytes held per unit in memory, counted from the structures: the slot
    /// (record, key, rule state, current telemetry bucket), its map entry and
    /// the record's strings. For the benchmark's memory figure.
    pub fn bytes_per_unit(&self) -> usize {
        let units = rd(&self.units);
        let heap: usize = units
            .values()
            .map(|s| {
                let m = rd(&s.meta);
                let u = &m.unit;
                u.hardware.capacity()
                    + u.firmware.as_ref().map_or(0, String::capacity)
                    + u.lorawan
                        .as_ref()
                        .map_or(0, |l| l.device_id.capacity() + l.codec.capacity())
            })
            .sum();
        // Arc header (two counts) and the map's key, value and control byte.
        std::mem::size_of::<Slot>()
            + 16
            + std::mem::size_of::<(Uuid, Arc<Slot>)>()
            + 1
            + heap / units.len().max(1)
    }

    /// The unit monitoring an AED, if any.
    pub fn unit_of(&self, aed: AedId) -> Option<MonitorUnit> {
        rd(&self.units).values().find_map(|s| {
            let m = rd(&s.meta);
            (m.unit.aed_id == Some(aed) && m.unit.revoked_at.is_none()).then(|| m.unit.clone())
        })
    }

    /// What the unit last reported and its active causes.
    pub async fn unit_status(&self, id: Uuid) -> Option<UnitStatus> {
        let slot = rd(&self.units).get(&id).cloned()?;
        let inner = slot.inner.lock().await;
        Some(UnitStatus {
            readiness: inner.state.readiness(),
            causes: inner
                .state
                .causes()
                .iter()
                .map(|c| c.code().to_string())
                .collect(),
            last_seen: inner.state.last_seen(),
            last: serde_json::to_value(inner.state.last_value()).unwrap_or_default(),
        })
    }

    pub fn rules(&self) -> HashMap<String, ModelRules> {
        rd(&self.rules)
            .iter()
            .map(|(k, v)| (k.clone(), (**v).clone()))
            .collect()
    }

    pub async fn set_rules(
        &self,
        app: &App,
        rules: HashMap<String, ModelRules>,
    ) -> Result<(), StoreError> {
        app.store
            .set_setting(
                RULES_KEY,
                &serde_json::to_string(&rules).unwrap_or_default(),
            )
            .await?;
        *wr(&self.rules) = rules.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        Ok(())
    }

    pub fn routing(&self, region: RegionId) -> ServiceRouting {
        rd(&self.routing).get(&region).cloned().unwrap_or_default()
    }

    /// Saves a region's service routing. Tickets still open that nobody
    /// was told about (they were opened while the region had nobody to
    /// tell) get their first notice now, never an escalation; their
    /// escalation time counts from this notice. Tickets acknowledged or
    /// whose signal is back to normal are left to the console.
    pub async fn set_routing(
        &self,
        app: &App,
        region: RegionId,
        r: ServiceRouting,
    ) -> Result<(), StoreError> {
        app.store
            .set_setting(
                &routing_key(region),
                &serde_json::to_string(&r).unwrap_or_default(),
            )
            .await?;
        wr(&self.routing).insert(region, r.clone());
        // The store is written before memory, so it holds the newer copies.
        let untold: Vec<Ticket> = app
            .store
            .tickets(Some(region), None, true, u32::MAX)
            .await?
            .into_iter()
            .filter(|t| {
                t.state == TicketState::Open
                    && t.normal_since.is_none()
                    && t.notified_at.is_none()
                    && t.escalated_at.is_none()
            })
            .collect();
        let now = app.now();
        let mut w = MonitorWrite {
            at: now,
            ..Default::default()
        };
        for mut t in untold {
            let (name, owner) = app
                .aeds()
                .get(t.aed_id)
                .map(|a| (a.name.clone(), a.details.owner_name.clone()))
                .unwrap_or_default();
            let notes = first_notice(&mut t, &name, recipients(&r, owner.as_ref()), now);
            if !notes.is_empty() {
                w.outbox.extend(notes);
                w.tickets.push(t);
            }
        }
        if w.tickets.is_empty() {
            return Ok(());
        }
        app.store.commit_monitor(&w).await?;
        tracing::info!(region = %region, tickets = w.tickets.len(), "service routing saved: first notices for open tickets nobody had been told of");
        {
            let mut open = lock(&self.tickets);
            for t in &w.tickets {
                open.insert((t.aed_id, t.cause.clone()), t.clone());
            }
        }
        app.outbox.wake();
        Ok(())
    }

    /// In a cluster, other nodes provision and move units, set rules and
    /// routing, and acknowledge or resolve tickets through the database; the
    /// node running monitoring re-reads them (every few seconds). Rule states
    /// are this node's own and are kept.
    pub async fn refresh_shared(&self, app: &App) -> Result<(), StoreError> {
        for u in app.store.units().await? {
            if self.unit(u.id).as_ref() != Some(&u) {
                self.upsert_unit(app, u);
            }
        }
        if let Some(s) = app.store.setting(RULES_KEY).await? {
            match serde_json::from_str::<HashMap<String, ModelRules>>(&s) {
                Ok(map) => {
                    *wr(&self.rules) = map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stored monitoring rules unreadable; keeping the current ones")
                }
            }
        }
        for r in app.regions() {
            if let Some(s) = app.store.setting(&routing_key(r.region.id)).await?
                && let Ok(routing) = serde_json::from_str::<ServiceRouting>(&s)
            {
                wr(&self.routing).insert(r.region.id, routing);
            }
        }
        // The store is written before memory, so it is the newer copy of a ticket.
        let stored = app.store.tickets(None, None, true, u32::MAX).await?;
        let unresolved: std::collections::HashSet<Uuid> = stored.iter().map(|t| t.id).collect();
        let missing: Vec<Ticket> = {
            let mut open = lock(&self.tickets);
            for t in stored {
                open.insert((t.aed_id, t.cause.clone()), t);
            }
            open.values()
                .filter(|t| !unresolved.contains(&t.id))
                .cloned()
                .collect()
        };
        // Not unresolved in the store: resolved elsewhere, or opened here since the read.
        for t in missing {
            if let Some(cur) = app.store.ticket(t.id).await?
                && cur.state == TicketState::Resolved
            {
                lock(&self.tickets).remove(&(cur.aed_id, cur.cause.clone()));
            }
        }
        Ok(())
    }

    /// Saves one unit's telemetry buckets now (before its chart is read);
    /// the next checkpoint saves them again, which is harmless.
    pub async fn flush_unit(&self, app: &App, id: Uuid) -> Result<(), StoreError> {
        let Some(slot) = self.slot(id) else {
            return Ok(());
        };
        let buckets = {
            let inner = slot.inner.lock().await;
            let mut b = inner.finished.clone();
            b.extend(inner.bucket.clone());
            b
        };
        app.store.save_telemetry(&buckets).await
    }

    /// Saves rule states and telemetry buckets changed since the last checkpoint.
    pub async fn checkpoint(&self, app: &App) -> Result<(), StoreError> {
        let now = app.now();
        let slots: Vec<Arc<Slot>> = rd(&self.units).values().cloned().collect();
        let mut states = Vec::new();
        let mut buckets = Vec::new();
        for slot in slots {
            let mut inner = slot.inner.lock().await;
            if !inner.dirty && inner.finished.is_empty() {
                continue;
            }
            let id = rd(&slot.meta).unit.id;
            states.push((id, serde_json::to_value(&inner.state).unwrap_or_default()));
            buckets.append(&mut inner.finished);
            buckets.extend(inner.bucket.clone());
            inner.dirty = false;
        }
        for chunk in states.chunks(1_000) {
            app.store.save_unit_states(chunk, now).await?;
        }
        for chunk in buckets.chunks(1_000) {
            app.store.save_telemetry(chunk).await?;
        }
        // Every state is saved as of `now` (the others had not changed):
        // after a restart, only the time since then is unaccounted for.
        app.store
            .set_setting(HEARD_UNTIL_KEY, &now.to_rfc3339())
            .await?;
        Ok(())
    }

    /// Readiness per state for a region's AEDs, monitored or not.
    pub fn summary(&self, app: &App, region: RegionId) -> FleetSummary {
        let aeds = app.aeds();
        let mut by: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        let mut total = 0;
        for a in aeds.all(Some(region)) {
            total += 1;
            *by.entry(
                serde_json::to_value(a.readiness)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            )
            .or_default() += 1;
        }
        let units = self.units(Some(region));
        let open = lock(&self.tickets);
        let open_tickets = open.values().filter(|t| t.region_id == region).count() as u32;
        FleetSummary {
            aeds: total,
            monitored: units
                .iter()
                .filter(|u| u.aed_id.is_some() && u.revoked_at.is_none())
                .count() as u32,
            units: units.len() as u32,
            by_readiness: by,
            open_tickets,
            unacknowledged_tickets: open
                .values()
                .filter(|t| t.region_id == region && t.state == TicketState::Open)
                .count() as u32,
        }
    }
}

/// The unit's current status as the console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitStatus {
    #[schema(value_type = String)]
    pub readiness: Readiness,
    pub causes: Vec<String>,
    pub last_seen: Option<DateTime<Utc>>,
    /// The last value of each signal.
    #[schema(value_type = Object)]
    pub last: serde_json::Value,
}

/// A region's fleet at a glance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FleetSummary {
    pub aeds: u32,
    pub monitored: u32,
    pub units: u32,
    pub by_readiness: std::collections::BTreeMap<String, u32>,
    pub open_tickets: u32,
    pub unacknowledged_tickets: u32,
}

fn default_rules() -> &'static Arc<ModelRules> {
    static D: OnceLock<Arc<ModelRules>> = OnceLock::new();
    D.get_or_init(|| Arc::new(ModelRules::default()))
}

/// The master key unit keys derive from: `monitor.master_key` (64 hex
/// digits) or `<data_dir>/monitor.key`, created on first start (mode 0600).
fn load_master_key(config: &crate::config::Config) -> anyhow::Result<[u8; 32]> {
    let parse = |s: &str| -> anyhow::Result<[u8; 32]> {
        let v = hex::decode(s.trim()).map_err(|e| anyhow::anyhow!("monitor master key: {e}"))?;
        v.try_into()
            .map_err(|_| anyhow::anyhow!("monitor master key must be 32 bytes (64 hex digits)"))
    };
    if let Some(k) = &config.monitor.master_key {
        return parse(k);
    }
    let path = config.data_dir.join("monitor.key");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return parse(&s);
    }
    let key: [u8; 32] = rand::random();
    std::fs::create_dir_all(&config.data_dir)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(hex::encode(key).as_bytes())?;
    f.sync_all()?;
    Ok(key)
}

/// Starts the ingest sources and the ticker.
/// How often the monitoring node re-reads what other nodes changed.
const SHARED_REFRESH: Duration = Duration::from_secs(5);

pub async fn spawn(app: &Arc<App>) -> anyhow::Result<()> {
    let cfg = &app.config.monitor;
    if !cfg.broker_listen.is_empty() {
        let addr = broker::bind(app, &cfg.broker_listen).await?;
        let _ = app.monitor.broker_addr.set(addr);
    }
    if let Some(url) = cfg.mqtt_url.clone().filter(|u| !u.is_empty()) {
        mqtt::spawn(app, &url)?;
    }
    let a = Arc::clone(app);
    let every = Duration::from_secs(u64::from(cfg.checkpoint_seconds.max(1)));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint = tokio::time::Instant::now();
        let mut last_refresh = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if a.cluster.shared() && last_refresh.elapsed() >= SHARED_REFRESH {
                last_refresh = tokio::time::Instant::now();
                if let Err(e) = a.monitor.refresh_shared(&a).await {
                    tracing::warn!(error = %e, "could not re-read units, rules and tickets");
                }
            }
            a.monitor.tick_at(&a, a.now()).await;
            if last_checkpoint.elapsed() >= every {
                last_checkpoint = tokio::time::Instant::now();
                if let Err(e) = a.monitor.checkpoint(&a).await {
                    tracing::error!(error = %e, "monitoring checkpoint failed");
                }
            }
        }
    });
    Ok(())
}
