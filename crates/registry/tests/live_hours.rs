//! The registry answers "open at t, and until when" from a precomputed
//! per-AED timeline (fast path). These tests check that it agrees with the full
//! opening-hours evaluator (`state_at_instant` + `next_change`) everywhere, and
//! that `usable_near_for` returns exactly what the straightforward algorithm
//! (haversine on every AED, full evaluation) returns.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use firstlink_domain::aed::{AedAccess, AedCandidate, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_hours::{Context, Country, CountryHolidays, OpeningHours, State};
use firstlink_registry::csv::ColumnMap;
use firstlink_registry::live::{AedRegistry, OutForReturn};
use firstlink_registry::{Format, ParseOptions, parse_file};
use firstlink_store::{Aed, AedDetails, AedStatus};

const LI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/aed/liechtenstein.geojson"
);
const VADUZ: Tz = chrono_tz::Europe::Vaduz;

/// Hours that exercise what the Liechtenstein data does not: public holidays,
/// DST nights, spill past midnight, sun times, open ends, long closed and
/// long open periods.
const EXTRA: [&str; 12] = [
    "Mo-Fr 08:00-17:00; PH off",
    "Mo-Fr 07:00-18:00; Sa 09:00-14:00; PH off",
    "Mo-Su 01:00-03:30",
    "Mo-Su 02:30-03:30",
    "Fr-Sa 22:00-03:00",
    "sunrise-sunset",
    "Mo-Fr 08:00-12:00; PH 10:00-11:00",
    "Mo-Su 18:00+",
    "Mo-Su 00:00-24:00; PH off",
    "Jun-Aug 08:00-20:00",
    "Mo-Fr 08:00-17:00 || \"by appointment\"",
    "Mo-Su 06:00-22:00",
];

