//! Readiness rules on a fake clock: every instant is an explicit value.

use chrono::{DateTime, NaiveDate, Utc};
use firstlink_monitor::rules::{MAX_FUTURE_SKEW_S, MAX_READING_AGE_S};
use firstlink_monitor::{
    Cause, LatLon, ModelRules, Readiness, Reading, Rejected, Signal, StatusLight, Transition,
    UnitCtx, UnitEvent, UnitState,
};
use proptest::prelude::*;

const T0: i64 = 1_714_644_000; // 2024-05-02T10:00:00Z

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + s, 0).unwrap()
}

fn home() -> LatLon {
    LatLon::new(55.6761, 12.5683).unwrap()
}

fn ctx(rules: &ModelRules) -> UnitCtx<'_> {
    UnitCtx {
        rules,
        registered: Some(home()),
        interval_s: 3600,
        pad_expiry: None,
        battery_expiry: None,
    }
}

fn reading(at: i64, signals: Vec<Signal>) -> Reading {
    Reading {
        at: t(at),
        seq: None,
        signals,
    }
}

/// Applies a reading stamped and received at `at`.
fn feed(s: &mut UnitState, c: &UnitCtx, at: i64, signals: Vec<Signal>) -> Transition {
    s.apply(c, &reading(at, signals), t(at)).unwrap()
}

fn light(l: StatusLight) -> Signal {
    Signal::StatusLight(l)
}

#[test]
fn status_fault_is_not_ready_at_once_and_ok_clears_it() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    assert_eq!(s.readiness(), Readiness::Ready);
    let tr = feed(&mut s, &c, 10, vec![light(StatusLight::Ok)]);
    assert!(tr.is_noop());
    let tr = feed(&mut s, &c, 20, vec![light(StatusLight::Fault)]);
    assert_eq!(
        (tr.before, tr.after),
        (Readiness::Ready, Readiness::NotReady)
    );
    assert_eq!(tr.opened, vec![Cause::StatusFault]);
    // Repeating the fault opens nothing new.
    assert!(feed(&mut s, &c, 30, vec![light(StatusLight::Fault)]).is_noop());
    // Unknown is no information: the fault stays.
    assert!(feed(&mut s, &c, 40, vec![light(StatusLight::Unknown)]).is_noop());
    assert_eq!(s.readiness(), Readiness::NotReady);
    assert_eq!(s.last_value().light, Some(StatusLight::Unknown));
    let tr = feed(&mut s, &c, 50, vec![light(StatusLight::Ok)]);
    assert_eq!(tr.cleared, vec![Cause::StatusFault]);
    assert_eq!(tr.after, Readiness::Ready);
}

#[test]
fn status_off_becomes_not_ready_after_its_grace_and_unknown_does_not_reset_the_timer() {
    let r = ModelRules::default(); // 600 s
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    assert!(feed(&mut s, &c, 100, vec![light(StatusLight::Off)]).is_noop());
    assert_eq!(s.next_deadline(&c), Some(t(700)));
    feed(&mut s, &c, 300, vec![light(StatusLight::Unknown)]);
    feed(&mut s, &c, 400, vec![light(StatusLight::Off)]);
    assert_eq!(
        s.next_deadline(&c),
        Some(t(700)),
        "timer runs from the first off"
    );
    assert!(s.tick(&c, t(699)).is_noop());
    let tr = s.tick(&c, t(700));
    assert_eq!(tr.opened, vec![Cause::StatusOff]);
    assert_eq!(tr.after, Readiness::NotReady);
    let tr = feed(&mut s, &c, 800, vec![light(StatusLight::Ok)]);
    assert_eq!(tr.cleared, vec![Cause::StatusOff]);
    // An ok in between restarts the timer.
    feed(&mut s, &c, 900, vec![light(StatusLight::Off)]);
    feed(&mut s, &c, 1200, vec![light(StatusLight::Ok)]);
    feed(&mut s, &c, 1300, vec![light(StatusLight::Off)]);
    assert!(s.tick(&c, t(1500)).is_noop());
    assert_eq!(s.next_deadline(&c), Some(t(1900)));
}

