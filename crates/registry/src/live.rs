//! The in-memory registry dispatch asks: "which AEDs can a responder use at
//! time t near this point". AEDs are kept in a spatial grid with their parsed
//! opening hours; live claims and AEDs out for return are tracked here.
//!
//! The query path allocates only the returned candidates (and their names):
//! each grid cell keeps what a query needs of its AEDs contiguously (position,
//! id, readiness, access, usability, name), points are tested on a local
//! planar projection (haversine only near the radius), and opening hours are
//! answered from a per-AED timeline of changes for the coming week
//! ([`OpeningHours::changes_between`], exact: the same states and next changes
//! as the full evaluator), with the current period cached lock-free beside the
//! AED in its cell. [`AedRegistry::warm`] builds the timelines ahead of queries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, Ordering, fence};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use firstlink_domain::aed::{AedAccess, AedCandidate, AedSource, Readiness};
use firstlink_domain::geo::{EARTH_RADIUS_M, LatLon};
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_hours::{
    Context, Country, CountryHolidays, HolidayCalendar, NoHolidays, OpeningHours, State,
};
use firstlink_store::{Aed, AedStatus};

/// Grid cell height: about the typical search radius / 2.
const CELL_M: f64 = 500.0;

/// A schedule answers queries in `[from, from + SCHEDULE_VALID_S)` …
const SCHEDULE_VALID_S: i64 = 7 * 86_400;
/// … from the changes the evaluator lists up to `from + SCHEDULE_SCAN_S`, of
/// which those up to `SCAN_TRUSTED_S` before the end are kept (the evaluator
/// reads day programs from the day before `from` to about one day past the
/// end, so the last day or two of a scan may lack a change).
const SCHEDULE_SCAN_S: i64 = 10 * 86_400;
const SCAN_TRUSTED_S: i64 = 2 * 86_400;
/// [`AedRegistry::warm`] rebuilds schedules that end less than this after `at`.
const WARM_AHEAD_S: i64 = 2 * 86_400;

struct Entry {
    aed: Aed,
    hours: Option<OpeningHours>,
    always: bool,
    tz: Tz,
    holidays: Option<CountryHolidays>,
    /// Claimed on a mission or out for return (mirrors `claims` / `out`).
    blocked: bool,
    cache: Mutex<HoursCache>,
}

#[derive(Default)]
struct HoursCache {
    schedule: Option<Schedule>,
    /// The last full evaluation: the state holds from `.from` until `.until`.
    /// Used only where the schedule cannot answer: an open period with no end
    /// within the horizon of [`OpeningHours::next_change`], or, for
    /// [`AedRegistry::open_state`], a closed period that lasts for days.
    last: Option<Cached>,
}

#[derive(Clone, Copy)]
struct Cached {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    /// `None`: unknown.
    open: Option<bool>,
}

/// An AED's opening-hours timeline over a window: the state at `from` and
/// every change after it, as the full evaluator computes them
/// ([`OpeningHours::changes_between`]). A lookup is a binary search, with
/// no allocation. Exact: the state is constant between two changes, and the
/// next listed change after `t` is `next_change(t)`.
struct Schedule {
    /// Whole seconds (UTC): queries in `[from, valid_to)` are answered.
    from: i64,
    valid_to: i64,
    start: State,
    /// Ascending; each state differs from the one before. When the last
    /// period starts inside the valid window and is open, its end is appended,
    /// so an open state always comes with its end unless the evaluator finds
    /// none; a closed state's next opening may be missing.
    changes: Vec<(i64, State)>,
}

