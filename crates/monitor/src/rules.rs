//! Readiness rules: a small per-unit state machine fed with readings as they
//! arrive ([`UnitState::apply`]) and with the passing of time
//! ([`UnitState::tick`] at [`UnitState::next_deadline`]).
//!
//! Each rule keeps or clears one [`Cause`]; the unit's readiness is the most
//! severe effect among the active causes (Missing > NotReady > AtRisk >
//! Unknown > MaintenanceDue > Ready). Time comes in as arguments; timers
//! start at the device's timestamps and are compared with the `now` the
//! caller passes.

use chrono::{DateTime, Days, NaiveDate, Utc};
use firstlink_domain::aed::Readiness;
use firstlink_domain::geo::LatLon;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::signal::{Reading, Signal, SignalKind, StatusLight};

/// Readings stamped more than this far in the future (device clock ahead of
/// the server's) are refused.
pub const MAX_FUTURE_SKEW_S: i64 = 300;
/// Readings stamped more than this far in the past are refused (a device
/// clock reset to 1970/2000, or a long-dead buffer): 7 days.
pub const MAX_READING_AGE_S: i64 = 7 * 86_400;

// ------------------------------------------------------------------ config

/// Thresholds of the rules, configurable per AED model. Missing members in a
/// serialized form take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelRules {
    /// Operating range of the AED, °C (default 0..50).
    pub temp_min_c: f32,
    pub temp_max_c: f32,
    /// Out of range below `temp_min_c` / above `temp_max_c`; back in range
    /// only once strictly above `temp_min_c + h` (coming from below) or
    /// strictly below `temp_max_c - h` (coming from above). Default 2.
    pub temp_hysteresis_c: f32,
    /// At risk at once; not ready once continuously out of range this long. Default 1800.
    pub temp_grace_s: u32,
    /// Status light continuously "off" this long → not ready. Default 600.
    pub light_off_grace_s: u32,
    /// Warning beeps continuously this long → not ready. Default 120.
    pub beeps_sustain_s: u32,
    /// Farther than this from the registered place → missing; back when
    /// within 0.8 × this. Default 50.
    pub moved_m: f32,
    /// The unit's battery at or below this → `UnitBatteryLow`; clears at this + 5. Default 20.
    pub unit_battery_low_pct: u8,
    /// Pads / battery expiring within this many days → maintenance due. Default 30.
    pub expiry_soon_days: u32,
    /// No message for this many reporting intervals → silent (unknown). Default 2.
    pub silent_after_intervals: u32,
}

impl Default for ModelRules {
    fn default() -> Self {
        ModelRules {
            temp_min_c: 0.0,
            temp_max_c: 50.0,
            temp_hysteresis_c: 2.0,
            temp_grace_s: 1800,
            light_off_grace_s: 600,
            beeps_sustain_s: 120,
            moved_m: 50.0,
            unit_battery_low_pct: 20,
            expiry_soon_days: 30,
            silent_after_intervals: 2,
        }
    }
}

impl ModelRules {
    /// Checks that the thresholds make sense (for configuration loading).
    /// The rules never panic on any values, but nonsense gives nonsense.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi, h) = (self.temp_min_c, self.temp_max_c, self.temp_hysteresis_c);
        if !lo.is_finite() || !hi.is_finite() || !h.is_finite() {
            return Err("temperatures must be finite numbers".into());
        }
        if lo >= hi {
            return Err(format!("temp_min_c ({lo}) must be below temp_max_c ({hi})"));
        }
        if h < 0.0 || 2.0 * h >= hi - lo {
            return Err(format!(
                "temp_hysteresis_c ({h}) must be >= 0 and less than half the range"
            ));
        }
        if !self.moved_m.is_finite() || self.moved_m <= 0.0 {
            return Err(format!(
                "moved_m ({}) must be a positive number",
                self.moved_m
            ));
        }
        if self.unit_battery_low_pct > 100 {
            return Err(format!(
                "unit_battery_low_pct ({}) must be <= 100",
                self.unit_battery_low_pct
            ));
        }
        Ok(())
    }
}