#[test]
fn status_off_reported_late_counts_from_its_own_timestamp() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    // Stamped at 100, delivered at 800: off for 700 s already.
    let tr = s
        .apply(&c, &reading(100, vec![light(StatusLight::Off)]), t(800))
        .unwrap();
    assert_eq!(tr.opened, vec![Cause::StatusOff]);
}

#[test]
fn temperature_is_at_risk_at_once_then_not_ready_after_the_grace() {
    let r = ModelRules::default(); // 0..50, h 2, grace 1800
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    feed(&mut s, &c, 0, vec![Signal::TemperatureC(5.0)]);
    let tr = feed(&mut s, &c, 100, vec![Signal::TemperatureC(-0.5)]);
    assert_eq!(tr.opened, vec![Cause::TemperatureLow]);
    assert_eq!(tr.after, Readiness::AtRisk);
    assert_eq!(s.next_deadline(&c), Some(t(1900)));
    // In the hysteresis band (0..=2): still out of range, timer keeps running.
    assert!(feed(&mut s, &c, 1000, vec![Signal::TemperatureC(1.5)]).is_noop());
    assert!(feed(&mut s, &c, 1100, vec![Signal::TemperatureC(2.0)]).is_noop());
    assert!(s.tick(&c, t(1899)).is_noop());
    let tr = s.tick(&c, t(1900));
    assert_eq!(
        (tr.before, tr.after),
        (Readiness::AtRisk, Readiness::NotReady)
    );
    assert!(tr.opened.is_empty() && tr.cleared.is_empty());
    assert_eq!(
        s.active(),
        vec![(Cause::TemperatureLow, firstlink_monitor::Severity::NotReady)]
    );
    let tr = feed(&mut s, &c, 2000, vec![Signal::TemperatureC(2.1)]);
    assert_eq!(tr.cleared, vec![Cause::TemperatureLow]);
    assert_eq!(tr.after, Readiness::Ready);
}

#[test]
fn temperature_high_and_custom_model_rules() {
    let r = ModelRules {
        temp_min_c: 5.0,
        temp_max_c: 35.0,
        temp_hysteresis_c: 1.0,
        temp_grace_s: 60,
        ..ModelRules::default()
    };
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    let tr = feed(&mut s, &c, 0, vec![Signal::TemperatureC(35.5)]);
    assert_eq!(tr.opened, vec![Cause::TemperatureHigh]);
    let tr = s.tick(&c, t(60));
    assert_eq!(tr.after, Readiness::NotReady);
    assert!(feed(&mut s, &c, 70, vec![Signal::TemperatureC(34.0)]).is_noop());
    assert_eq!(
        feed(&mut s, &c, 80, vec![Signal::TemperatureC(33.9)]).cleared,
        vec![Cause::TemperatureHigh]
    );
    assert_eq!(
        feed(&mut s, &c, 90, vec![Signal::TemperatureC(4.9)]).opened,
        vec![Cause::TemperatureLow]
    );
}

#[test]
fn flapping_temperature_around_the_limit_changes_state_once() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    let mut changes = 0;
    let seq = [
        49.5, 50.6, 49.2, 50.4, 48.5, 51.9, 49.9, 50.1, 48.1, 50.01, 49.0,
    ];
    for (i, v) in seq.iter().enumerate() {
        let tr = feed(&mut s, &c, 60 * i as i64, vec![Signal::TemperatureC(*v)]);
        if !tr.is_noop() {
            changes += 1;
            assert_eq!((tr.before, tr.after), (Readiness::Ready, Readiness::AtRisk));
        }
    }
    assert_eq!(changes, 1);
    assert_eq!(s.readiness(), Readiness::AtRisk);
}