impl Schedule {
    fn build(e: &Entry, h: &OpeningHours, at: DateTime<Utc>) -> Option<Self> {
        let from_s = at.timestamp();
        let from = DateTime::<Utc>::from_timestamp(from_s, 0)?;
        let to = DateTime::<Utc>::from_timestamp(from_s.checked_add(SCHEDULE_SCAN_S)?, 0)?;
        let valid_to = from_s.saturating_add(SCHEDULE_VALID_S);
        let cal = calendar(e);
        let ctx = Context::new(cal).with_location(e.aed.position.lat, e.aed.position.lon);
        let (start, list) = h.changes_between(from, to, e.tz, &ctx);
        let trusted = from_s + SCHEDULE_SCAN_S - SCAN_TRUSTED_S;
        let mut changes: Vec<(i64, State)> = list
            .into_iter()
            .map(|(t, s)| (t.timestamp(), s))
            .take_while(|c| c.0 <= trusted)
            .collect();
        let (last_s, last_state) = changes.last().copied().unwrap_or((from_s, start));
        // The last period matters only if queries can fall in it; then find
        // its end (rare: no change for days). An open period always gets its
        // end when there is one; a closed one's opening is left to the full
        // evaluator for `open_state`.
        if last_s < valid_to && last_state == State::Open {
            let last_at = DateTime::<Utc>::from_timestamp(last_s, 0)?;
            if let Some(end) = Self::period_end(h, last_at, e.tz, &ctx) {
                changes.push((end.timestamp(), h.state_at_instant(end, e.tz, &ctx)));
            }
        }
        Some(Self {
            from: from_s,
            valid_to,
            start,
            changes,
        })
    }

    /// `next_change(t)`, found with growing scans rather than the full horizon.
    fn period_end(
        h: &OpeningHours,
        t: DateTime<Utc>,
        tz: Tz,
        ctx: &Context<'_>,
    ) -> Option<DateTime<Utc>> {
        let horizon =
            t.checked_add_signed(Duration::days(firstlink_hours::NEXT_CHANGE_HORIZON_DAYS))?;
        let mut days = 8;
        loop {
            let lim = t
                .checked_add_signed(Duration::days(days))
                .map_or(horizon, |l| l.min(horizon));
            let (_, list) = h.changes_between(t, lim, tz, ctx);
            let first = list.first().map(|c| c.0);
            if lim >= horizon {
                // The same scan as `next_change`.
                return first;
            }
            if let Some(c) = first.filter(|c| *c <= lim - Duration::seconds(SCAN_TRUSTED_S)) {
                return Some(c);
            }
            days *= 4;
        }
    }

    /// Writes the period holding `t` (within the valid window) to `seg`.
    fn fill(&self, t: i64, seg: &Segment) {
        if !self.covers(t) {
            return;
        }
        let k = self.changes.partition_point(|c| c.0 <= t);
        let (from, state) = if k == 0 {
            (self.from, self.start)
        } else {
            self.changes[k - 1]
        };
        let next = self.changes.get(k).map(|c| c.0);
        let code = match (state, next) {
            (State::Open, Some(_)) => SEG_OPEN,
            // Open with no end known: the full evaluator answers.
            (State::Open, None) => SEG_EMPTY,
            (State::Closed, Some(_)) => SEG_CLOSED,
            (State::Closed, None) => SEG_CLOSED_UNTIL_UNKNOWN,
            (State::Unknown, _) => SEG_UNKNOWN,
        };
        let until = next.unwrap_or(i64::MAX).min(self.valid_to);
        seg.write(from.max(self.from), until, next, code);
    }

    fn covers(&self, t: i64) -> bool {
        self.from <= t && t < self.valid_to
    }

    /// The state at `t` (whole seconds, floor) and the next change, if `t` is
    /// covered and the schedule knows the next change where it matters (open,
    /// or closed with `closed_until`).
    fn lookup(&self, t: i64, closed_until: bool) -> Option<(State, Option<i64>)> {
        if !self.covers(t) {
            return None;
        }
        let k = self.changes.partition_point(|c| c.0 <= t);
        let state = if k == 0 {
            self.start
        } else {
            self.changes[k - 1].1
        };
        let next = self.changes.get(k).map(|c| c.0);
        let needed = match state {
            State::Open => true,
            State::Closed => closed_until,
            State::Unknown => false,
        };
        if next.is_none() && needed {
            return None;
        }
        Some((state, next))
    }
}

fn calendar(e: &Entry) -> &dyn HolidayCalendar {
    match &e.holidays {
        Some(c) => c,
        None => &NoHolidays,
    }
}

/// An AED taken on a mission that has not been confirmed back in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutForReturn {
    pub incident: IncidentId,
    pub volunteer: VolunteerId,
    pub since: DateTime<Utc>,
}

