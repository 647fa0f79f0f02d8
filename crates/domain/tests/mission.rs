//! The mission state machine and planner, driven as the server drives it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use firstlink_domain::aed::{AedCandidate, AedList, Readiness};
use firstlink_domain::geo::{LatLon, StraightLine};
use firstlink_domain::ids::{AedId, IncidentId, VolunteerId};
use firstlink_domain::incident::{Exclusion, LocationType, NewIncident};
use firstlink_domain::index::{VolunteerFlags, VolunteerIndex};
use firstlink_domain::mission::*;
use firstlink_domain::policy::DispatchPolicy;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    // A Tuesday, 14:00 in Copenhagen.
    Utc.with_ymd_and_hms(2026, 3, 10, 13, 0, 0).unwrap()
}

fn patient() -> LatLon {
    LatLon::new(55.6761, 12.5683).unwrap()
}

struct World {
    index: VolunteerIndex,
    aeds: AedList,
    walk: StraightLine,
    now: DateTime<Utc>,
}

impl World {
    fn new() -> Self {
        Self {
            index: VolunteerIndex::new(),
            aeds: AedList::default(),
            walk: StraightLine { detour_factor: 1.3 },
            now: t0(),
        }
    }

    /// A volunteer `m` metres east of the patient.
    fn volunteer_at(&mut self, bearing: f64, m: f64) -> VolunteerId {
        let id = VolunteerId::new();
        self.index.upsert(
            id,
            VolunteerFlags {
                eligible: true,
                homes: true,
                quiet: None,
                region: None,
            },
        );
        self.index.set_position(
            id,
            patient().offset(bearing, m),
            self.now.timestamp() as u32,
        );
        id
    }

    fn aed_at(&mut self, bearing: f64, m: f64, open_until: Option<DateTime<Utc>>) -> AedId {
        let id = AedId::new();
        self.aeds.0.push(AedCandidate {
            id,
            name: format!("AED {m} m"),
            position: patient().offset(bearing, m),
            readiness: Readiness::Ready,
            open_until,
        });
        id
    }

    fn ctx(&self) -> MissionCtx<'_> {
        MissionCtx {
            now: self.now,
            tz: chrono_tz::Europe::Copenhagen,
            volunteers: &self.index,
            aeds: &self.aeds,
            walk: &self.walk,
        }
    }

    /// Applies the effects to the world as the runtime would (busy flags).
    fn apply(&mut self, out: &Outcome) {
        for e in &out.effects {
            if let Effect::Busy { volunteer, busy } = e {
                self.index.set_busy(*volunteer, *busy);
            }
        }
    }

    fn run(&mut self, m: &mut Mission, input: Input) -> Outcome {
        let out = m.handle(input, &self.ctx()).expect("input accepted");
        self.apply(&out);
        out
    }
}

fn incident() -> NewIncident {
    NewIncident {
        external_id: "cad-1".into(),
        location: patient(),
        address: "Rådhuspladsen 1".into(),
        reported_at: t0(),
        location_type: LocationType::Public,
        ems_eta_seconds: None,
        exclusions: vec![],
        notes: None,
        test: false,
    }
}

fn alerted(out: &Outcome) -> Vec<VolunteerId> {
    out.effects
        .iter()
        .filter_map(|e| {
            if let Effect::Alert { volunteer, .. } = e {
                Some(*volunteer)
            } else {
                None
            }
        })
        .collect()
}

fn accept(w: &mut World, m: &mut Mission, v: VolunteerId) -> AcceptReply {
    w.run(
        m,
        Input::Accept {
            volunteer: v,
            position: None,
        },
    )
    .accept
    .unwrap()
}

fn task(r: AcceptReply) -> Task {
    match r {
        AcceptReply::Accepted { task } => task,
        other => panic!("expected a task, got {other:?}"),
    }
}

