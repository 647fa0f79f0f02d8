//! The discrete-event simulation: one run of one policy over a simulated
//! period, driving `Mission::handle` exactly as the server does.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use chrono::{Duration, Timelike};
use firstlink_domain::LatLon;
use firstlink_domain::geo::WalkingEstimator;
use firstlink_domain::ids::VolunteerId;
use firstlink_domain::incident::{LocationType, NewIncident};
use firstlink_domain::index::{Candidate, CandidateFilter, VolunteerFlags, VolunteerIndex};
use firstlink_domain::mission::{
    AcceptReply, AlertState, CandidateSource, Effect, Input, Mission, MissionCtx, MissionError,
    Note, Progress, Role, Status,
};
use firstlink_domain::policy::DispatchPolicy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{LogNormal, Scenario};
use crate::world::{SimAeds, World, from_ms, incident_id, ms};

/// SplitMix64: turns any 64-bit value into a well-mixed one.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller).
pub fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(1e-300);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn draw<R: Rng>(d: &LogNormal, rng: &mut R) -> f64 {
    let z = normal(rng);
    (d.median * (d.sigma() * z).exp()).clamp(d.min, d.max)
}

pub fn volunteer_id(i: usize) -> VolunteerId {
    VolunteerId(uuid::Uuid::from_u128(
        0x0000_0000_0000_4000_8000_0000_0000_0000 | (i as u128 + 1),
    ))
}

fn volunteer_idx(v: VolunteerId) -> usize {
    ((v.0.as_u128() & 0xFFFF_FFFF_FFFF) as usize).saturating_sub(1)
}

#[derive(Debug, Clone)]
pub struct SimVolunteer {
    pub position: LatLon,
    pub speed_mps: f64,
    pub homes: bool,
}

#[derive(Debug, Clone)]
pub struct SimIncident {
    /// Unix ms of the call (alert and ambulance dispatch).
    pub at: i64,
    pub position: LatLon,
    pub public: bool,
    /// Call to ambulance at the address, seconds.
    pub ambulance_s: f64,
    /// ETA the CAD reports, seconds (None = not reported).
    pub eta_reported_s: Option<u32>,
}

/// One run's population and incidents, shared by every policy.
pub struct RunInput {
    pub run: u32,
    pub salt: u64,
    pub volunteers: Vec<SimVolunteer>,
    pub incidents: Vec<SimIncident>,
}

impl RunInput {
    pub fn draw(s: &Scenario, w: &World, run: u32) -> anyhow::Result<RunInput> {
        let salt = mix(s.seed ^ mix(u64::from(run) + 1));
        let mut rng = ChaCha8Rng::seed_from_u64(salt);
        let mut volunteers = Vec::new();
        for f in &s.volunteers.fixed {
            let position = LatLon::new(f.lat, f.lon)?;
            let speed_mps = match f.speed_mps {
                Some(v) => v,
                None => draw(&s.volunteers.speed_mps, &mut rng),
            };
            volunteers.push(SimVolunteer {
                position,
                speed_mps,
                homes: true,
            });
        }
        for _ in 0..s.volunteers.count {
            let position = w.places[rng.gen_range(0..w.places.len())];
            let speed_mps = draw(&s.volunteers.speed_mps, &mut rng);
            let homes = rng.r#gen::<f64>() < s.volunteers.homes_share;
            volunteers.push(SimVolunteer {
                position,
                speed_mps,
                homes,
            });
        }
        let mut incidents = Vec::new();
        let start = ms(w.start);
        for f in &s.incidents.fixed {
            let ambulance_s = match f.ambulance_s {
                Some(a) => f64::from(a),
                None => draw(&s.ambulance.response_s, &mut rng),
            };
            let eta_reported_s = s
                .ambulance
                .eta_reported
                .then_some(ambulance_s.round() as u32);
            incidents.push(SimIncident {
                at: start + i64::from(f.at_s) * 1000,
                position: LatLon::new(f.lat, f.lon)?,
                public: f.public,
                ambulance_s,
                eta_reported_s,
            });
        }
        if s.incidents.per_year > 0.0 {
            // Poisson process thinned by the hour-of-day profile.
            let w24 = &s.incidents.by_hour;
            let mean_w = w24.iter().sum::<f64>() / 24.0;
            let max_w = w24.iter().copied().fold(0.0, f64::max);
            let rate_max_per_ms = s.incidents.per_year / (365.25 * 86_400_000.0) * max_w / mean_w;
            let end = ms(w.end);
            let mut t = start as f64;
            loop {
                let u: f64 = rng.r#gen::<f64>().max(1e-300);
                t += -u.ln() / rate_max_per_ms;
                if t >= end as f64 {
                    break;
                }
                let at = t as i64;
                let hour = from_ms(at).with_timezone(&w.tz).hour() as usize;
                let keep = rng.r#gen::<f64>() < w24[hour] / max_w;
                let position = w.places[rng.gen_range(0..w.places.len())];
                let public = rng.r#gen::<f64>() >= s.incidents.home_share;
                let ambulance_s = draw(&s.ambulance.response_s, &mut rng);
                let noise = (s.ambulance.eta_error_sigma * normal(&mut rng)).exp();
                if !keep {
                    continue;
                }
                let eta_reported_s = s
                    .ambulance
                    .eta_reported
                    .then(|| (ambulance_s * noise).round().max(0.0) as u32);
                incidents.push(SimIncident {
                    at,
                    position,
                    public,
                    ambulance_s,
                    eta_reported_s,
                });
            }
        }
        incidents.sort_by_key(|i| i.at);
        Ok(RunInput {
            run,
            salt,
            volunteers,
            incidents,
        })
    }
}