/// One grid cell: what a query needs of its AEDs, stored contiguously
/// (in insertion order), with their names in one buffer, so that a query
/// reads a few cache lines per cell instead of several per AED.
#[derive(Default)]
struct Cell {
    hot: Vec<Hot>,
    names: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HoursKind {
    Always,
    /// No (parsable) opening hours.
    Unknown,
    Timed,
}

/// An AED as queries see it; kept in step with its [`Entry`] by every
/// `&mut self` method.
struct Hot {
    idx: u32,
    id: AedId,
    lat: f64,
    lon: f64,
    readiness: Readiness,
    access: AedAccess,
    /// Active, not excluded by readiness, not claimed, not out for return.
    usable: bool,
    hours: HoursKind,
    /// Byte range of the name in [`Cell::names`].
    name: (u32, u32),
    seg: Segment,
}

/// The opening-hours answer for the period around the last query, readable
/// without a lock (a sequence lock over atomics; writers hold the entry's
/// cache mutex).
#[derive(Default)]
struct Segment {
    seq: AtomicU32,
    /// The answer holds for queries in `[from, until)` (whole seconds).
    from: AtomicI64,
    until: AtomicI64,
    /// The next change (`NONE`: none).
    next: AtomicI64,
    /// `SEG_*`.
    state: AtomicU8,
}

const NONE: i64 = i64::MIN;
const SEG_EMPTY: u8 = 0;
const SEG_OPEN: u8 = 1;
const SEG_CLOSED: u8 = 2;
/// Closed, and the schedule does not know when it opens.
const SEG_CLOSED_UNTIL_UNKNOWN: u8 = 3;
const SEG_UNKNOWN: u8 = 4;

impl Segment {
    /// `(state, next change)` at `t`, if this segment answers it.
    #[inline]
    fn read(&self, t: i64, closed_until: bool) -> Option<(State, Option<i64>)> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return None;
        }
        let (from, until, next, state) = (
            self.from.load(Ordering::Relaxed),
            self.until.load(Ordering::Relaxed),
            self.next.load(Ordering::Relaxed),
            self.state.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != s1 || t < from || t >= until {
            return None;
        }
        let next = (next != NONE).then_some(next);
        match state {
            SEG_OPEN => Some((State::Open, next)),
            SEG_CLOSED => Some((State::Closed, next)),
            SEG_CLOSED_UNTIL_UNKNOWN if !closed_until => Some((State::Closed, None)),
            SEG_UNKNOWN => Some((State::Unknown, None)),
            _ => None,
        }
    }

    /// Only with the entry's cache mutex held (one writer at a time).
    fn write(&self, from: i64, until: i64, next: Option<i64>, state: u8) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.from.store(from, Ordering::Relaxed);
        self.until.store(until, Ordering::Relaxed);
        self.next.store(next.unwrap_or(NONE), Ordering::Relaxed);
        self.state.store(state, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

/// AEDs of every region with their parsed opening hours and live claims.
pub struct AedRegistry {
    /// Dense: the grid refers to entries by index. Entries are never removed.
    entries: Vec<Entry>,
    index: HashMap<AedId, u32>,
    cells: crate::grid::Cells<Cell>,
    claims: HashMap<AedId, (IncidentId, VolunteerId)>,
    collected: HashMap<AedId, IncidentId>,
    out: HashMap<AedId, OutForReturn>,
}

impl Default for AedRegistry {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
            cells: crate::grid::Cells::new(CELL_M),
            claims: HashMap::new(),
            collected: HashMap::new(),
            out: HashMap::new(),
        }
    }
}

