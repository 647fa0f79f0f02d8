//! The in-memory view of the AED registry that dispatch asks: "which AEDs can
//! a responder use at time t near this point".

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use firstlink_domain::aed::{AedAccess, AedCandidate, AedSource, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_hours::{Context, Country, CountryHolidays, HolidayCalendar, NoHolidays, OpeningHours, State};
use firstlink_store::{Aed, AedStatus};

struct Entry {
    aed: Aed,
    hours: Option<OpeningHours>,
    tz: Tz,
    holidays: Option<CountryHolidays>,
}

/// AEDs of every region with their parsed opening hours and live claims.
#[derive(Default)]
pub struct AedRegistry {
    entries: HashMap<AedId, Entry>,
    claims: HashMap<AedId, (IncidentId, VolunteerId)>,
}

impl AedRegistry {
    /// Adds or replaces an AED; `tz` and `country` are its region's.
    pub fn upsert(&mut self, aed: Aed, tz: Tz, country: &str) {
        let hours = aed.opening_hours.as_deref().and_then(|h| OpeningHours::parse(h).ok());
        let holidays = Country::from_iso_code(country).map(CountryHolidays);
        self.entries.insert(aed.id, Entry { aed, hours, tz, holidays });
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

    pub fn release(&mut self, aed: AedId, incident: IncidentId) {
        if self.claims.get(&aed).is_some_and(|(i, _)| *i == incident) {
            self.claims.remove(&aed);
        }
    }

    pub fn claimed_by(&self, aed: AedId) -> Option<(IncidentId, VolunteerId)> {
        self.claims.get(&aed).copied()
    }

    /// Open or closed at `at` (`None`: hours unknown).
    pub fn open_state(&self, id: AedId, at: DateTime<Utc>) -> Option<(bool, Option<DateTime<Utc>>)> {
        let e = self.entries.get(&id)?;
        let (state, next) = evaluate(e, at)?;
        Some((state, next))
    }
}

/// Open now, and until when (`None` = no change ahead); `None` = unknown.
fn evaluate(e: &Entry, at: DateTime<Utc>) -> Option<(bool, Option<DateTime<Utc>>)> {
    let h = e.hours.as_ref()?;
    let cal: &dyn HolidayCalendar = match &e.holidays {
        Some(c) => c,
        None => &NoHolidays,
    };
    let ctx = Context::new(cal).with_location(e.aed.position.lat, e.aed.position.lon);
    match h.state_at_instant(at, e.tz, &ctx) {
        State::Open => Some((true, if h.is_24_7() { None } else { h.next_change(at, e.tz, &ctx) })),
        State::Closed => Some((false, h.next_change(at, e.tz, &ctx))),
        State::Unknown => None,
    }
}

impl AedSource for AedRegistry {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        let mut out = Vec::new();
        for e in self.entries.values() {
            let a = &e.aed;
            if a.status != AedStatus::Active || a.access != AedAccess::Public || a.readiness.excluded() {
                continue;
            }
            if self.claims.contains_key(&a.id) || centre.distance_m(a.position) > radius_m {
                continue;
            }
            let (readiness, open_until) = match evaluate(e, at) {
                Some((true, until)) => (a.readiness, until),
                Some((false, _)) => continue,
                // Unknown hours: usable only when nothing better is reachable.
                None => (Readiness::Unknown, None),
            };
            out.push(AedCandidate { id: a.id, name: a.name.clone(), position: a.position, readiness, open_until });
        }
        out
    }
}