/// What happened in one incident under one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentResult {
    pub run: u32,
    pub incident: usize,
    pub at: i64,
    pub local_hour: u32,
    pub public: bool,
    pub position: LatLon,
    pub ambulance_s: f64,
    pub alerted: bool,
    pub alerts: u32,
    pub accepted: u32,
    pub stood_down: u32,
    pub arrived: u32,
    pub sent_to_aed: u32,
    /// First volunteer at the patient, s after the call.
    pub first_volunteer_s: Option<f64>,
    /// First volunteer with an AED at the patient.
    pub first_aed_volunteer_s: Option<f64>,
    pub cpr_s: f64,
    pub aed_s: f64,
    pub shock_s: f64,
    pub cpr_before_ems: bool,
    pub aed_before_ems: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Start(usize),
    Tick(usize, u64),
    Answer(usize, usize, bool),
    Leave(usize, usize),
    AtAed(usize, usize),
    OnScene(usize, usize, bool),
    End(usize),
}

/// Who is "available" right now: a deterministic draw per volunteer and hour,
/// with the scenario's share for that local hour. Wraps the real index.
struct Available<'a> {
    index: &'a VolunteerIndex,
    share: f64,
    key: u64,
}

impl Available<'_> {
    fn is(&self, v: VolunteerId) -> bool {
        unit(mix(self.key ^ mix(volunteer_idx(v) as u64))) < self.share
    }
}

impl CandidateSource for Available<'_> {
    fn nearest(
        &self,
        centre: LatLon,
        radius_m: f64,
        k: usize,
        filter: &CandidateFilter,
        skip: &dyn Fn(VolunteerId) -> bool,
    ) -> Vec<Candidate> {
        self.index
            .nearest(centre, radius_m, k, filter, &|v| skip(v) || !self.is(v))
    }
    fn position(&self, id: VolunteerId) -> Option<(LatLon, u32)> {
        self.index.position(id)
    }
}

/// A volunteer's answer to one alert, drawn from a stream that depends only on
/// (run, incident, volunteer), so every policy sees the same person answer the
/// same way.
struct Answer {
    u: f64,
    delay_s: f64,
    no_show: bool,
    withdraws: bool,
    withdraw_s: f64,
    pickup_s: f64,
}

fn answer_for(s: &Scenario, salt: u64, incident: usize, v: usize) -> Answer {
    let mut r = ChaCha8Rng::seed_from_u64(mix(salt
        ^ mix(incident as u64 ^ 0xA11C_E000_0000)
        ^ (mix(v as u64) << 1)));
    let rs = &s.response;
    Answer {
        u: r.r#gen(),
        delay_s: draw(&rs.answer_delay_s, &mut r),
        no_show: r.r#gen::<f64>() < rs.no_show,
        withdraws: r.r#gen::<f64>() < rs.no_show_withdraws,
        withdraw_s: draw(&rs.withdraw_after_s, &mut r),
        pickup_s: draw(&s.aeds.pickup_s, &mut r),
    }
}

struct Live {
    mission: Mission,
    generation: u64,
    stopped: BTreeSet<usize>,
    first_volunteer_at: Option<i64>,
    first_aed_at: Option<i64>,
    arrived: u32,
    pickup: BTreeMap<usize, f64>,
}