fn aed(name: &str, position: LatLon, hours: Option<&str>) -> Aed {
    Aed {
        id: AedId::new(),
        region_id: RegionId::new(),
        name: name.into(),
        position,
        access: AedAccess::Public,
        opening_hours: hours.map(Into::into),
        readiness: Readiness::Unmonitored,
        status: AedStatus::Active,
        details: AedDetails::default(),
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

/// One AED per distinct `opening_hours` of the Liechtenstein registry (at its
/// position), plus the extra hours at Vaduz.
fn li_aeds() -> Vec<Aed> {
    let opts = ParseOptions {
        default_lang: "de".into(),
        ..Default::default()
    };
    let parsed = parse_file(
        Format::GeoJson,
        &std::fs::read(LI).unwrap(),
        &ColumnMap::default(),
        &opts,
    )
    .unwrap();
    assert_eq!(parsed.records.len(), 222);
    let mut seen = BTreeSet::new();
    let mut v = Vec::new();
    for r in &parsed.records {
        if seen.insert(r.opening_hours.clone()) {
            v.push(aed(&r.name, r.position, r.opening_hours.as_deref()));
        }
    }
    let vaduz = LatLon {
        lat: 47.141,
        lon: 9.521,
    };
    for h in EXTRA {
        assert!(OpeningHours::parse(h).is_ok(), "{h}");
        v.push(aed(h, vaduz, Some(h)));
    }
    v
}

/// The full evaluator, as the registry used it before the fast path.
fn full(a: &Aed, at: DateTime<Utc>) -> Option<(bool, Option<DateTime<Utc>>)> {
    let h = OpeningHours::parse(a.opening_hours.as_deref()?).ok()?;
    if h.is_24_7() {
        return Some((true, None));
    }
    let li = CountryHolidays(Country::Liechtenstein);
    let ctx = Context::new(&li).with_location(a.position.lat, a.position.lon);
    let open = match h.state_at_instant(at, VADUZ, &ctx) {
        State::Open => true,
        State::Closed => false,
        State::Unknown => return None,
    };
    Some((open, h.next_change(at, VADUZ, &ctx)))
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Instants to check in `[from, to)`: a regular sweep with an odd step (so
/// that it hits odd seconds too) and, around every change the full evaluator
/// reports, the instant itself and one second either side.
fn instants(a: &Aed, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut v = BTreeSet::new();
    let mut t = from;
    while t < to {
        v.insert(t);
        t += Duration::seconds(47 * 60 + 13);
    }
    let mut t = from;
    while let Some((_, Some(next))) = full(a, t) {
        if next >= to {
            break;
        }
        for d in [-1, 0, 1] {
            v.insert(next + Duration::seconds(d));
        }
        t = next;
    }
    v.into_iter().filter(|t| *t >= from && *t < to).collect()
}

/// Checks both ways the registry answers: `open_state` (schedule lookup) and
/// `usable_near_for` at the AED's own position (the lock-free cached period).
fn check(reg: &AedRegistry, a: &Aed, t: DateTime<Utc>) {
    let want = full(a, t);
    assert_eq!(
        reg.open_state(a.id, t),
        want,
        "open_state: {:?} at {t}",
        a.opening_hours
    );
    let got = reg
        .usable_near_for(a.position, 0.0, t, &[AedAccess::Public])
        .into_iter()
        .find(|c| c.id == a.id);
    let want = match want {
        Some((true, until)) => Some((a.readiness, until)),
        Some((false, _)) => None,
        None => Some((Readiness::Unknown, None)),
    };
    assert_eq!(
        got.map(|c| (c.readiness, c.open_until)),
        want,
        "usable_near: {:?} at {t}",
        a.opening_hours
    );
}

fn sweep(from: DateTime<Utc>, to: DateTime<Utc>) {
    let aeds = li_aeds();
    let mut reg = AedRegistry::default();
    for a in &aeds {
        reg.upsert(a.clone(), VADUZ, "LI");
    }
    reg.warm(from);
    let mut checked = 0;
    for a in &aeds {
        for t in instants(a, from, to) {
            check(&reg, a, t);
            checked += 1;
        }
    }
    assert!(checked > 1_000, "{checked}");
}

#[test]
fn fast_path_agrees_with_the_full_evaluator_over_the_spring_dst_night_and_easter() {
    // DST starts Sun 2026-03-29 02:00 CET; Good Friday 3 April, Easter
    // Monday 6 April. The 12 days outlast one schedule (7 days), so a
    // rebuild on a query is covered too.
    sweep(utc(2026, 3, 26, 0, 0), utc(2026, 4, 7, 0, 0));
}

#[test]
fn fast_path_agrees_with_the_full_evaluator_over_the_autumn_dst_night() {
    // DST ends Sun 2026-10-25 03:00 CEST; All Saints (1 November) is a Sunday.
    sweep(utc(2026, 10, 22, 7, 30), utc(2026, 11, 2, 0, 0));
}

#[test]
fn fast_path_agrees_with_the_full_evaluator_over_the_national_holiday() {
    // Staatsfeiertag Sat 15 August, and the end of `Jun-Aug 08:00-20:00`.
    sweep(utc(2026, 8, 12, 0, 0), utc(2026, 8, 17, 0, 0));
    sweep(utc(2026, 8, 29, 0, 0), utc(2026, 9, 3, 0, 0));
}

#[test]
fn queries_out_of_order_agree_with_the_full_evaluator() {
    let aeds = li_aeds();
    let mut reg = AedRegistry::default();
    for a in &aeds {
        reg.upsert(a.clone(), VADUZ, "LI");
    }
    // Jump back and forth (schedules rebuilt in the past and the future), never warmed.
    let mut x: u64 = 1;
    let base = utc(2026, 3, 20, 0, 0);
    for _ in 0..400 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let t = base + Duration::seconds(i64::try_from((x >> 33) % (40 * 86_400)).unwrap());
        let a = &aeds[usize::try_from((x >> 20) % aeds.len() as u64).unwrap()];
        check(&reg, a, t);
    }
}

/// `usable_near_for` the straightforward way: every AED, haversine, full evaluation.
fn reference(
    aeds: &[Aed],
    blocked: &BTreeSet<AedId>,
    centre: LatLon,
    radius_m: f64,
    at: DateTime<Utc>,
    may_use: &[AedAccess],
) -> Vec<AedCandidate> {
    let mut v: Vec<AedCandidate> = aeds
        .iter()
        .filter(|a| {
            a.status == AedStatus::Active && may_use.contains(&a.access) && !a.readiness.excluded()
        })
        .filter(|a| !blocked.contains(&a.id) && centre.distance_m(a.position) <= radius_m)
        .filter_map(|a| {
            let (readiness, open_until) = match full(a, at) {
                Some((true, until)) => (a.readiness, until),
                Some((false, _)) => return None,
                None => (Readiness::Unknown, None),
            };
            Some(AedCandidate {
                id: a.id,
                name: a.name.clone(),
                position: a.position,
                readiness,
                open_until,
            })
        })
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

#[test]
fn usable_near_returns_what_the_straightforward_algorithm_returns() {
    let hours: Vec<Option<&str>> = [
        None,
        Some("24/7"),
        Some("Mo-Fr 08:00-17:00; PH off"),
        Some("Mo-Su 06:00-22:00"),
        Some("Mo-Su 18:00+"),
    ]
    .into_iter()
    .chain(EXTRA.iter().map(|h| Some(*h)))
    .collect();
    let accesses = [
        AedAccess::Public,
        AedAccess::Public,
        AedAccess::Public,
        AedAccess::Customers,
        AedAccess::Private,
    ];
    let readiness = [
        Readiness::Unmonitored,
        Readiness::Ready,
        Readiness::AtRisk,
        Readiness::Unknown,
        Readiness::NotReady,
        Readiness::Missing,
    ];
    let statuses = [
        AedStatus::Active,
        AedStatus::Active,
        AedStatus::Active,
        AedStatus::Inactive,
        AedStatus::PendingReview,
    ];
    let centre = LatLon {
        lat: 47.141,
        lon: 9.521,
    };
    let radius = 1_500.0;
    let mut x: u64 = 99;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut aeds = Vec::new();
    for i in 0..600 {
        // Half of them in the band around the radius, where the planar
        // pre-test hands over to haversine.
        let d = if i % 2 == 0 {
            next() * 2.0 * radius
        } else {
            radius * (0.95 + next() * 0.1)
        };
        let p = centre.offset(next() * 360.0, d);
        let pick = |r: f64, n: usize| ((r * n as f64) as usize).min(n - 1);
        let mut a = aed(&format!("AED {i}"), p, hours[pick(next(), hours.len())]);
        a.access = accesses[pick(next(), accesses.len())];
        a.readiness = readiness[pick(next(), readiness.len())];
        a.status = statuses[pick(next(), statuses.len())];
        aeds.push(a);
    }
    let mut reg = AedRegistry::default();
    for a in &aeds {
        reg.upsert(a.clone(), VADUZ, "LI");
    }
    // Claims and AEDs out for return are excluded; a returned one is back.
    let (inc, vol) = (IncidentId::new(), VolunteerId::new());
    let mut blocked = BTreeSet::new();
    for a in aeds.iter().step_by(17) {
        assert!(reg.claim(a.id, inc, vol));
        blocked.insert(a.id);
    }
    for a in aeds.iter().skip(5).step_by(23) {
        reg.set_out(
            a.id,
            OutForReturn {
                incident: inc,
                volunteer: vol,
                since: utc(2026, 3, 1, 0, 0),
            },
        );
        blocked.insert(a.id);
    }
    let back = aeds[5].id;
    assert!(reg.returned(back));
    if reg.claimed_by(back).is_none() {
        blocked.remove(&back);
    }
    let released = aeds[17].id;
    reg.release(released, inc);
    if reg.out_for_return(released).is_none() {
        blocked.remove(&released);
    }
    // Replacing an AED keeps one entry at its new place.
    let mut moved = aeds[1].clone();
    moved.position = centre.offset(10.0, 100.0);
    moved.opening_hours = Some("24/7".into());
    reg.upsert(moved.clone(), VADUZ, "LI");
    aeds[1] = moved;
    assert_eq!(reg.len(), aeds.len());

    let mut total = 0;
    for at in [
        utc(2026, 3, 3, 9, 0),
        utc(2026, 3, 7, 19, 0),
        utc(2026, 3, 29, 0, 45),
        utc(2026, 4, 6, 9, 0),
        utc(2026, 7, 1, 12, 0),
    ] {
        reg.warm(at);
        for may_use in [
            &[AedAccess::Public][..],
            &[AedAccess::Public, AedAccess::Customers][..],
        ] {
            for r in [0.0, 300.0, radius, 2_500.0] {
                let mut got = reg.usable_near_for(centre, r, at, may_use);
                got.sort_by_key(|c| c.id);
                let want = reference(&aeds, &blocked, centre, r, at, may_use);
                assert_eq!(got, want, "at {at}, radius {r}, {may_use:?}");
                total += got.len();
            }
        }
    }
    assert!(total > 500, "{total}");
}