/// What the rules need to know about the unit besides its readings. Build
/// it per call; it borrows the model's rules.
#[derive(Debug, Clone, Copy)]
pub struct UnitCtx<'a> {
    pub rules: &'a ModelRules,
    /// The AED's registered place; `None` disables the "moved" rule.
    pub registered: Option<LatLon>,
    /// The unit's reporting interval; 0 disables the "silent" rule.
    pub interval_s: u32,
    /// Last day the pads / the AED's battery are valid (from the registry).
    pub pad_expiry: Option<NaiveDate>,
    pub battery_expiry: Option<NaiveDate>,
}

// ------------------------------------------------------------------ causes

/// Why a unit is not simply ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    StatusFault,
    StatusOff,
    TemperatureLow,
    TemperatureHigh,
    Beeps,
    Moved,
    Silent,
    PadsExpired,
    BatteryExpired,
    PadsExpiring,
    BatteryExpiring,
    UnitBatteryLow,
    AedRemoved,
    Tamper,
}

impl Cause {
    pub const ALL: [Cause; 14] = [
        Cause::StatusFault,
        Cause::StatusOff,
        Cause::TemperatureLow,
        Cause::TemperatureHigh,
        Cause::Beeps,
        Cause::Moved,
        Cause::Silent,
        Cause::PadsExpired,
        Cause::BatteryExpired,
        Cause::PadsExpiring,
        Cause::BatteryExpiring,
        Cause::UnitBatteryLow,
        Cause::AedRemoved,
        Cause::Tamper,
    ];

    /// Stable snake_case code (tickets, metrics, API).
    pub fn code(self) -> &'static str {
        match self {
            Cause::StatusFault => "status_fault",
            Cause::StatusOff => "status_off",
            Cause::TemperatureLow => "temperature_low",
            Cause::TemperatureHigh => "temperature_high",
            Cause::Beeps => "beeps",
            Cause::Moved => "moved",
            Cause::Silent => "silent",
            Cause::PadsExpired => "pads_expired",
            Cause::BatteryExpired => "battery_expired",
            Cause::PadsExpiring => "pads_expiring",
            Cause::BatteryExpiring => "battery_expiring",
            Cause::UnitBatteryLow => "unit_battery_low",
            Cause::AedRemoved => "aed_removed",
            Cause::Tamper => "tamper",
        }
    }

    /// What the cause does to readiness when it opens. Temperature causes
    /// open as `AtRisk` and escalate to `NotReady` after the grace period
    /// ([`UnitState::active`] reports the current level). `UnitBatteryLow`
    /// (maintenance of the unit) and `Tamper` (a check) are `Info`: reported,
    /// no effect on the AED's readiness.
    pub fn severity(self) -> Severity {
        match self {
            Cause::StatusFault
            | Cause::StatusOff
            | Cause::Beeps
            | Cause::PadsExpired
            | Cause::BatteryExpired
            | Cause::AedRemoved => Severity::NotReady,
            Cause::TemperatureLow | Cause::TemperatureHigh => Severity::AtRisk,
            Cause::Moved => Severity::Missing,
            Cause::Silent => Severity::Unknown,
            Cause::PadsExpiring | Cause::BatteryExpiring => Severity::MaintenanceDue,
            Cause::UnitBatteryLow | Cause::Tamper => Severity::Info,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A cause's effect, in increasing priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Reported, no effect on the AED's readiness.
    Info,
    MaintenanceDue,
    Unknown,
    AtRisk,
    NotReady,
    Missing,
}

impl Severity {
    /// The readiness this severity imposes (`None` for `Info`).
    pub fn readiness(self) -> Option<Readiness> {
        match self {
            Severity::Info => None,
            Severity::MaintenanceDue => Some(Readiness::MaintenanceDue),
            Severity::Unknown => Some(Readiness::Unknown),
            Severity::AtRisk => Some(Readiness::AtRisk),
            Severity::NotReady => Some(Readiness::NotReady),
            Severity::Missing => Some(Readiness::Missing),
        }
    }
}

/// The readiness of a unit with these active causes: the most severe effect,
/// `Ready` when none has one (never `Unmonitored`).
pub fn readiness_of(causes: &[(Cause, Severity)]) -> Readiness {
    causes
        .iter()
        .map(|(_, s)| *s)
        .max()
        .and_then(Severity::readiness)
        .unwrap_or(Readiness::Ready)
}

/// A set of causes (bit per cause); serialized as a list of codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CauseSet(u16);

impl CauseSet {
    fn contains(self, c: Cause) -> bool {
        self.0 & c.bit() != 0
    }
    fn insert(&mut self, c: Cause) {
        self.0 |= c.bit();
    }
    fn iter(self) -> impl Iterator<Item = Cause> {
        Cause::ALL.into_iter().filter(move |c| self.contains(*c))
    }
    fn minus(self, other: CauseSet) -> Vec<Cause> {
        CauseSet(self.0 & !other.0).iter().collect()
    }
}

impl Serialize for CauseSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CauseSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<Cause>::deserialize(d)?;
        let mut set = CauseSet::default();
        for c in v {
            set.insert(c);
        }
        Ok(set)
    }
}