/// Counters of engine replies the simulation did not expect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineLog {
    pub inputs: u64,
    pub errors: BTreeMap<String, u64>,
}

pub struct PolicyRun {
    pub results: Vec<IncidentResult>,
    pub log: EngineLog,
}

/// Simulates all incidents of one run under one policy.
pub fn simulate(
    s: &Scenario,
    w: &World,
    walk: &dyn WalkingEstimator,
    input: &RunInput,
    policy: &DispatchPolicy,
) -> PolicyRun {
    let mut index = VolunteerIndex::with_capacity(input.volunteers.len());
    for (i, v) in input.volunteers.iter().enumerate() {
        let id = volunteer_id(i);
        index.upsert(
            id,
            VolunteerFlags {
                eligible: true,
                homes: v.homes,
                quiet: None,
                region: None,
            },
        );
        index.set_position(id, v.position, u32::MAX);
    }
    let mut aeds = SimAeds::new(w);
    let mut queue: BinaryHeap<Reverse<(i64, u64, Ev)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Reverse<(i64, u64, Ev)>>, t: i64, e: Ev| {
        seq += 1;
        q.push(Reverse((t, seq, e)));
    };
    for (i, inc) in input.incidents.iter().enumerate() {
        push(&mut queue, inc.at, Ev::Start(i));
        let end =
            inc.at + ((inc.ambulance_s + f64::from(s.outcome.handover_s)) * 1000.0).round() as i64;
        push(&mut queue, end, Ev::End(i));
    }
    let mut live: Vec<Option<Live>> = (0..input.incidents.len()).map(|_| None).collect();
    let mut log = EngineLog::default();
    let mut results: Vec<Option<IncidentResult>> = vec![None; input.incidents.len()];

    while let Some(Reverse((now_ms, _, ev))) = queue.pop() {
        let now = from_ms(now_ms);
        let local = now.with_timezone(&w.tz);
        let hour = local.hour() as usize;
        let share = s.volunteers.available_by_hour[hour];
        let akey = mix(input.salt ^ mix((now_ms.div_euclid(3_600_000)) as u64 ^ 0x00A7_A11B));
        let inc_of = |e: &Ev| match *e {
            Ev::Start(i)
            | Ev::Tick(i, _)
            | Ev::Answer(i, _, _)
            | Ev::Leave(i, _)
            | Ev::AtAed(i, _) => i,
            Ev::OnScene(i, _, _) | Ev::End(i) => i,
        };
        let i = inc_of(&ev);
        let inc = &input.incidents[i];
        // Decide the input (and do the bookkeeping that does not need the engine).
        let input_for: Option<Input> = match ev {
            Ev::Start(_) => {
                let ni = NewIncident {
                    external_id: format!("sim-{}-{i}", input.run),
                    location: inc.position,
                    address: format!("simulated address {i}"),
                    reported_at: from_ms(inc.at),
                    location_type: if inc.public {
                        LocationType::Public
                    } else {
                        LocationType::Residence
                    },
                    ems_eta_seconds: inc.eta_reported_s,
                    exclusions: Vec::new(),
                    notes: None,
                    test: false,
                };
                let m = Mission::new(incident_id(input.run, i), ni, policy.clone(), now);
                live[i] = Some(Live {
                    mission: m,
                    generation: 0,
                    stopped: BTreeSet::new(),
                    first_volunteer_at: None,
                    first_aed_at: None,
                    arrived: 0,
                    pickup: BTreeMap::new(),
                });
                Some(Input::Start)
            }
            Ev::Tick(_, g) => match &live[i] {
                Some(l) if l.generation == g && l.mission.is_live() => Some(Input::Tick),
                _ => None,
            },
            Ev::Answer(_, v, accept) => match &live[i] {
                Some(l) if l.mission.is_live() && !l.stopped.contains(&v) => Some(if accept {
                    Input::Accept {
                        volunteer: volunteer_id(v),
                        position: None,
                    }
                } else {
                    Input::Decline {
                        volunteer: volunteer_id(v),
                    }
                }),
                _ => None,
            },
            Ev::Leave(_, v) => match &live[i] {
                Some(l) if l.mission.is_live() && !l.stopped.contains(&v) => Some(Input::Leave {
                    volunteer: volunteer_id(v),
                }),
                _ => None,
            },
            Ev::AtAed(_, v) => match &live[i] {
                Some(l) if l.mission.is_live() && !l.stopped.contains(&v) => {
                    Some(Input::Progress {
                        volunteer: volunteer_id(v),
                        progress: Progress::AedCollected,
                    })
                }
                _ => None,
            },
            Ev::OnScene(_, v, _) => match &live[i] {
                Some(l) if l.mission.is_live() && !l.stopped.contains(&v) => {
                    Some(Input::Progress {
                        volunteer: volunteer_id(v),
                        progress: Progress::OnScene,
                    })
                }
                _ => None,
            },
            Ev::End(_) => match &live[i] {
                Some(l) if l.mission.is_live() => Some(Input::End {
                    reason: Some("ambulance took over".into()),
                }),
                _ => None,
            },
        };
        if let Some(inp) = input_for {
            let l = live[i].as_mut().expect("started");
            let outcome = {
                let avail = Available {
                    index: &index,
                    share,
                    key: akey,
                };
                let ctx = MissionCtx {
                    now,
                    tz: w.tz,
                    volunteers: &avail,
                    aeds: &aeds,
                    walk,
                };
                log.inputs += 1;
                l.mission.handle(inp, &ctx)
            };
            let out = match outcome {
                Ok(o) => o,
                Err(e) => {
                    *log.errors.entry(error_name(&e).into()).or_default() += 1;
                    continue;
                }
            };
            // Apply the effects as the server does.
            for e in &out.effects {
                match e {
                    Effect::Busy { volunteer, busy } => index.set_busy(*volunteer, *busy),
                    Effect::Claim { aed, .. } => aeds.claim(*aed),
                    Effect::Release { aed } => aeds.release(*aed),
                    Effect::Notify {
                        volunteer, note, ..
                    } => {
                        if matches!(
                            note,
                            Note::StandDown | Note::OutOfRange | Note::Ended | Note::Cancelled
                        ) {
                            l.stopped.insert(volunteer_idx(*volunteer));
                        }
                    }
                    Effect::Alert { volunteer, .. } => {
                        let v = volunteer_idx(*volunteer);
                        let a = answer_for(s, input.salt, i, v);
                        let p_accept = s.response.accept_by_hour[hour];
                        let t = now_ms + (a.delay_s * 1000.0).round() as i64;
                        if a.u < p_accept {
                            push(&mut queue, t, Ev::Answer(i, v, true));
                        } else if a.u < p_accept + s.response.decline {
                            push(&mut queue, t, Ev::Answer(i, v, false));
                        }
                    }
                }
            }
            // Event-specific follow-ups.
            match ev {
                Ev::Answer(_, v, true) => {
                    if let Some(AcceptReply::Accepted { task }) = &out.accept {
                        let a = answer_for(s, input.salt, i, v);
                        // The app reports "on my way" right away.
                        let avail = Available {
                            index: &index,
                            share,
                            key: akey,
                        };
                        let ctx = MissionCtx {
                            now,
                            tz: w.tz,
                            volunteers: &avail,
                            aeds: &aeds,
                            walk,
                        };
                        log.inputs += 1;
                        if let Err(e) = l.mission.handle(
                            Input::Progress {
                                volunteer: volunteer_id(v),
                                progress: Progress::EnRoute,
                            },
                            &ctx,
                        ) {
                            *log.errors.entry(error_name(&e).into()).or_default() += 1;
                        }
                        let vol = &input.volunteers[v];
                        if a.no_show {
                            if a.withdraws {
                                push(
                                    &mut queue,
                                    now_ms + (a.withdraw_s * 1000.0) as i64,
                                    Ev::Leave(i, v),
                                );
                            }
                        } else {
                            let patient = inc.position;
                            let straight =
                                |x: LatLon, y: LatLon| x.distance_m(y) * s.area.detour_factor;
                            match (task.role, &task.aed) {
                                (Role::FetchAed, Some(aed)) => {
                                    let d1 = walk
                                        .distance(vol.position, aed.position)
                                        .unwrap_or_else(|| straight(vol.position, aed.position));
                                    let t1 = now_ms + (d1 / vol.speed_mps * 1000.0).round() as i64;
                                    l.pickup.insert(v, a.pickup_s);
                                    push(&mut queue, t1, Ev::AtAed(i, v));
                                }
                                _ => {
                                    let d = walk
                                        .distance(vol.position, patient)
                                        .unwrap_or_else(|| straight(vol.position, patient));
                                    let t1 = now_ms + (d / vol.speed_mps * 1000.0).round() as i64;
                                    push(&mut queue, t1, Ev::OnScene(i, v, false));
                                }
                            }
                        }
                    }
                }
                Ev::AtAed(_, v) => {
                    let aed_pos = l
                        .mission
                        .alert(volunteer_id(v))
                        .and_then(|a| a.task.as_ref())
                        .and_then(|t| t.aed.as_ref())
                        .map(|a| a.position);
                    if let Some(aed_pos) = aed_pos {
                        let vol = &input.volunteers[v];
                        // AED → patient: the patient-origin search the planner ran (walking is symmetric off `oneway:foot`).
                        let d2 = walk.distance(inc.position, aed_pos).unwrap_or_else(|| {
                            inc.position.distance_m(aed_pos) * s.area.detour_factor
                        });
                        let pickup = l.pickup.get(&v).copied().unwrap_or(0.0);
                        let t2 = now_ms + ((pickup + d2 / vol.speed_mps) * 1000.0).round() as i64;
                        push(&mut queue, t2, Ev::OnScene(i, v, true));
                    }
                }
                Ev::OnScene(_, _, with_aed) => {
                    l.arrived += 1;
                    l.first_volunteer_at.get_or_insert(now_ms);
                    if with_aed {
                        l.first_aed_at.get_or_insert(now_ms);
                    }
                }
                _ => {}
            }
            // Re-arm the mission's timer, as the server's `schedule` does.
            match l.mission.next_deadline() {
                Some(d) => {
                    l.generation += 1;
                    let t = ms(d).max(now_ms + if matches!(ev, Ev::Tick(..)) { 1 } else { 0 });
                    push(&mut queue, t, Ev::Tick(i, l.generation));
                }
                None => l.generation += 1,
            }
        }
        // A mission that is over: record it once.
        if let Some(l) = &live[i]
            && !l.mission.is_live()
            && results[i].is_none()
        {
            results[i] = Some(result_of(s, w, input, i, l));
        }
    }
    let results = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| {
                result_of(
                    s,
                    w,
                    input,
                    i,
                    live[i].as_ref().expect("every incident starts"),
                )
            })
        })
        .collect();
    PolicyRun { results, log }
}