#[test]
fn warning_beeps_sustained_are_not_ready() {
    let r = ModelRules::default(); // 120 s
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    assert!(feed(&mut s, &c, 0, vec![Signal::Beeps(true)]).is_noop());
    feed(&mut s, &c, 60, vec![Signal::Beeps(true)]);
    assert_eq!(s.next_deadline(&c), Some(t(120)));
    assert!(s.tick(&c, t(119)).is_noop());
    let tr = s.tick(&c, t(120));
    assert_eq!(tr.opened, vec![Cause::Beeps]);
    assert_eq!(tr.after, Readiness::NotReady);
    assert_eq!(
        feed(&mut s, &c, 200, vec![Signal::Beeps(false)]).cleared,
        vec![Cause::Beeps]
    );
    // A short burst is nothing.
    feed(&mut s, &c, 300, vec![Signal::Beeps(true)]);
    feed(&mut s, &c, 400, vec![Signal::Beeps(false)]);
    assert!(s.tick(&c, t(1000)).is_noop());
    assert_eq!(s.readiness(), Readiness::Ready);
}

#[test]
fn moved_away_is_missing_with_hysteresis() {
    let r = ModelRules::default(); // 50 m, back within 40 m
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    assert!(
        feed(
            &mut s,
            &c,
            0,
            vec![Signal::Position(home().offset(90.0, 10.0))]
        )
        .is_noop()
    );
    assert!(
        feed(
            &mut s,
            &c,
            10,
            vec![Signal::Position(home().offset(90.0, 49.0))]
        )
        .is_noop()
    );
    let tr = feed(
        &mut s,
        &c,
        20,
        vec![Signal::Position(home().offset(180.0, 60.0))],
    );
    assert_eq!(tr.opened, vec![Cause::Moved]);
    assert_eq!(tr.after, Readiness::Missing);
    assert!(
        feed(
            &mut s,
            &c,
            30,
            vec![Signal::Position(home().offset(0.0, 45.0))]
        )
        .is_noop()
    );
    let tr = feed(
        &mut s,
        &c,
        40,
        vec![Signal::Position(home().offset(0.0, 39.0))],
    );
    assert_eq!(tr.cleared, vec![Cause::Moved]);
    // Without a registered place the rule is off.
    let none = UnitCtx {
        registered: None,
        ..c
    };
    assert!(
        feed(
            &mut s,
            &none,
            50,
            vec![Signal::Position(home().offset(0.0, 5000.0))]
        )
        .is_noop()
    );
    // The registered place moving is picked up by tick.
    let far = UnitCtx {
        registered: Some(home().offset(0.0, 5000.0)),
        ..c
    };
    assert!(s.tick(&far, t(60)).is_noop());
    let tr = s.tick(&c, t(61));
    assert_eq!(tr.opened, vec![Cause::Moved]);
}

#[test]
fn a_silent_unit_is_flagged_after_exactly_two_intervals() {
    let r = ModelRules::default();
    let c = UnitCtx {
        interval_s: 600,
        ..ctx(&r)
    }; // 2 × 600 s = 1200 s
    let mut s = UnitState::new(t(0));
    // Never reported: silent two intervals after being watched.
    assert_eq!(s.next_deadline(&c), Some(t(1200)));
    feed(&mut s, &c, 100, vec![]);
    assert_eq!(s.next_deadline(&c), Some(t(1300)));
    assert!(s.tick(&c, t(1299)).is_noop());
    let deadline = s.next_deadline(&c).unwrap();
    let tr = s.tick(&c, deadline);
    assert_eq!(tr.opened, vec![Cause::Silent]);
    assert_eq!(
        (tr.before, tr.after),
        (Readiness::Ready, Readiness::Unknown)
    );
    assert_eq!(s.next_deadline(&c), None);
    // Any accepted reading clears it, even one whose signals are all stale.
    let mut quiet = s.clone();
    let tr = quiet.apply(&c, &reading(50, vec![]), t(1400)).unwrap();
    assert_eq!(tr.cleared, vec![Cause::Silent]);
    let tr = feed(&mut s, &c, 1400, vec![light(StatusLight::Ok)]);
    assert_eq!(tr.cleared, vec![Cause::Silent]);
    assert_eq!(s.next_deadline(&c), Some(t(2600)));
    // A default state (no watch start) is not silent before a first reading.
    let fresh = UnitState::default();
    assert_eq!(fresh.next_deadline(&c), None);
    // Interval 0 disables the rule.
    let off = UnitCtx { interval_s: 0, ..c };
    assert!(s.tick(&off, t(100_000)).is_noop());
}