// ------------------------------------------------------------------ time

/// Milliseconds since the epoch, `i64::MIN` = never (smaller than any
/// instant, so "newer than" comparisons need no special case). Serialized as
/// an optional integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ms(i64);

impl Ms {
    const NEVER: Ms = Ms(i64::MIN);

    fn of(t: DateTime<Utc>) -> Ms {
        Ms(t.timestamp_millis())
    }
    fn is_some(self) -> bool {
        self != Ms::NEVER
    }
    fn get(self) -> Option<i64> {
        self.is_some().then_some(self.0)
    }
    fn to_datetime(self) -> Option<DateTime<Utc>> {
        self.get().and_then(DateTime::from_timestamp_millis)
    }
    fn plus_s(self, s: u64) -> Option<i64> {
        let add = i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.get().map(|v| v.saturating_add(add))
    }
    /// Whether at least `s` seconds passed from `self` to `now` (false when never).
    fn elapsed(self, now: Ms, s: u64) -> bool {
        self.plus_s(s).is_some_and(|due| now.0 >= due)
    }
}

impl Default for Ms {
    fn default() -> Self {
        Ms::NEVER
    }
}

impl Serialize for Ms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map_or(Ms::NEVER, Ms))
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn midnight_ms(d: NaiveDate) -> Option<i64> {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
}

// ------------------------------------------------------------------ outputs

/// Edges the server acts on: during a mission that sent a volunteer to this
/// AED they confirm "AED collected"; otherwise they open a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum UnitEvent {
    DoorOpened { at: DateTime<Utc> },
    DoorClosed { at: DateTime<Utc> },
    AedRemoved { at: DateTime<Utc> },
    AedReturned { at: DateTime<Utc> },
}

impl UnitEvent {
    /// When it happened (the reading's timestamp).
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            UnitEvent::DoorOpened { at }
            | UnitEvent::DoorClosed { at }
            | UnitEvent::AedRemoved { at }
            | UnitEvent::AedReturned { at } => at,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            UnitEvent::DoorOpened { .. } => "door_opened",
            UnitEvent::DoorClosed { .. } => "door_closed",
            UnitEvent::AedRemoved { .. } => "aed_removed",
            UnitEvent::AedReturned { .. } => "aed_returned",
        }
    }
}

/// The latest value of each signal, for the console.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LastValues {
    /// The latest reading of the light, `Unknown` included.
    pub light: Option<StatusLight>,
    pub temperature_c: Option<f32>,
    pub beeps: Option<bool>,
    pub position: Option<LatLon>,
    pub unit_battery_pct: Option<u8>,
    pub door_open: Option<bool>,
    pub aed_present: Option<bool>,
    pub tamper: Option<bool>,
}

/// What one `apply` or `tick` changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub before: Readiness,
    pub after: Readiness,
    /// Causes that became active, in `Cause` order.
    pub opened: Vec<Cause>,
    /// Causes that stopped being active, in `Cause` order.
    pub cleared: Vec<Cause>,
    pub events: Vec<UnitEvent>,
    /// Signals ignored because a newer value of their kind was already applied.
    pub stale_signals: u32,
}

impl Transition {
    /// Nothing changed: same readiness, no cause opened or cleared, no event.
    /// (`stale_signals` is a counter and does not make a change.)
    pub fn is_noop(&self) -> bool {
        self.before == self.after
            && self.opened.is_empty()
            && self.cleared.is_empty()
            && self.events.is_empty()
    }
}

/// Why a reading was not applied at all.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum Rejected {
    #[error("timestamp is in the future")]
    FromFuture,
    #[error("older than the unit's current state")]
    TooOld,
}