fn error_name(e: &MissionError) -> &'static str {
    match e {
        MissionError::NotActive => "not_active",
        MissionError::NotAlerted => "not_alerted",
        MissionError::NoLongerPart => "no_longer_part",
        MissionError::NotResponding => "not_responding",
        MissionError::Backwards { .. } => "backwards",
        MissionError::NoAedTask => "no_aed_task",
        MissionError::AlreadyStarted => "already_started",
    }
}

fn result_of(s: &Scenario, w: &World, input: &RunInput, i: usize, l: &Live) -> IncidentResult {
    let inc = &input.incidents[i];
    let m = &l.mission;
    let rel = |t: Option<i64>| t.map(|t| (t - inc.at) as f64 / 1000.0);
    let first_volunteer_s = rel(l.first_volunteer_at);
    let first_aed_volunteer_s = rel(l.first_aed_at);
    let o = &s.outcome;
    let ems_at_patient = inc.ambulance_s + o.ems_to_patient_s;
    let cpr_s = first_volunteer_s.map_or(ems_at_patient, |v| v.min(ems_at_patient));
    let aed_s = first_aed_volunteer_s.map_or(ems_at_patient, |v| v.min(ems_at_patient));
    let shock_s = first_aed_volunteer_s.map_or(ems_at_patient + o.ems_attach_s, |v| {
        (v + o.aed_attach_s).min(ems_at_patient + o.ems_attach_s)
    });
    let _ = Duration::zero();
    IncidentResult {
        run: input.run,
        incident: i,
        at: inc.at,
        local_hour: from_ms(inc.at).with_timezone(&w.tz).hour(),
        public: inc.public,
        position: inc.position,
        ambulance_s: inc.ambulance_s,
        alerted: m.status != Status::NotAlerted && !m.alerts.is_empty(),
        alerts: m.alerts.len() as u32,
        accepted: m.alerts.iter().filter(|a| a.state.ever_accepted()).count() as u32,
        stood_down: m
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::StoodDown)
            .count() as u32,
        arrived: l.arrived,
        sent_to_aed: m
            .alerts
            .iter()
            .filter(|a| a.state.ever_accepted() && a.task.as_ref().is_some_and(|t| t.aed.is_some()))
            .count() as u32,
        first_volunteer_s,
        first_aed_volunteer_s,
        cpr_s,
        aed_s,
        shock_s,
        cpr_before_ems: first_volunteer_s.is_some_and(|v| v < ems_at_patient),
        aed_before_ems: first_aed_volunteer_s.is_some_and(|v| v < ems_at_patient),
    }
}