impl AedRegistry {
    /// Adds or replaces an AED; `tz` and `country` are its region's.
    pub fn upsert(&mut self, aed: Aed, tz: Tz, country: &str) {
        let hours = aed
            .opening_hours
            .as_deref()
            .and_then(|h| OpeningHours::parse(h).ok());
        let always = hours.as_ref().is_some_and(OpeningHours::is_24_7);
        let holidays = Country::from_iso_code(country).map(CountryHolidays);
        let blocked = self.claims.contains_key(&aed.id) || self.out.contains_key(&aed.id);
        let id = aed.id;
        let entry = Entry {
            aed,
            hours,
            always,
            tz,
            holidays,
            blocked,
            cache: Mutex::new(HoursCache::default()),
        };
        let idx = match self.index.get(&id) {
            Some(&i) => {
                self.remove_hot(i);
                self.entries[i as usize] = entry;
                i
            }
            None => {
                let Ok(i) = u32::try_from(self.entries.len()) else {
                    return;
                };
                self.entries.push(entry);
                self.index.insert(id, i);
                i
            }
        };
        let e = &self.entries[idx as usize];
        let key = self.cells.key(e.aed.position);
        let cell = self.cells.cells.entry(key).or_default();
        let hot = hot(idx, e, &mut cell.names);
        cell.hot.push(hot);
    }

    /// Takes entry `i` out of its cell (its position is the entry's).
    fn remove_hot(&mut self, i: u32) {
        let key = self.cells.key(self.entries[i as usize].aed.position);
        let Some(cell) = self.cells.cells.get_mut(&key) else {
            return;
        };
        cell.hot.retain(|h| h.idx != i);
        if cell.hot.is_empty() {
            self.cells.cells.remove(&key);
            return;
        }
        // Rebuild the names buffer without the removed one.
        let mut names = String::with_capacity(cell.names.len());
        for h in &mut cell.hot {
            let (a, b) = (h.name.0 as usize, h.name.1 as usize);
            let start = names.len();
            names.push_str(&cell.names[a..b]);
            h.name = (start as u32, names.len() as u32);
        }
        cell.names = names;
    }

    /// Copies entry `i`'s readiness, access and usability to its cell.
    fn refresh_hot(&mut self, i: u32) {
        let e = &self.entries[i as usize];
        let key = self.cells.key(e.aed.position);
        let Some(cell) = self.cells.cells.get_mut(&key) else {
            return;
        };
        if let Some(h) = cell.hot.iter_mut().find(|h| h.idx == i) {
            h.readiness = e.aed.readiness;
            h.access = e.aed.access;
            h.usable = usable(e);
        }
    }

    fn entry(&self, id: AedId) -> Option<&Entry> {
        self.index.get(&id).map(|&i| &self.entries[i as usize])
    }

    /// Recomputes `blocked` after `claims` or `out` changed for `id`.
    fn sync_blocked(&mut self, id: AedId) {
        let blocked = self.claims.contains_key(&id) || self.out.contains_key(&id);
        if let Some(&i) = self.index.get(&id) {
            self.entries[i as usize].blocked = blocked;
            self.refresh_hot(i);
        }
    }

    /// Sets an AED's readiness as monitoring reports it; false for an unknown AED.
    /// Dispatch sees the change at its next query.
    pub fn set_readiness(&mut self, id: AedId, readiness: Readiness) -> bool {
        match self.index.get(&id) {
            Some(&i) => {
                self.entries[i as usize].aed.readiness = readiness;
                self.refresh_hot(i);
                true
            }
            None => false,
        }
    }

