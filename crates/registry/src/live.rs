//! The in-memory registry dispatch asks: "which AEDs can a responder use at
//! time t near this point". AEDs are kept in a spatial grid with their parsed
//! opening hours; live claims and AEDs out for return are tracked here.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use firstlink_domain::aed::{AedAccess, AedCandidate, AedSource, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_hours::{Context, Country, CountryHolidays, HolidayCalendar, NoHolidays, OpeningHours, State};
use firstlink_store::{Aed, AedStatus};

/// Grid cell height: about the typical search radius / 2.
const CELL_M: f64 = 500.0;

struct Entry {
    aed: Aed,
    hours: Option<OpeningHours>,
    always: bool,
    tz: Tz,
    holidays: Option<CountryHolidays>,
    /// The last evaluation: the state holds from `.0` until `.1` (next change).
    cache: Mutex<Option<Cached>>,
}

#[derive(Clone, Copy)]
struct Cached {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    /// `None`: unknown.
    open: Option<bool>,
}

/// An AED taken on a mission that has not been confirmed back in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutForReturn {
    pub incident: IncidentId,
    pub volunteer: VolunteerId,
    pub since: DateTime<Utc>,
}

/// AEDs of every region with their parsed opening hours and live claims.
pub struct AedRegistry {
    entries: HashMap<AedId, Entry>,
    grid: crate::grid::Grid<AedId>,
    claims: HashMap<AedId, (IncidentId, VolunteerId)>,
    collected: HashMap<AedId, IncidentId>,
    out: HashMap<AedId, OutForReturn>,
}

impl Default for AedRegistry {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            grid: crate::grid::Grid::new(CELL_M),
            claims: HashMap::new(),
            collected: HashMap::new(),
            out: HashMap::new(),
        }
    }
}

impl AedRegistry {
    /// Adds or replaces an AED; `tz` and `country` are its region's.
    pub fn upsert(&mut self, aed: Aed, tz: Tz, country: &str) {
        let hours = aed.opening_hours.as_deref().and_then(|h| OpeningHours::parse(h).ok());
        let always = hours.as_ref().is_some_and(OpeningHours::is_24_7);
        let holidays = Country::from_iso_code(country).map(CountryHolidays);
        if let Some(old) = self.entries.get(&aed.id) {
            self.grid.remove(aed.id, old.aed.position);
        }
        self.grid.insert(aed.id, aed.position);
        self.entries.insert(aed.id, Entry { aed, hours, always, tz, holidays, cache: Mutex::new(None) });
    }

    /// Sets an AED's readiness as monitoring reports it; false for an unknown AED.
    /// Dispatch sees the change at its next query.
    pub fn set_readiness(&mut self, id: AedId, readiness: Readiness) -> bool {
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.aed.readiness = readiness;
                true
            }
            None => false,
        }
    }

    pub fn get(&self, id: AedId) -> Option<&Aed> {
        self.entries.get(&id).map(|e| &e.aed)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn all(&self, region: Option<RegionId>) -> impl Iterator<Item = &Aed> {
        self.entries.values().map(|e| &e.aed).filter(move |a| region.is_none_or(|r| a.region_id == r))
    }

    pub fn claim(&mut self, aed: AedId, incident: IncidentId, volunteer: VolunteerId) -> bool {
        match self.claims.get(&aed) {
            Some((i, v)) => *i == incident && *v == volunteer,
            None => {
                self.claims.insert(aed, (incident, volunteer));
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
                self.out.insert(aed, OutForReturn { incident, volunteer: v, since: Utc::now() });
            }
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
        self.claims.iter().find(|(_, c)| **c == (incident, volunteer)).map(|(a, _)| *a)
    }

    /// Marks an AED as out for return since `since` (e.g. restored at start-up).
    pub fn set_out(&mut self, aed: AedId, out: OutForReturn) {
        self.out.insert(aed, out);
    }

    /// Back in its cabinet: available again. `false` if it was not out.
    pub fn returned(&mut self, aed: AedId) -> bool {
        self.out.remove(&aed).is_some()
    }

    pub fn out_for_return(&self, aed: AedId) -> Option<OutForReturn> {
        self.out.get(&aed).copied()
    }

    /// AEDs out for longer than `timeout` at `now`: for operator follow-up.
    pub fn overdue_returns(&self, now: DateTime<Utc>, timeout: Duration) -> Vec<(AedId, OutForReturn)> {
        let mut v: Vec<_> = self.out.iter().filter(|(_, o)| now - o.since >= timeout).map(|(a, o)| (*a, *o)).collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    /// Open or closed at `at`, and the next change (`None`: hours unknown).
    pub fn open_state(&self, id: AedId, at: DateTime<Utc>) -> Option<(bool, Option<DateTime<Utc>>)> {
        let e = self.entries.get(&id)?;
        evaluate(e, at)
    }

    /// Evaluates every AED's opening hours at `at` so that queries until each
    /// AED's next change are answered from the cache (call at start and
    /// periodically, e.g. every few minutes, from a background task).
    pub fn warm(&self, at: DateTime<Utc>) {
        for e in self.entries.values() {
            let _ = evaluate(e, at);
        }
    }

    /// Like [`AedSource::usable_near`], for a responder who may use AEDs with
    /// any access in `may_use` (the dispatch engine passes only `Public`).
    pub fn usable_near_for(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>, may_use: &[AedAccess]) -> Vec<AedCandidate> {
        let mut out = Vec::new();
        self.grid.for_each_near(centre, radius_m, |id| {
            let Some(e) = self.entries.get(&id) else { return };
            let a = &e.aed;
            if a.status != AedStatus::Active || !may_use.contains(&a.access) || a.readiness.excluded() {
                return;
            }
            if self.claims.contains_key(&a.id) || self.out.contains_key(&a.id) || centre.distance_m(a.position) > radius_m {
                return;
            }
            let (readiness, open_until) = match evaluate(e, at) {
                Some((true, until)) => (a.readiness, until),
                Some((false, _)) => return,
                // Unknown hours: usable only when nothing better is reachable.
                None => (Readiness::Unknown, None),
            };
            out.push(AedCandidate { id: a.id, name: a.name.clone(), position: a.position, readiness, open_until });
        });
        out
    }
}

/// Open now, and until when / from when (`None` = no change ahead); `None` = unknown.
/// The state is constant until the next change, so one evaluation serves
/// every query in that interval.
fn evaluate(e: &Entry, at: DateTime<Utc>) -> Option<(bool, Option<DateTime<Utc>>)> {
    if e.always {
        return Some((true, None));
    }
    let h = e.hours.as_ref()?;
    let hit = e.cache.lock().ok().and_then(|c| *c).filter(|c| c.from <= at && c.until.is_none_or(|u| at < u));
    let c = match hit {
        Some(c) => c,
        None => {
            let cal: &dyn HolidayCalendar = match &e.holidays {
                Some(c) => c,
                None => &NoHolidays,
            };
            let ctx = Context::new(cal).with_location(e.aed.position.lat, e.aed.position.lon);
            let open = match h.state_at_instant(at, e.tz, &ctx) {
                State::Open => Some(true),
                State::Closed => Some(false),
                State::Unknown => None,
            };
            let c = Cached { from: at, until: h.next_change(at, e.tz, &ctx), open };
            if let Ok(mut g) = e.cache.lock() {
                *g = Some(c);
            }
            c
        }
    };
    c.open.map(|o| (o, c.until))
}

impl AedSource for AedRegistry {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        self.usable_near_for(centre, radius_m, at, &[AedAccess::Public])
    }
}