impl Rejected {
    pub fn code(self) -> &'static str {
        match self {
            Rejected::FromFuture => "from_future",
            Rejected::TooOld => "too_old",
        }
    }
}

// ------------------------------------------------------------------ state

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TempZone {
    #[default]
    InRange,
    Low,
    High,
}

/// Index of the "informative light" timestamp in `UnitState::ts` (after the
/// eight signal kinds).
const LIGHT_RULE: usize = 8;

/// One unit's rule state: small (see `size_of`), no heap, serializable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    /// Reference for the silence rule before the first reading.
    watch_from: Ms,
    /// Server time of the last accepted reading (silence rule).
    last_heard: Ms,
    /// Milliseconds since the silence reference during which the server
    /// could not hear the unit (it was not running, or had not saved what it
    /// heard): they do not count towards silence. Reset by every reading.
    #[serde(default, skip_serializing_if = "is_zero")]
    unheard_ms: i64,
    /// Largest reading timestamp accepted.
    last_seen: Ms,
    /// Timestamp of the last applied value per signal kind
    /// (`SignalKind::index`), plus the last informative light (`LIGHT_RULE`).
    ts: [Ms; 9],
    /// The light has been informatively "off" since.
    off_since: Ms,
    /// Temperature continuously out of range since.
    temp_out_since: Ms,
    /// Beeping continuously since.
    beeps_since: Ms,
    position: Option<LatLon>,
    temp_c: Option<f32>,
    /// Latest light reading, `Unknown` included (console).
    light: Option<StatusLight>,
    /// Latest informative light (ok / fault / off): what the rules use.
    rule_light: Option<StatusLight>,
    beeps: Option<bool>,
    battery: Option<u8>,
    door_open: Option<bool>,
    aed_present: Option<bool>,
    tamper: Option<bool>,
    temp_zone: TempZone,
    /// The temperature cause is at its escalated level (not ready).
    temp_escalated: bool,
    active: CauseSet,
}

impl UnitState {
    /// A state for a unit being watched from `since` (typically when it was
    /// provisioned or when the server started): if it never reports, it is
    /// silent two intervals later. `Default` has no such reference and only
    /// becomes silent after its first reading.
    pub fn new(since: DateTime<Utc>) -> UnitState {
        UnitState {
            watch_from: Ms::of(since),
            ..UnitState::default()
        }
    }