#[test]
fn time_the_server_could_not_hear_does_not_count_towards_silence() {
    let r = ModelRules::default();
    let c = UnitCtx {
        interval_s: 600,
        ..ctx(&r)
    }; // silent 1200 s after last heard
    let mut s = UnitState::new(t(0));
    feed(&mut s, &c, 100, vec![light(StatusLight::Ok)]);
    // What the server heard was saved at 400, it was down until 1000: the
    // 600 s after the save do not count.
    assert_eq!(
        s.resume(Some(t(400)), t(1000)),
        chrono::Duration::seconds(600)
    );
    assert_eq!(s.next_deadline(&c), Some(t(1900)));
    assert!(s.tick(&c, t(1899)).is_noop());
    // A unit that stays silent is still flagged, within one window of start-up.
    assert_eq!(s.tick(&c, t(1900)).opened, vec![Cause::Silent]);
    // Already silent: a later restart does not clear it; only a reading does.
    assert_eq!(s.resume(Some(t(2000)), t(5000)), chrono::Duration::zero());
    assert!(s.tick(&c, t(5001)).is_noop());
    assert!(s.has(Cause::Silent));
    feed(&mut s, &c, 5100, vec![]);
    assert!(!s.has(Cause::Silent));
    // A reading resets the grace: silence is again measured from it.
    assert_eq!(s.next_deadline(&c), Some(t(6300)));
    // Saved after the last reading: only the time after the reading is added.
    assert_eq!(
        s.resume(Some(t(5000)), t(5400)),
        chrono::Duration::seconds(300)
    );
    assert_eq!(s.next_deadline(&c), Some(t(6600)));
    // Two restarts add up; the grace survives a round trip through the checkpoint.
    s.resume(Some(t(5500)), t(5600));
    let back: UnitState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back.next_deadline(&c), Some(t(6700)));
    // Nothing known about when it was last saved: treated as heard at start-up.
    let mut u = UnitState::new(t(0));
    u.resume(None, t(3000));
    assert_eq!(u.next_deadline(&c), Some(t(4200)));
    // A state from before this field existed still loads.
    let old = serde_json::to_value(UnitState::new(t(0))).unwrap();
    assert!(old.get("unheard_ms").is_none());
    let mut v: UnitState = serde_json::from_value(old).unwrap();
    assert_eq!(v.next_deadline(&c), Some(t(1200)));
    // A gap that ends before the unit was heard changes nothing.
    assert_eq!(v.resume(Some(t(-50)), t(-10)), chrono::Duration::zero());
    // A default state (no reference) has no silence to defer.
    assert_eq!(
        UnitState::default().resume(None, t(100)),
        chrono::Duration::zero()
    );
}

#[test]
fn silence_is_measured_from_arrival_not_from_the_device_clock() {
    let r = ModelRules::default();
    let c = UnitCtx {
        interval_s: 600,
        ..ctx(&r)
    };
    let mut s = UnitState::new(t(0));
    // Device clock 250 s behind: stamped 750, received 1000.
    s.apply(&c, &reading(750, vec![]), t(1000)).unwrap();
    assert_eq!(s.last_seen(), Some(t(750)));
    assert_eq!(s.next_deadline(&c), Some(t(2200)));
}