    pub fn get(&self, id: AedId) -> Option<&Aed> {
        self.entry(id).map(|e| &e.aed)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn all(&self, region: Option<RegionId>) -> impl Iterator<Item = &Aed> {
        self.entries
            .iter()
            .map(|e| &e.aed)
            .filter(move |a| region.is_none_or(|r| a.region_id == r))
    }

    pub fn claim(&mut self, aed: AedId, incident: IncidentId, volunteer: VolunteerId) -> bool {
        match self.claims.get(&aed) {
            Some((i, v)) => *i == incident && *v == volunteer,
            None => {
                self.claims.insert(aed, (incident, volunteer));
                self.sync_blocked(aed);
                true
            }
        }
    }

    /// Ends a mission's claim. An AED its responder had collected stays
    /// unavailable until [`AedRegistry::returned`] (fetch and return).
    pub fn release(&mut self, aed: AedId, incident: IncidentId) {
        if let Some((i, v)) = self.claims.get(&aed).copied()
            && i == incident
        {
            self.claims.remove(&aed);
            if self.collected.get(&aed) == Some(&incident) {
                self.collected.remove(&aed);
                self.out.insert(
                    aed,
                    OutForReturn {
                        incident,
                        volunteer: v,
                        since: Utc::now(),
                    },
                );
            }
            self.sync_blocked(aed);
        }
    }

    pub fn claimed_by(&self, aed: AedId) -> Option<(IncidentId, VolunteerId)> {
        self.claims.get(&aed).copied()
    }

    /// The responder of `incident` has the AED in hand.
    pub fn mark_collected(&mut self, aed: AedId, incident: IncidentId) {
        if self.claims.get(&aed).is_some_and(|(i, _)| *i == incident) {
            self.collected.insert(aed, incident);
        }
    }

    /// The AED a volunteer holds on `incident`, if any.
    pub fn claim_of(&self, incident: IncidentId, volunteer: VolunteerId) -> Option<AedId> {
        self.claims
            .iter()
            .find(|(_, c)| **c == (incident, volunteer))
            .map(|(a, _)| *a)
    }

    /// The AEDs `incident` holds, with the responder each is for.
    pub fn claims_of(&self, incident: IncidentId) -> Vec<(AedId, VolunteerId)> {
        let mut v: Vec<_> = self
            .claims
            .iter()
            .filter(|(_, (i, _))| *i == incident)
            .map(|(a, (_, v))| (*a, *v))
            .collect();
        v.sort_unstable();
        v
    }

    /// Marks an AED as out for return since `since` (e.g. restored at start-up).
    pub fn set_out(&mut self, aed: AedId, out: OutForReturn) {
        self.out.insert(aed, out);
        self.sync_blocked(aed);
    }

    /// Back in its cabinet: available again. `false` if it was not out.
    pub fn returned(&mut self, aed: AedId) -> bool {
        let was = self.out.remove(&aed).is_some();
        self.sync_blocked(aed);
        was
    }

    pub fn out_for_return(&self, aed: AedId) -> Option<OutForReturn> {
        self.out.get(&aed).copied()
    }

    /// AEDs out for longer than `timeout` at `now`: for operator follow-up.
    pub fn overdue_returns(
        &self,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Vec<(AedId, OutForReturn)> {
        let mut v: Vec<_> = self
            .out
            .iter()
            .filter(|(_, o)| now - o.since >= timeout)
            .map(|(a, o)| (*a, *o))
            .collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    /// Open or closed at `at`, and the next change (`None`: hours unknown).
    pub fn open_state(
        &self,
        id: AedId,
        at: DateTime<Utc>,
    ) -> Option<(bool, Option<DateTime<Utc>>)> {
        evaluate(self.entry(id)?, at, true, None)
    }

    /// Builds each AED's opening-hours schedule (a week's timeline of open /
    /// closed changes) so that queries from `at` on are answered without
    /// evaluating. Schedules that still cover the next two days are kept, so
    /// calling this periodically (e.g. every few minutes, from a background
    /// task) is cheap; call it at start and at least daily.
    pub fn warm(&self, at: DateTime<Utc>) {
        let (t, ahead) = (at.timestamp(), at.timestamp().saturating_add(WARM_AHEAD_S));
        for cell in self.cells.cells.values() {
            for hot in cell.hot.iter().filter(|h| h.hours == HoursKind::Timed) {
                let e = &self.entries[hot.idx as usize];
                let Some(h) = e.hours.as_ref() else { continue };
                let Ok(mut c) = e.cache.lock() else { continue };
                if !c
                    .schedule
                    .as_ref()
                    .is_some_and(|s| s.covers(t) && s.covers(ahead))
                {
                    c.schedule = Schedule::build(e, h, at);
                }
                if let Some(s) = &c.schedule {
                    s.fill(t, &hot.seg);
                }
            }
        }
    }

    /// Like [`AedSource::usable_near`], for a responder who may use AEDs with
    /// any access in `may_use` (the dispatch engine passes only `Public`).
    pub fn usable_near_for(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        may_use: &[AedAccess],
    ) -> Vec<AedCandidate> {
        self.usable_near_where(centre, radius_m, at, |h| may_use.contains(&h.access))
    }

    /// Public AEDs, and the others `responder` is authorised for.
    pub fn usable_near_by_responder(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        responder: VolunteerId,
    ) -> Vec<AedCandidate> {
        self.usable_near_where(centre, radius_m, at, |h| {
            h.access == AedAccess::Public
                || self.entries[h.idx as usize]
                    .aed
                    .details
                    .authorized_responders
                    .contains(&responder)
        })
    }

    /// The AEDs of `regions` only that a responder may be sent to (public
    /// ones, and those `responder` is authorised for): what a mission of a
    /// region that partitions its registry asks.
    pub fn usable_near_in(
        &self,
        regions: &[RegionId],
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        responder: Option<VolunteerId>,
    ) -> Vec<AedCandidate> {
        self.usable_near_where(centre, radius_m, at, |h| {
            let aed = &self.entries[h.idx as usize].aed;
            regions.contains(&aed.region_id)
                && (h.access == AedAccess::Public
                    || responder.is_some_and(|r| aed.details.authorized_responders.contains(&r)))
        })
    }

    fn usable_near_where(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        allowed: impl Fn(&Hot) -> bool,
    ) -> Vec<AedCandidate> {
        let mut out = Vec::new();
        let near = Planar::new(centre, radius_m);
        let t = at.timestamp();
        self.cells.for_each_near(centre, radius_m, |cell| {
            for h in &cell.hot {
                let inside = match near.classify(h.lat, h.lon) {
                    Some(inside) => inside,
                    None => {
                        centre.distance_m(LatLon {
                            lat: h.lat,
                            lon: h.lon,
                        }) <= radius_m
                    }
                };
                if !inside || !h.usable || !allowed(h) {
                    continue;
                }
                let state = match h.hours {
                    HoursKind::Always => Some((true, None)),
                    HoursKind::Unknown => None,
                    HoursKind::Timed => match h.seg.read(t, false) {
                        Some((State::Open, next)) => Some((
                            true,
                            next.and_then(|n| DateTime::<Utc>::from_timestamp(n, 0)),
                        )),
                        Some((State::Closed, _)) => continue,
                        Some((State::Unknown, _)) => None,
                        None => evaluate(&self.entries[h.idx as usize], at, false, Some(&h.seg)),
                    },
                };
                let (readiness, open_until) = match state {
                    Some((true, until)) => (h.readiness, until),
                    Some((false, _)) => continue,
                    // Unknown hours: usable only when nothing better is reachable.
                    None => (Readiness::Unknown, None),
                };
                let name = cell.names[h.name.0 as usize..h.name.1 as usize].to_owned();
                out.push(AedCandidate {
                    id: h.id,
                    name,
                    position: LatLon {
                        lat: h.lat,
                        lon: h.lon,
                    },
                    readiness,
                    open_until,
                });
            }
        });
        out
    }
}

fn usable(e: &Entry) -> bool {
    e.aed.status == AedStatus::Active && !e.aed.readiness.excluded() && !e.blocked
}

fn hot(idx: u32, e: &Entry, names: &mut String) -> Hot {
    let start = names.len();
    names.push_str(&e.aed.name);
    let hours = match (&e.hours, e.always) {
        (_, true) => HoursKind::Always,
        (None, false) => HoursKind::Unknown,
        (Some(_), false) => HoursKind::Timed,
    };
    Hot {
        idx,
        id: e.aed.id,
        lat: e.aed.position.lat,
        lon: e.aed.position.lon,
        readiness: e.aed.readiness,
        access: e.aed.access,
        usable: usable(e),
        hours,
        name: (start as u32, names.len() as u32),
        seg: Segment::default(),
    }
}

/// Distance test on a local planar (equirectangular) projection around the
/// centre, in squared metres. Used only where its error is far below the
/// margin: radius up to 10 km, latitude within ±70°, away from the date line.
/// Points in the margin band get the exact (haversine) test.
struct Planar {
    lat0: f64,
    lon0: f64,
    /// Metres per degree of latitude / of longitude at the centre.
    ky: f64,
    kx: f64,
    /// Squared radii: surely inside below `in2`, surely outside above `out2`.
    in2: f64,
    out2: f64,
    enabled: bool,
}

impl Planar {
    /// Relative margin: the projection's error within 15 km at |lat| ≤ 70° is below 1 %.
    const MARGIN: f64 = 0.03;

    fn new(centre: LatLon, radius_m: f64) -> Self {
        let ky = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let kx = ky * centre.lat.to_radians().cos();
        let enabled = radius_m.is_finite()
            && (0.0..=10_000.0).contains(&radius_m)
            && centre.lat.abs() <= 70.0
            && centre.lon.abs() <= 179.0;
        let (rin, rout) = (
            radius_m * (1.0 - Self::MARGIN),
            radius_m * (1.0 + Self::MARGIN),
        );
        Self {
            lat0: centre.lat,
            lon0: centre.lon,
            ky,
            kx,
            in2: rin * rin,
            out2: rout * rout,
            enabled,
        }
    }

    /// `Some(inside)` when the projection decides; `None`: use the exact test.
    #[inline]
    fn classify(&self, lat: f64, lon: f64) -> Option<bool> {
        if !self.enabled {
            return None;
        }
        let (dy, dx) = ((lat - self.lat0) * self.ky, (lon - self.lon0) * self.kx);
        let d2 = dx * dx + dy * dy;
        if d2 < self.in2 {
            Some(true)
        } else if d2 > self.out2 {
            Some(false)
        } else {
            None
        }
    }
}

/// Open now, and until when / from when (`None` = no change ahead); `None` = unknown.
/// Answered from the AED's schedule (built on a miss); the full evaluator is
/// the fallback where the schedule cannot answer. With `closed_until` false
/// the instant returned with a closed state is not meaningful (callers that
/// skip closed AEDs need not pay for it).
fn evaluate(
    e: &Entry,
    at: DateTime<Utc>,
    closed_until: bool,
    seg: Option<&Segment>,
) -> Option<(bool, Option<DateTime<Utc>>)> {
    if e.always {
        return Some((true, None));
    }
    let h = e.hours.as_ref()?;
    let Ok(mut c) = e.cache.lock() else {
        return full_answer(e, h, at);
    };
    let t = at.timestamp();
    if !c.schedule.as_ref().is_some_and(|s| s.covers(t)) {
        c.schedule = Schedule::build(e, h, at);
    }
    if let (Some(s), Some(seg)) = (&c.schedule, seg) {
        s.fill(t, seg);
    }
    if let Some((state, next)) = c.schedule.as_ref().and_then(|s| s.lookup(t, closed_until)) {
        return match state {
            State::Open => Some((
                true,
                next.and_then(|n| DateTime::<Utc>::from_timestamp(n, 0)),
            )),
            State::Closed => Some((
                false,
                next.and_then(|n| DateTime::<Utc>::from_timestamp(n, 0)),
            )),
            State::Unknown => None,
        };
    }
    let hit = c
        .last
        .filter(|l| l.from <= at && l.until.is_none_or(|u| at < u));
    let l = match hit {
        Some(l) => l,
        None => {
            let l = full(e, h, at);
            c.last = Some(l);
            l
        }
    };
    l.open.map(|o| (o, l.until))
}

/// The full evaluation at `at`.
fn full(e: &Entry, h: &OpeningHours, at: DateTime<Utc>) -> Cached {
    let ctx = Context::new(calendar(e)).with_location(e.aed.position.lat, e.aed.position.lon);
    let open = match h.state_at_instant(at, e.tz, &ctx) {
        State::Open => Some(true),
        State::Closed => Some(false),
        State::Unknown => None,
    };
    Cached {
        from: at,
        until: h.next_change(at, e.tz, &ctx),
        open,
    }
}

fn full_answer(
    e: &Entry,
    h: &OpeningHours,
    at: DateTime<Utc>,
) -> Option<(bool, Option<DateTime<Utc>>)> {
    let c = full(e, h, at);
    c.open.map(|o| (o, c.until))
}

impl AedSource for AedRegistry {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        self.usable_near_for(centre, radius_m, at, &[AedAccess::Public])
    }

    fn usable_near_by(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        responder: VolunteerId,
    ) -> Vec<AedCandidate> {
        self.usable_near_by_responder(centre, radius_m, at, responder)
    }
}