    /// Applies one reading received at `now`. Readings stamped more than
    /// [`MAX_FUTURE_SKEW_S`] after `now` are `FromFuture`, more than
    /// [`MAX_READING_AGE_S`] before it `TooOld`; nothing changes then.
    ///
    /// Each signal is applied only if its timestamp is not older than the
    /// last applied value of its kind (older ones are counted in
    /// `stale_signals`), so late or reordered telemetry never rolls state
    /// back. Several signals of one kind in a reading apply in order.
    /// Any accepted reading (even all stale, even a heartbeat) clears
    /// `Silent`. Time-driven rules are then evaluated at `now`.
    pub fn apply(
        &mut self,
        ctx: &UnitCtx,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Result<Transition, Rejected> {
        let now_ms = Ms::of(now);
        let at = Ms::of(reading.at);
        if at.0 > now_ms.0.saturating_add(MAX_FUTURE_SKEW_S * 1000) {
            return Err(Rejected::FromFuture);
        }
        if at.0 < now_ms.0.saturating_sub(MAX_READING_AGE_S * 1000) {
            return Err(Rejected::TooOld);
        }
        let before = (self.readiness(), self.active);
        self.last_heard = self.last_heard.max(now_ms);
        self.unheard_ms = 0;
        self.last_seen = self.last_seen.max(at);
        let mut events = Vec::new();
        let mut stale = 0u32;
        for s in &reading.signals {
            if !self.apply_signal(ctx.rules, *s, at, reading.at, &mut events) {
                stale = stale.saturating_add(1);
            }
        }
        self.evaluate(ctx, now_ms);
        Ok(self.transition(before, events, stale))
    }

    /// Time-driven rules at `now`: silence, grace periods running out,
    /// expiry dates passing; also re-evaluates the rules that depend on the
    /// context (registered place, dates, thresholds), so call it after the
    /// context changed.
    pub fn tick(&mut self, ctx: &UnitCtx, now: DateTime<Utc>) -> Transition {
        let before = (self.readiness(), self.active);
        self.evaluate(ctx, Ms::of(now));
        self.transition(before, Vec::new(), 0)
    }

    /// The server could not hear the unit from `from` until `to` (it was not
    /// running; `from` is when what it had heard was last saved): that time
    /// does not count towards the unit's silence, so its silence deadline
    /// moves back by the part of the gap after the unit was last heard
    /// (`from: None`, nothing known: the whole time since then, i.e. the
    /// unit is treated as heard at `to`). A unit already silent stays
    /// silent (only a reading clears that). Returns the time added.
    pub fn resume(&mut self, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> chrono::Duration {
        let reference = self.raw_silence_reference();
        if self.has(Cause::Silent) || !reference.is_some() {
            return chrono::Duration::zero();
        }
        let start = from.map_or(reference, |f| Ms::of(f).max(reference));
        let gap = Ms::of(to).0.saturating_sub(start.0);
        if gap <= 0 {
            return chrono::Duration::zero();
        }
        self.unheard_ms = self.unheard_ms.saturating_add(gap);
        chrono::Duration::milliseconds(gap)
    }

    /// `Ready` when no cause with an effect is active (never `Unmonitored`).
    pub fn readiness(&self) -> Readiness {
        readiness_of(&self.active())
    }

    /// The active causes, in `Cause` order.
    pub fn causes(&self) -> Vec<Cause> {
        self.active.iter().collect()
    }

    /// The active causes with their current severity.
    pub fn active(&self) -> Vec<(Cause, Severity)> {
        self.active
            .iter()
            .map(|c| (c, self.severity_now(c)))
            .collect()
    }

    /// Whether the cause is active.
    pub fn has(&self, cause: Cause) -> bool {
        self.active.contains(cause)
    }

    /// The largest reading timestamp accepted.
    pub fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.last_seen.to_datetime()
    }

    /// Server time (`now`) of the last accepted reading.
    pub fn last_heard(&self) -> Option<DateTime<Utc>> {
        self.last_heard.to_datetime()
    }

    /// Timestamp of the latest applied value of a kind.
    pub fn last_value_at(&self, kind: SignalKind) -> Option<DateTime<Utc>> {
        self.ts.get(kind.index()).and_then(|t| t.to_datetime())
    }

    pub fn last_value(&self) -> LastValues {
        LastValues {
            light: self.light,
            temperature_c: self.temp_c,
            beeps: self.beeps,
            position: self.position,
            unit_battery_pct: self.battery,
            door_open: self.door_open,
            aed_present: self.aed_present,
            tamper: self.tamper,
        }
    }

    /// The earliest instant at which [`UnitState::tick`] could change
    /// something, given the context: a grace period or sustain time running
    /// out, the silence window closing, an expiry date being reached. May be
    /// in the past (tick at once). `None`: nothing time-driven is pending.
    pub fn next_deadline(&self, ctx: &UnitCtx) -> Option<DateTime<Utc>> {
        let r = ctx.rules;
        let mut best: Option<i64> = None;
        let mut consider = |t: Option<i64>| {
            if let Some(t) = t {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        };
        if self.rule_light == Some(StatusLight::Off) && !self.has(Cause::StatusOff) {
            consider(self.off_since.plus_s(u64::from(r.light_off_grace_s)));
        }
        if self.temp_zone != TempZone::InRange && !self.temp_escalated {
            consider(self.temp_out_since.plus_s(u64::from(r.temp_grace_s)));
        }
        if self.beeps == Some(true) && !self.has(Cause::Beeps) {
            consider(self.beeps_since.plus_s(u64::from(r.beeps_sustain_s)));
        }
        if let Some(window) = silence_window_s(ctx)
            && !self.has(Cause::Silent)
        {
            consider(self.silence_reference().plus_s(window));
        }
        for (date, expired, expiring) in [
            (ctx.pad_expiry, Cause::PadsExpired, Cause::PadsExpiring),
            (
                ctx.battery_expiry,
                Cause::BatteryExpired,
                Cause::BatteryExpiring,
            ),
        ] {
            let Some(d) = date else { continue };
            if self.has(expired) {
                continue;
            }
            if !self.has(expiring) {
                let from = d
                    .checked_sub_days(Days::new(u64::from(r.expiry_soon_days)))
                    .unwrap_or(NaiveDate::MIN);
                consider(midnight_ms(from));
            }
            consider(d.checked_add_days(Days::new(1)).and_then(midnight_ms));
        }
        best.and_then(DateTime::from_timestamp_millis)
    }

    // ---------------------------------------------------------- internals

    fn severity_now(&self, c: Cause) -> Severity {
        match c {
            Cause::TemperatureLow | Cause::TemperatureHigh if self.temp_escalated => {
                Severity::NotReady
            }
            c => c.severity(),
        }
    }

    /// When the unit was last heard (or watched from, before its first reading).
    fn raw_silence_reference(&self) -> Ms {
        if self.last_heard.is_some() {
            self.last_heard
        } else {
            self.watch_from
        }
    }

    /// What silence is measured from: the last time heard, moved on by the
    /// time the server could not hear (see [`UnitState::resume`]).
    fn silence_reference(&self) -> Ms {
        let r = self.raw_silence_reference();
        if r.is_some() {
            Ms(r.0.saturating_add(self.unheard_ms.max(0)))
        } else {
            r
        }
    }

    fn transition(
        &self,
        before: (Readiness, CauseSet),
        events: Vec<UnitEvent>,
        stale: u32,
    ) -> Transition {
        Transition {
            before: before.0,
            after: self.readiness(),
            opened: self.active.minus(before.1),
            cleared: before.1.minus(self.active),
            events,
            stale_signals: stale,
        }
    }

    /// Takes the newer-or-equal timestamp slot of a kind; false if stale.
    fn claim(&mut self, slot: usize, at: Ms) -> bool {
        match self.ts.get_mut(slot) {
            Some(t) if at >= *t => {
                *t = at;
                true
            }
            _ => false,
        }
    }

    /// Applies one signal; false when it was stale (or carried no usable value).
    fn apply_signal(
        &mut self,
        rules: &ModelRules,
        s: Signal,
        at: Ms,
        at_dt: DateTime<Utc>,
        events: &mut Vec<UnitEvent>,
    ) -> bool {
        let slot = s.kind().index();
        match s {
            Signal::StatusLight(l) => {
                let shown = self.claim(slot, at);
                if shown {
                    self.light = Some(l);
                }
                // "Unknown" carries no information: it neither sets nor
                // resets what the rules know.
                let informative = l != StatusLight::Unknown && self.claim(LIGHT_RULE, at);
                if informative {
                    if l != StatusLight::Off {
                        self.off_since = Ms::NEVER;
                    } else if self.rule_light != Some(StatusLight::Off) {
                        self.off_since = at;
                    }
                    self.rule_light = Some(l);
                }
                shown || informative
            }
            Signal::TemperatureC(v) => {
                if !v.is_finite() || !self.claim(slot, at) {
                    return false;
                }
                self.temp_c = Some(v);
                self.apply_temperature(rules, v, at);
                true
            }
            Signal::Beeps(b) => {
                if !self.claim(slot, at) {
                    return false;
                }
                if !b {
                    self.beeps_since = Ms::NEVER;
                } else if self.beeps != Some(true) {
                    self.beeps_since = at;
                }
                self.beeps = Some(b);
                true
            }
            Signal::Position(p) => {
                if !p.lat.is_finite() || !p.lon.is_finite() || !self.claim(slot, at) {
                    return false;
                }
                self.position = Some(p);
                true
            }
            Signal::UnitBatteryPct(b) => {
                if !self.claim(slot, at) {
                    return false;
                }
                self.battery = Some(b.min(100));
                true
            }
            Signal::DoorOpen(open) => {
                if !self.claim(slot, at) {
                    return false;
                }
                match (self.door_open, open) {
                    (Some(true), true) | (Some(false) | None, false) => {}
                    (_, true) => events.push(UnitEvent::DoorOpened { at: at_dt }),
                    (Some(true), false) => events.push(UnitEvent::DoorClosed { at: at_dt }),
                }
                self.door_open = Some(open);
                true
            }
            Signal::AedPresent(present) => {
                if !self.claim(slot, at) {
                    return false;
                }
                match (self.aed_present, present) {
                    (Some(false), false) | (Some(true) | None, true) => {}
                    (_, false) => events.push(UnitEvent::AedRemoved { at: at_dt }),
                    (Some(false), true) => events.push(UnitEvent::AedReturned { at: at_dt }),
                }
                self.aed_present = Some(present);
                true
            }
            Signal::Tamper(t) => {
                if !self.claim(slot, at) {
                    return false;
                }
                self.tamper = Some(t);
                true
            }
        }
    }

    /// Temperature zone with hysteresis. Leaving a zone for the other side
    /// directly (below min to above max) keeps the out-of-range timer.
    fn apply_temperature(&mut self, r: &ModelRules, v: f32, at: Ms) {
        let (lo, hi, h) = (r.temp_min_c, r.temp_max_c, r.temp_hysteresis_c);
        let zone = match self.temp_zone {
            TempZone::InRange if v < lo => TempZone::Low,
            TempZone::InRange if v > hi => TempZone::High,
            TempZone::InRange => TempZone::InRange,
            TempZone::Low if v > hi => TempZone::High,
            TempZone::Low if v > lo + h => TempZone::InRange,
            TempZone::Low => TempZone::Low,
            TempZone::High if v < lo => TempZone::Low,
            TempZone::High if v < hi - h => TempZone::InRange,
            TempZone::High => TempZone::High,
        };
        if zone == TempZone::InRange {
            self.temp_out_since = Ms::NEVER;
            self.temp_escalated = false;
        } else if self.temp_zone == TempZone::InRange {
            self.temp_out_since = at;
        }
        self.temp_zone = zone;
    }

    /// Recomputes the active causes at `now`.
    fn evaluate(&mut self, ctx: &UnitCtx, now: Ms) {
        let r = ctx.rules;
        let was = self.active;
        let mut set = CauseSet::default();

        match self.rule_light {
            Some(StatusLight::Fault) => set.insert(Cause::StatusFault),
            Some(StatusLight::Off)
                if self.off_since.elapsed(now, u64::from(r.light_off_grace_s)) =>
            {
                set.insert(Cause::StatusOff)
            }
            _ => {}
        }

        match self.temp_zone {
            TempZone::InRange => self.temp_escalated = false,
            zone => {
                set.insert(if zone == TempZone::Low {
                    Cause::TemperatureLow
                } else {
                    Cause::TemperatureHigh
                });
                self.temp_escalated = self.temp_out_since.elapsed(now, u64::from(r.temp_grace_s));
            }
        }

        if self.beeps == Some(true) && self.beeps_since.elapsed(now, u64::from(r.beeps_sustain_s)) {
            set.insert(Cause::Beeps);
        }

        if let (Some(home), Some(here)) = (ctx.registered, self.position) {
            let d = home.distance_m(here);
            let limit = f64::from(r.moved_m) * if was.contains(Cause::Moved) { 0.8 } else { 1.0 };
            if d > limit {
                set.insert(Cause::Moved);
            }
        }

        if let Some(window) = silence_window_s(ctx)
            && self.silence_reference().elapsed(now, window)
        {
            set.insert(Cause::Silent);
        }

        if let Some(today) = DateTime::from_timestamp_millis(now.0).map(|t| t.date_naive()) {
            for (date, expired, expiring) in [
                (ctx.pad_expiry, Cause::PadsExpired, Cause::PadsExpiring),
                (
                    ctx.battery_expiry,
                    Cause::BatteryExpired,
                    Cause::BatteryExpiring,
                ),
            ] {
                let Some(d) = date else { continue };
                let days_left = d.signed_duration_since(today).num_days();
                if days_left < 0 {
                    set.insert(expired);
                } else if days_left <= i64::from(r.expiry_soon_days) {
                    set.insert(expiring);
                }
            }
        }

        if let Some(b) = self.battery {
            let low = r.unit_battery_low_pct;
            if b <= low || (was.contains(Cause::UnitBatteryLow) && b < low.saturating_add(5)) {
                set.insert(Cause::UnitBatteryLow);
            }
        }

        if self.aed_present == Some(false) {
            set.insert(Cause::AedRemoved);
        }
        if self.tamper == Some(true) {
            set.insert(Cause::Tamper);
        }
        self.active = set;
    }
}

/// The silence window in seconds, `None` when the rule is off.
fn silence_window_s(ctx: &UnitCtx) -> Option<u64> {
    let w = u64::from(ctx.rules.silent_after_intervals) * u64::from(ctx.interval_s);
    (w > 0).then_some(w)
}

#[cfg(test)]
mod tests;