#[test]
fn first_wave_alerts_the_nearest_by_walking_time_and_never_the_address() {
    let mut w = World::new();
    let near: Vec<_> = (0..5)
        .map(|i| w.volunteer_at(f64::from(i) * 70.0, 100.0 + f64::from(i) * 50.0))
        .collect();
    let _far: Vec<_> = (0..10)
        .map(|i| w.volunteer_at(f64::from(i) * 30.0, 900.0 + f64::from(i)))
        .collect();
    let _outside = w.volunteer_at(0.0, 5_000.0);
    let policy = DispatchPolicy {
        first_wave: 5,
        ..DispatchPolicy::firstlink()
    };
    let mut m = Mission::new(IncidentId::new(), incident(), policy, w.now);
    let out = w.run(&mut m, Input::Start);
    assert_eq!(alerted(&out), near, "the five nearest, nearest first");
    let dump = format!("{out:?}");
    assert!(
        !dump.contains("Rådhuspladsen"),
        "alerts must not carry the address"
    );
    assert!(near.iter().all(|v| w.index.is_busy(*v)));
}

#[test]
fn declines_and_timeouts_are_replaced_and_outstanding_are_stood_down() {
    let mut w = World::new();
    let vs: Vec<_> = (0..12)
        .map(|i| w.volunteer_at(f64::from(i) * 29.0, 100.0 + f64::from(i) * 60.0))
        .collect();
    let policy = DispatchPolicy {
        first_wave: 3,
        wave_size: 0,
        target_acceptors: 2,
        replace_delay_s: 10,
        answer_timeout_s: 60,
        ..DispatchPolicy::firstlink()
    };
    let mut m = Mission::new(IncidentId::new(), incident(), policy, w.now);
    assert_eq!(alerted(&w.run(&mut m, Input::Start)), vs[..3]);
    w.run(&mut m, Input::Decline { volunteer: vs[0] });
    assert_eq!(m.next_deadline(), Some(w.now + Duration::seconds(10)));
    w.now += Duration::seconds(10);
    assert_eq!(
        alerted(&w.run(&mut m, Input::Tick)),
        vec![vs[3]],
        "decline replaced by the next nearest"
    );
    // vs[1] and vs[2] time out at 60 s; vs[3] (alerted at 10 s) does not yet.
    w.now = t0() + Duration::seconds(60);
    let out = w.run(&mut m, Input::Tick);
    assert!(
        alerted(&out).is_empty(),
        "replacements wait for the replace delay"
    );
    assert_eq!(m.alert(vs[1]).unwrap().state, AlertState::TimedOut);
    w.now = t0() + Duration::seconds(70);
    let out = w.run(&mut m, Input::Tick);
    // vs[3] times out now too; all three are replaced together.
    assert_eq!(alerted(&out), vs[4..7]);
    assert!(!w.index.is_busy(vs[1]));
    task(accept(&mut w, &mut m, vs[4]));
    let out = w.run(
        &mut m,
        Input::Accept {
            volunteer: vs[5],
            position: None,
        },
    );
    assert!(matches!(out.accept, Some(AcceptReply::Accepted { .. })));
    // Target reached: vs[6] is told it is not needed.
    assert!(out.effects.contains(&Effect::Notify {
        volunteer: vs[6],
        note: Note::StandDown,
        at: None
    }));
    assert_eq!(m.alert(vs[6]).unwrap().state, AlertState::StoodDown);
    assert_eq!(accept(&mut w, &mut m, vs[6]), AcceptReply::NotNeeded);
    // A late answer from a timed-out volunteer is not needed either.
    assert_eq!(accept(&mut w, &mut m, vs[3]), AcceptReply::NotNeeded);
    // Nothing more to do until the mission's time limit.
    assert_eq!(m.next_deadline(), Some(t0() + Duration::seconds(3_600)));
}