#[test]
fn pads_and_battery_expiry() {
    let r = ModelRules::default(); // 30 days
    let today = t(0).date_naive(); // 2024-05-02
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let mut c = UnitCtx {
        interval_s: 0,
        ..ctx(&r)
    };
    c.pad_expiry = Some(d("2024-06-01")); // 30 days left: expiring
    c.battery_expiry = Some(d("2024-06-02")); // 31 days left: fine
    let mut s = UnitState::new(t(0));
    let tr = s.tick(&c, t(0));
    assert_eq!(tr.opened, vec![Cause::PadsExpiring]);
    assert_eq!(tr.after, Readiness::MaintenanceDue);
    // Battery becomes "expiring" at midnight UTC on 2024-05-03.
    let next = s.next_deadline(&c).unwrap();
    assert_eq!(
        next,
        d("2024-05-03").and_hms_opt(0, 0, 0).unwrap().and_utc()
    );
    assert_eq!(s.tick(&c, next).opened, vec![Cause::BatteryExpiring]);
    // On the expiry date itself the pads are still valid; the day after they are expired.
    let on_the_day = d("2024-06-01").and_hms_opt(23, 59, 59).unwrap().and_utc();
    let c_silent_off = c;
    assert!(
        !s.tick(&c_silent_off, on_the_day)
            .opened
            .contains(&Cause::PadsExpired)
    );
    let next = s.next_deadline(&c_silent_off).unwrap();
    assert_eq!(
        next,
        d("2024-06-02").and_hms_opt(0, 0, 0).unwrap().and_utc()
    );
    let tr = s.tick(&c_silent_off, next);
    assert_eq!(tr.opened, vec![Cause::PadsExpired]);
    assert_eq!(tr.cleared, vec![Cause::PadsExpiring]);
    assert_eq!(tr.after, Readiness::NotReady);
    // New pads: tick after the context change clears it.
    let renewed = UnitCtx {
        pad_expiry: Some(d("2026-01-01")),
        ..c_silent_off
    };
    let tr = s.tick(&renewed, next);
    assert_eq!(tr.cleared, vec![Cause::PadsExpired]);
    assert_eq!(tr.after, Readiness::MaintenanceDue); // battery still expiring
    assert!(today < d("2024-06-01"));
}

#[test]
fn unit_battery_low_is_reported_without_readiness_effect() {
    let r = ModelRules::default(); // 20, clears at 25
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    assert!(feed(&mut s, &c, 0, vec![Signal::UnitBatteryPct(21)]).is_noop());
    let tr = feed(&mut s, &c, 10, vec![Signal::UnitBatteryPct(20)]);
    assert_eq!(tr.opened, vec![Cause::UnitBatteryLow]);
    assert_eq!(tr.after, Readiness::Ready);
    assert!(!tr.is_noop());
    assert!(feed(&mut s, &c, 20, vec![Signal::UnitBatteryPct(24)]).is_noop());
    assert_eq!(
        feed(&mut s, &c, 30, vec![Signal::UnitBatteryPct(25)]).cleared,
        vec![Cause::UnitBatteryLow]
    );
}

#[test]
fn aed_removed_is_not_ready_until_returned_with_edge_events() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    // First "present" from nothing is no event.
    assert!(feed(&mut s, &c, 0, vec![Signal::AedPresent(true)]).is_noop());
    let tr = feed(
        &mut s,
        &c,
        10,
        vec![Signal::DoorOpen(true), Signal::AedPresent(false)],
    );
    assert_eq!(
        tr.events,
        vec![
            UnitEvent::DoorOpened { at: t(10) },
            UnitEvent::AedRemoved { at: t(10) }
        ]
    );
    assert_eq!(tr.opened, vec![Cause::AedRemoved]);
    assert_eq!(tr.after, Readiness::NotReady);
    // Repeats are not new events.
    let tr = feed(
        &mut s,
        &c,
        20,
        vec![Signal::DoorOpen(true), Signal::AedPresent(false)],
    );
    assert!(tr.events.is_empty() && tr.is_noop());
    let tr = feed(&mut s, &c, 30, vec![Signal::DoorOpen(false)]);
    assert_eq!(tr.events, vec![UnitEvent::DoorClosed { at: t(30) }]);
    assert_eq!(s.readiness(), Readiness::NotReady);
    let tr = feed(&mut s, &c, 40, vec![Signal::AedPresent(true)]);
    assert_eq!(tr.events, vec![UnitEvent::AedReturned { at: t(40) }]);
    assert_eq!(tr.cleared, vec![Cause::AedRemoved]);
    assert_eq!(tr.after, Readiness::Ready);
    // A first "closed" from nothing is no event; a first "removed" is.
    let mut fresh = UnitState::new(t(0));
    assert!(
        feed(&mut fresh, &c, 0, vec![Signal::DoorOpen(false)])
            .events
            .is_empty()
    );
    assert_eq!(
        feed(&mut fresh, &c, 5, vec![Signal::AedPresent(false)]).events,
        vec![UnitEvent::AedRemoved { at: t(5) }]
    );
}

#[test]
fn tamper_is_a_check_without_readiness_effect() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    let tr = feed(&mut s, &c, 0, vec![Signal::Tamper(true)]);
    assert_eq!(tr.opened, vec![Cause::Tamper]);
    assert_eq!(tr.after, Readiness::Ready);
    assert_eq!(
        feed(&mut s, &c, 10, vec![Signal::Tamper(false)]).cleared,
        vec![Cause::Tamper]
    );
}

#[test]
fn most_severe_cause_wins() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    feed(&mut s, &c, 0, vec![Signal::TemperatureC(55.0)]);
    assert_eq!(s.readiness(), Readiness::AtRisk);
    feed(&mut s, &c, 10, vec![light(StatusLight::Fault)]);
    assert_eq!(s.readiness(), Readiness::NotReady);
    feed(
        &mut s,
        &c,
        20,
        vec![Signal::Position(home().offset(0.0, 500.0))],
    );
    assert_eq!(s.readiness(), Readiness::Missing);
    assert_eq!(
        s.causes(),
        vec![Cause::StatusFault, Cause::TemperatureHigh, Cause::Moved]
    );
}

#[test]
fn out_of_order_readings_do_not_roll_back() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    feed(
        &mut s,
        &c,
        200,
        vec![light(StatusLight::Fault), Signal::TemperatureC(20.0)],
    );
    // Older reading delivered later: ok light and an older temperature.
    let tr = s
        .apply(
            &c,
            &reading(
                100,
                vec![
                    light(StatusLight::Ok),
                    Signal::TemperatureC(-5.0),
                    Signal::Tamper(true),
                ],
            ),
            t(210),
        )
        .unwrap();
    assert_eq!(tr.stale_signals, 2);
    assert_eq!(
        tr.opened,
        vec![Cause::Tamper],
        "a kind never seen before still applies"
    );
    assert_eq!(s.readiness(), Readiness::NotReady);
    assert_eq!(s.last_value().light, Some(StatusLight::Fault));
    assert_eq!(s.last_value().temperature_c, Some(20.0));
    assert_eq!(s.last_seen(), Some(t(200)));
    // A late door "open" is not an event once a newer "closed" was applied.
    feed(&mut s, &c, 300, vec![Signal::DoorOpen(false)]);
    let tr = s
        .apply(&c, &reading(250, vec![Signal::DoorOpen(true)]), t(310))
        .unwrap();
    assert!(tr.events.is_empty());
    assert_eq!(tr.stale_signals, 1);
    // An informative light older than an "unknown" still applies to the rules.
    feed(&mut s, &c, 400, vec![light(StatusLight::Unknown)]);
    let tr = s
        .apply(&c, &reading(350, vec![light(StatusLight::Ok)]), t(410))
        .unwrap();
    assert_eq!(tr.cleared, vec![Cause::StatusFault]);
    assert_eq!(tr.stale_signals, 0);
}