#[test]
fn hjertelober_sends_the_first_four_via_aeds_and_the_fifth_direct() {
    let mut w = World::new();
    let vs: Vec<_> = (0..6)
        .map(|i| w.volunteer_at(f64::from(i) * 60.0, 400.0))
        .collect();
    for i in 0..6 {
        w.aed_at(f64::from(i) * 60.0 + 5.0, 300.0, None);
    }
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::hjertelober(),
        w.now,
    );
    w.run(&mut m, Input::Start);
    let mut claimed = Vec::new();
    for (i, v) in vs.iter().take(5).enumerate() {
        let t = task(accept(&mut w, &mut m, *v));
        if i < 4 {
            assert_eq!(t.role, Role::FetchAed, "acceptor {i}");
            let aed = t.aed.unwrap().id;
            assert!(
                !claimed.contains(&aed),
                "an AED is never given to two responders"
            );
            claimed.push(aed);
        } else {
            assert_eq!(t.role, Role::Cpr);
            assert!(t.aed.is_none());
        }
    }
}

#[test]
fn heartrunner_sends_the_first_direct_then_the_rest_via_aeds() {
    let mut w = World::new();
    let vs: Vec<_> = (0..3)
        .map(|i| w.volunteer_at(f64::from(i) * 90.0, 500.0))
        .collect();
    w.aed_at(0.0, 250.0, None);
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::heartrunner(),
        w.now,
    );
    w.run(&mut m, Input::Start);
    assert_eq!(task(accept(&mut w, &mut m, vs[0])).role, Role::Cpr);
    assert_eq!(task(accept(&mut w, &mut m, vs[1])).role, Role::FetchAed);
    // The only AED is claimed: the next acceptor goes straight to the patient.
    assert_eq!(task(accept(&mut w, &mut m, vs[2])).role, Role::Cpr);
}

#[test]
fn optimal_fetches_an_aed_that_arrives_well_before_the_ambulance_and_skips_closed_ones() {
    let mut w = World::new();
    let v = w.volunteer_at(90.0, 300.0);
    let closed = w.aed_at(90.0, 200.0, Some(t0() + Duration::minutes(1)));
    let open = w.aed_at(80.0, 250.0, None);
    let mut inc = incident();
    inc.ems_eta_seconds = Some(600);
    let mut m = Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), w.now);
    w.run(&mut m, Input::Start);
    let t = task(accept(&mut w, &mut m, v));
    assert_eq!(t.role, Role::FetchAed);
    assert_eq!(t.aed.as_ref().unwrap().id, open);
    assert_ne!(t.aed.unwrap().id, closed);
}

#[test]
fn no_aed_is_fetched_when_it_would_arrive_after_the_ambulance() {
    let mut w = World::new();
    let v = w.volunteer_at(90.0, 300.0);
    w.aed_at(270.0, 1_200.0, None);
    let mut inc = incident();
    inc.ems_eta_seconds = Some(240);
    let mut m = Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), w.now);
    w.run(&mut m, Input::Start);
    assert_eq!(task(accept(&mut w, &mut m, v)).role, Role::Cpr);
}

#[test]
fn a_volunteer_who_moved_away_is_released_on_accept() {
    let mut w = World::new();
    let v = w.volunteer_at(0.0, 500.0);
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::firstlink(),
        w.now,
    );
    w.run(&mut m, Input::Start);
    let far = patient().offset(0.0, 10_000.0);
    let out = w.run(
        &mut m,
        Input::Accept {
            volunteer: v,
            position: Some(far),
        },
    );
    assert_eq!(out.accept, Some(AcceptReply::OutOfRange));
    assert!(out.effects.contains(&Effect::Notify {
        volunteer: v,
        note: Note::OutOfRange,
        at: None
    }));
    assert!(!w.index.is_busy(v));
}

#[test]
fn exclusions_care_facilities_and_blackout_alert_nobody() {
    let mut w = World::new();
    w.volunteer_at(0.0, 100.0);
    let mut inc = incident();
    inc.exclusions = vec![Exclusion::Trauma];
    let mut m = Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), w.now);
    let out = w.run(&mut m, Input::Start);
    assert!(alerted(&out).is_empty());
    assert_eq!(m.status, Status::NotAlerted);
    let mut inc = incident();
    inc.location_type = LocationType::CareFacility;
    let mut m = Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), w.now);
    assert!(alerted(&w.run(&mut m, Input::Start)).is_empty());
    // 14:00 local is inside a 13–15 blackout.
    let p = DispatchPolicy {
        blackout_hours: Some([13, 15]),
        ..DispatchPolicy::firstlink()
    };
    let mut m = Mission::new(IncidentId::new(), incident(), p, w.now);
    assert!(alerted(&w.run(&mut m, Input::Start)).is_empty());
    assert!(m.end_reason.unwrap().contains("blackout"));
}