#[test]
fn far_future_and_ancient_readings_are_rejected_without_effect() {
    let r = ModelRules::default();
    let c = ctx(&r);
    let mut s = UnitState::new(t(0));
    let before = s.clone();
    let now = t(1000);
    let future = reading(
        1000 + MAX_FUTURE_SKEW_S + 1,
        vec![light(StatusLight::Fault)],
    );
    assert_eq!(s.apply(&c, &future, now), Err(Rejected::FromFuture));
    let ancient = reading(
        1000 - MAX_READING_AGE_S - 1,
        vec![light(StatusLight::Fault)],
    );
    assert_eq!(s.apply(&c, &ancient, now), Err(Rejected::TooOld));
    assert_eq!(s, before);
    assert!(
        s.apply(&c, &reading(1000 + MAX_FUTURE_SKEW_S, vec![]), now)
            .is_ok()
    );
    assert!(
        s.apply(&c, &reading(1000 - MAX_READING_AGE_S, vec![]), now)
            .is_ok()
    );
    // A reading slightly ahead does not make timers negative or panic.
    feed(&mut s, &c, 1100, vec![Signal::Beeps(true)]);
    assert!(s.tick(&c, t(1000)).is_noop());
}

#[test]
fn unit_state_size() {
    let size = std::mem::size_of::<UnitState>();
    println!("size_of::<UnitState>() = {size}");
    assert!(size < 256, "{size}");
}