#[test]
fn homes_need_volunteers_cleared_for_homes() {
    let mut w = World::new();
    let lay = VolunteerId::new();
    w.index.upsert(
        lay,
        VolunteerFlags {
            eligible: true,
            homes: false,
            quiet: None,
            region: None,
        },
    );
    w.index
        .set_position(lay, patient().offset(0.0, 50.0), w.now.timestamp() as u32);
    let vetted = w.volunteer_at(0.0, 400.0);
    let mut inc = incident();
    inc.location_type = LocationType::Residence;
    let mut m = Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), w.now);
    assert_eq!(alerted(&w.run(&mut m, Input::Start)), vec![vetted]);
}

#[test]
fn ending_reaches_everybody_releases_aeds_and_schedules_the_survey() {
    let mut w = World::new();
    let vs: Vec<_> = (0..3)
        .map(|i| w.volunteer_at(f64::from(i) * 120.0, 300.0))
        .collect();
    let aed = w.aed_at(0.0, 150.0, None);
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::hjertelober(),
        w.now,
    );
    w.run(&mut m, Input::Start);
    let t = task(accept(&mut w, &mut m, vs[0]));
    assert_eq!(t.aed.unwrap().id, aed);
    w.run(
        &mut m,
        Input::Progress {
            volunteer: vs[0],
            progress: Progress::AedCollected,
        },
    );
    assert!(
        m.handle(
            Input::Progress {
                volunteer: vs[0],
                progress: Progress::EnRoute
            },
            &w.ctx()
        )
        .is_err()
    );
    w.run(&mut m, Input::Decline { volunteer: vs[1] });
    let out = w.run(
        &mut m,
        Input::End {
            reason: Some("ambulance on scene".into()),
        },
    );
    assert_eq!(m.status, Status::Ended);
    assert!(out.effects.contains(&Effect::Release { aed }));
    assert!(out.effects.contains(&Effect::Notify {
        volunteer: vs[0],
        note: Note::Ended,
        at: None
    }));
    assert!(out.effects.contains(&Effect::Notify {
        volunteer: vs[2],
        note: Note::Ended,
        at: None
    }));
    assert!(out.effects.iter().any(|e| matches!(e, Effect::Notify { volunteer, note: Note::ReturnAed { .. }, .. } if *volunteer == vs[0])));
    let survey_at = t0() + Duration::minutes(90);
    assert!(out.effects.contains(&Effect::Notify {
        volunteer: vs[0],
        note: Note::Survey,
        at: Some(survey_at)
    }));
    assert!(vs.iter().all(|v| !w.index.is_busy(*v)));
    assert_eq!(m.handle(Input::Tick, &w.ctx()).unwrap(), Outcome::default());
    assert_eq!(
        m.handle(Input::Decline { volunteer: vs[2] }, &w.ctx()),
        Err(MissionError::NotActive)
    );
}

#[test]
fn radius_widens_when_too_few_are_in_reach() {
    let mut w = World::new();
    let far = w.volunteer_at(0.0, 2_000.0);
    // A region with sparse volunteers lets firstlink widen (the default stays at 1.3 km).
    let widening = DispatchPolicy {
        max_radius_m: 3_000.0,
        ..DispatchPolicy::firstlink()
    };
    let mut m = Mission::new(IncidentId::new(), incident(), widening, w.now);
    assert_eq!(alerted(&w.run(&mut m, Input::Start)), vec![far]);
    assert!(m.radius_m >= 2_000.0);
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::firstlink(),
        w.now,
    );
    assert!(
        alerted(&w.run(&mut m, Input::Start)).is_empty(),
        "the default keeps 1.3 km"
    );
    let mut m = Mission::new(
        IncidentId::new(),
        incident(),
        DispatchPolicy::heartrunner(),
        w.now,
    );
    assert!(
        alerted(&w.run(&mut m, Input::Start)).is_empty(),
        "heartrunner keeps 1.3 km"
    );
}