// ------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// After going above the maximum, any sequence inside [max − h, max + h)
    /// (the lower bound itself drawn often)
    /// never gives more than one transition out of AtRisk and one into it.
    #[test]
    fn hysteresis_band_never_flaps(vals in proptest::collection::vec(prop_oneof![1 => Just(0u32), 9 => 0u32..4000], 1..60), steps in proptest::collection::vec(1i64..60, 60)) {
        let r = ModelRules::default();
        let c = ctx(&r);
        let mut s = UnitState::new(t(0));
        feed(&mut s, &c, 0, vec![Signal::TemperatureC(51.0)]);
        prop_assert_eq!(s.readiness(), Readiness::AtRisk);
        let (lo, width) = (r.temp_max_c - r.temp_hysteresis_c, 2.0 * r.temp_hysteresis_c);
        let (mut out_of, mut into) = (0, 0);
        let mut at = 0;
        for (v, dt) in vals.iter().zip(&steps) {
            at += dt;
            let temp = lo + width * (*v as f32 / 4000.0);
            prop_assert!(temp >= lo && temp < r.temp_max_c + r.temp_hysteresis_c);
            let tr = feed(&mut s, &c, at, vec![Signal::TemperatureC(temp)]);
            if tr.before == Readiness::AtRisk && tr.after != Readiness::AtRisk { out_of += 1; }
            if tr.after == Readiness::AtRisk && tr.before != Readiness::AtRisk { into += 1; }
        }
        prop_assert!(out_of <= 1 && into <= 1, "out {out_of}, in {into}");
        // Inside the band the zone never clears.
        prop_assert!(s.causes().contains(&Cause::TemperatureHigh));
    }

    /// The latest values do not depend on the order readings arrive in (nor
    /// do the causes that depend only on the latest value; hysteresis and
    /// timers legitimately depend on the history that was seen).
    #[test]
    fn arrival_order_does_not_matter(
        items in proptest::collection::vec((0u8..8, any::<u8>(), -30i16..80), 1..25),
        shuffle in any::<proptest::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let r = ModelRules::default();
        let c = ctx(&r);
        let readings: Vec<Reading> = items
            .iter()
            .enumerate()
            .map(|(i, (kind, b, temp))| {
                let sig = match kind {
                    0 => light([StatusLight::Ok, StatusLight::Fault, StatusLight::Off, StatusLight::Unknown][*b as usize % 4]),
                    1 => Signal::TemperatureC(f32::from(*temp)),
                    2 => Signal::Beeps(b % 2 == 0),
                    3 => Signal::Position(home().offset(f64::from(*b), f64::from(*temp).abs() * 3.0)),
                    4 => Signal::UnitBatteryPct(b % 101),
                    5 => Signal::DoorOpen(b % 2 == 0),
                    6 => Signal::AedPresent(b % 2 == 0),
                    _ => Signal::Tamper(b % 2 == 0),
                };
                // Distinct timestamps, 7 s apart.
                reading(7 * i as i64, vec![sig])
            })
            .collect();
        let now = t(7 * readings.len() as i64 + 1);
        let mut in_order = UnitState::new(t(0));
        for r in &readings { in_order.apply(&c, r, now).unwrap(); }
        // A deterministic shuffle.
        let mut shuffled = readings.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let k = shuffle.index(shuffled.len());
        shuffled.rotate_left(k);
        let mut mixed = UnitState::new(t(0));
        for r in &shuffled { mixed.apply(&c, r, now).unwrap(); }
        prop_assert_eq!(in_order.last_value(), mixed.last_value());
        prop_assert_eq!(in_order.last_seen(), mixed.last_seen());
        for cause in [Cause::StatusFault, Cause::AedRemoved, Cause::Tamper] {
            prop_assert_eq!(in_order.has(cause), mixed.has(cause));
        }
    }

    /// Nothing a reading can carry makes apply/tick/next_deadline panic.
    #[test]
    fn arbitrary_readings_never_panic(
        raw in proptest::collection::vec((0u8..8, any::<u32>(), any::<f32>(), any::<f64>(), any::<f64>(), -1_000_000i64..1_000_000), 0..20),
        rules in (any::<f32>(), any::<f32>(), any::<f32>(), any::<u32>(), any::<u32>(), any::<f32>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>()),
        days in any::<i32>(),
    ) {
        let mr = ModelRules {
            temp_min_c: rules.0, temp_max_c: rules.1, temp_hysteresis_c: rules.2, temp_grace_s: rules.3,
            light_off_grace_s: rules.4, moved_m: rules.5, unit_battery_low_pct: rules.6,
            expiry_soon_days: rules.7, silent_after_intervals: rules.8, beeps_sustain_s: rules.9,
        };
        let date = NaiveDate::from_num_days_from_ce_opt(days % 3_000_000);
        let c = UnitCtx { rules: &mr, registered: Some(home()), interval_s: rules.9, pad_expiry: date, battery_expiry: date };
        let mut s = UnitState::new(t(0));
        for (kind, u, f, a, b, dt) in raw {
            let sig = match kind {
                0 => light(StatusLight::Ok),
                1 => Signal::TemperatureC(f),
                2 => Signal::Beeps(u % 2 == 0),
                3 => Signal::Position(LatLon { lat: a, lon: b }),
                4 => Signal::UnitBatteryPct(u as u8),
                5 => Signal::DoorOpen(u % 2 == 0),
                6 => Signal::AedPresent(u % 2 == 0),
                _ => Signal::Tamper(u % 2 == 0),
            };
            let _ = s.apply(&c, &reading(dt, vec![sig]), t(dt + i64::from(u % 1000)));
            let _ = s.tick(&c, t(dt + i64::from(u)));
            let _ = s.next_deadline(&c);
        }
        let _ = s.tick(&c, DateTime::<Utc>::MAX_UTC);
        let _ = s.tick(&c, DateTime::<Utc>::MIN_UTC);
        let _ = s.apply(&c, &reading(0, vec![]), DateTime::<Utc>::MIN_UTC);
        let _ = s.apply(&c, &Reading { at: DateTime::<Utc>::MAX_UTC, seq: None, signals: vec![] }, DateTime::<Utc>::MAX_UTC);
        let _ = s.next_deadline(&c);
    }
}