// ---- property tests of the planner's invariants ----

#[derive(Debug, Clone)]
enum Step {
    Tick(u32),
    Accept(usize),
    Decline(usize),
    Leave(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u32..120).prop_map(Step::Tick),
        (0usize..60).prop_map(Step::Accept),
        (0usize..60).prop_map(Step::Decline),
        (0usize..60).prop_map(Step::Leave),
    ]
}

fn policy() -> impl Strategy<Value = DispatchPolicy> {
    (1u32..12, 0u32..6, 1u32..6, any::<bool>(), 0usize..4).prop_map(
        |(first, wave, target, replace, preset)| {
            let base = DispatchPolicy::preset(DispatchPolicy::PRESETS[preset]).unwrap();
            DispatchPolicy {
                first_wave: first,
                wave_size: wave,
                target_acceptors: target,
                replace_declines: replace,
                max_alerts: first + 8,
                answer_timeout_s: 60,
                wave_interval_s: 30,
                ..base
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn planner_invariants_hold(
        policy in policy(),
        people in prop::collection::vec((0.0f64..360.0, 10.0f64..4_000.0, any::<bool>(), 0u32..7_200), 1..60),
        aeds in prop::collection::vec((0.0f64..360.0, 10.0f64..1_500.0), 0..6),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let mut w = World::new();
        let mut ids = Vec::new();
        let mut ineligible = Vec::new();
        let mut stale = Vec::new();
        for (b, d, eligible, age) in &people {
            let id = VolunteerId::new();
            w.index.upsert(id, VolunteerFlags { eligible: *eligible, homes: true, quiet: None, region: None });
            w.index.set_position(id, patient().offset(*b, *d), w.now.timestamp() as u32 - age);
            if !eligible { ineligible.push(id); }
            if *age > policy.position_max_age_s { stale.push(id); }
            ids.push(id);
        }
        for (b, d) in &aeds { w.aed_at(*b, *d, None); }
        let mut m = Mission::new(IncidentId::new(), incident(), policy.clone(), w.now);
        let first = w.run(&mut m, Input::Start);
        prop_assert!(alerted(&first).len() <= policy.first_wave as usize);
        for s in steps {
            let input = match s {
                Step::Tick(dt) => { w.now += Duration::seconds(i64::from(dt)); Input::Tick }
                Step::Accept(i) => Input::Accept { volunteer: ids[i % ids.len()], position: None },
                Step::Decline(i) => Input::Decline { volunteer: ids[i % ids.len()] },
                Step::Leave(i) => Input::Leave { volunteer: ids[i % ids.len()] },
            };
            if let Ok(out) = m.handle(input, &w.ctx()) { w.apply(&out); }
            // Never a volunteer twice per mission.
            let mut seen: Vec<_> = m.alerts.iter().map(|a| a.volunteer).collect();
            seen.sort();
            let n = seen.len();
            seen.dedup();
            prop_assert_eq!(seen.len(), n);
            // Never more than the policy allows.
            prop_assert!(m.alerts.len() <= policy.max_alerts as usize);
            prop_assert!(m.responders() <= policy.target_acceptors as usize);
            // Never an ineligible or stale volunteer (stale relative to the alert time).
            for a in &m.alerts {
                prop_assert!(!ineligible.contains(&a.volunteer));
                prop_assert!(!(stale.contains(&a.volunteer) && a.alerted_at == t0()));
            }
            // An AED is held by at most one responder.
            let mut held: Vec<_> = m.alerts.iter().filter(|a| a.state.responding())
                .filter_map(|a| a.task.as_ref()?.aed.as_ref().map(|x| x.id)).collect();
            let h = held.len();
            held.sort();
            held.dedup();
            prop_assert_eq!(held.len(), h);
            // Busy flags agree with the mission.
            for a in &m.alerts {
                let should = a.state == AlertState::Alerted || a.state.responding();
                prop_assert_eq!(w.index.is_busy(a.volunteer), should);
            }
        }
    }
}
