//! The mission state machine and the dispatch planner.
//!
//! `Mission::handle` takes one input (the incident arrived, a timer fired, a
//! volunteer answered…) and returns what must happen as a result: effects
//! (alerts and notices to send, AEDs to claim or release) and timeline events.
//! It reads the world only through the traits in [`MissionCtx`] and never the
//! clock, so the same code serves live incidents, tests and the simulator. The
//! caller makes the new state, the effects and the events durable in one
//! transaction before acting on any of them.

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;

use crate::aed::{AedCandidate, AedSource};
use crate::geo::{LatLon, WalkingEstimator};
use crate::ids::{AedId, IncidentId, VolunteerId};
use crate::incident::{LocationType, NewIncident, blocking_exclusion};
use crate::index::{Candidate, CandidateFilter, VolunteerIndex};
use crate::policy::{DispatchPolicy, RoleStrategy};

/// Where volunteers' latest positions come from.
pub trait CandidateSource {
    fn nearest(
        &self,
        centre: LatLon,
        radius_m: f64,
        k: usize,
        filter: &CandidateFilter,
        skip: &dyn Fn(VolunteerId) -> bool,
    ) -> Vec<Candidate>;
    fn position(&self, id: VolunteerId) -> Option<(LatLon, u32)>;
}

impl CandidateSource for VolunteerIndex {
    fn nearest(
        &self,
        centre: LatLon,
        radius_m: f64,
        k: usize,
        filter: &CandidateFilter,
        skip: &dyn Fn(VolunteerId) -> bool,
    ) -> Vec<Candidate> {
        VolunteerIndex::nearest(self, centre, radius_m, k, filter, skip)
    }
    fn position(&self, id: VolunteerId) -> Option<(LatLon, u32)> {
        VolunteerIndex::position(self, id)
    }
}

/// The world as the engine may see it during one step.
pub struct MissionCtx<'a> {
    pub now: DateTime<Utc>,
    /// The region's time zone (quiet hours, blackout).
    pub tz: Tz,
    pub volunteers: &'a dyn CandidateSource,
    pub aeds: &'a dyn AedSource,
    pub walk: &'a dyn WalkingEstimator,
}

mod model;

pub use model::*;

fn secs(d: f64) -> Duration {
    Duration::milliseconds((d * 1000.0).round() as i64)
}

fn eta_s(at: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    u32::try_from((at - now).num_seconds().max(0)).unwrap_or(u32::MAX)
}

impl Mission {
    pub fn new(
        id: IncidentId,
        incident: NewIncident,
        policy: DispatchPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        let ems_eta_at = incident
            .ems_eta_seconds
            .map(|s| incident.reported_at + Duration::seconds(i64::from(s)));
        Self {
            id,
            radius_m: policy.radius_m,
            incident,
            policy,
            status: Status::Active,
            end_reason: None,
            created_at: now,
            ended_at: None,
            ems_eta_at,
            wave: 0,
            next_wave_at: None,
            replace_at: None,
            unreplaced: 0,
            started: false,
            alerts: Vec::new(),
        }
    }

    pub fn alert(&self, v: VolunteerId) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.volunteer == v)
    }

    fn alert_idx(&self, v: VolunteerId) -> Result<usize, MissionError> {
        self.alerts
            .iter()
            .position(|a| a.volunteer == v)
            .ok_or(MissionError::NotAlerted)
    }

    pub fn responders(&self) -> usize {
        self.alerts.iter().filter(|a| a.state.responding()).count()
    }

    pub fn is_live(&self) -> bool {
        self.status == Status::Active
    }

    /// When the mission next needs a `Tick`.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        if self.status != Status::Active {
            return None;
        }
        let mut d = self.created_at + Duration::seconds(i64::from(self.policy.max_mission_s));
        let timeout = Duration::seconds(i64::from(self.policy.answer_timeout_s));
        for a in &self.alerts {
            if a.state == AlertState::Alerted {
                d = d.min(a.alerted_at + timeout);
            }
        }
        if self.wants_more() {
            for t in [self.next_wave_at, self.replace_at].into_iter().flatten() {
                d = d.min(t);
            }
        }
        Some(d)
    }

    fn wants_more(&self) -> bool {
        self.responders() < self.policy.target_acceptors as usize
            && self.alerts.len() < self.policy.max_alerts as usize
    }

    /// Applies one input. On error nothing has changed.
    pub fn handle(&mut self, input: Input, ctx: &MissionCtx<'_>) -> Result<Outcome, MissionError> {
        let mut out = Outcome::default();
        let now = ctx.now;
        match input {
            Input::Start => {
                if self.started {
                    return Err(MissionError::AlreadyStarted);
                }
                self.started = true;
                self.push(&mut out, now, EventKind::Created);
                self.start(ctx, &mut out);
            }
            Input::Tick => {
                if self.status == Status::Active {
                    self.tick(ctx, &mut out);
                }
            }
            Input::Accept {
                volunteer,
                position,
            } => self.accept(volunteer, position, ctx, &mut out)?,
            Input::Decline { volunteer } => {
                self.ensure_active()?;
                let i = self.alert_idx(volunteer)?;
                match self.alerts[i].state {
                    AlertState::Alerted | AlertState::TimedOut => {}
                    AlertState::Declined => return Ok(out),
                    s if s.responding() => {
                        return Err(MissionError::Backwards {
                            from: "accepted",
                            to: "declined",
                        });
                    }
                    _ => return Err(MissionError::NoLongerPart),
                }
                let was_alerted = self.alerts[i].state == AlertState::Alerted;
                self.alerts[i].state = AlertState::Declined;
                self.alerts[i].answered_at = Some(now);
                if was_alerted {
                    out.effects.push(Effect::Busy {
                        volunteer,
                        busy: false,
                    });
                    self.count_for_replacement(now);
                }
                self.push(&mut out, now, EventKind::Declined { volunteer });
            }
            Input::Progress {
                volunteer,
                progress,
            } => {
                self.ensure_active()?;
                let i = self.alert_idx(volunteer)?;
                let a = &mut self.alerts[i];
                if !a.state.responding() {
                    return Err(MissionError::NotResponding);
                }
                let to = match progress {
                    Progress::EnRoute => AlertState::EnRoute,
                    Progress::AedCollected => {
                        if a.task.as_ref().is_none_or(|t| t.aed.is_none()) {
                            return Err(MissionError::NoAedTask);
                        }
                        AlertState::AtAed
                    }
                    Progress::OnScene => AlertState::OnScene,
                    Progress::HandedOver => AlertState::HandedOver,
                };
                if to.progress_rank() < a.state.progress_rank() {
                    return Err(MissionError::Backwards {
                        from: state_name(a.state),
                        to: state_name(to),
                    });
                }
                if to != a.state {
                    a.state = to;
                    self.push(
                        &mut out,
                        now,
                        EventKind::Progress {
                            volunteer,
                            progress,
                        },
                    );
                }
            }
            Input::Leave { volunteer } => {
                self.ensure_active()?;
                let i = self.alert_idx(volunteer)?;
                if !self.alerts[i].state.responding() {
                    return Err(MissionError::NotResponding);
                }
                self.alerts[i].state = AlertState::Left;
                if let Some(aed) = self.alerts[i].task.as_ref().and_then(|t| t.aed.as_ref()) {
                    out.effects.push(Effect::Release { aed: aed.id });
                }
                out.effects.push(Effect::Busy {
                    volunteer,
                    busy: false,
                });
                self.count_for_replacement(now);
                self.push(&mut out, now, EventKind::Left { volunteer });
            }
            Input::Update {
                location,
                address,
                ems_eta_seconds,
                notes,
            } => {
                self.ensure_active()?;
                if let Some(l) = location {
                    self.incident.location = l;
                }
                if let Some(a) = address {
                    self.incident.address = a;
                }
                if let Some(n) = notes {
                    self.incident.notes = Some(n);
                }
                if let Some(s) = ems_eta_seconds {
                    self.ems_eta_at = Some(now + Duration::seconds(i64::from(s)));
                }
                self.push(
                    &mut out,
                    now,
                    EventKind::Updated {
                        location,
                        ems_eta_seconds,
                    },
                );
            }
            Input::Message { text } => {
                self.ensure_active()?;
                for a in self.alerts.iter().filter(|a| a.state.responding()) {
                    out.effects.push(Effect::Notify {
                        volunteer: a.volunteer,
                        note: Note::Message { text: text.clone() },
                        at: None,
                    });
                }
                self.push(&mut out, now, EventKind::Message { text });
            }
            Input::Cancel { reason } => {
                self.ensure_open()?;
                self.finish(Status::Cancelled, reason.clone(), now, &mut out);
                self.push(&mut out, now, EventKind::Cancelled { reason });
            }
            Input::End { reason } => {
                self.ensure_open()?;
                self.finish(Status::Ended, reason.clone(), now, &mut out);
                self.push(&mut out, now, EventKind::Ended { reason });
            }
        }
        Ok(out)
    }

    fn ensure_active(&self) -> Result<(), MissionError> {
        if self.status == Status::Active {
            Ok(())
        } else {
            Err(MissionError::NotActive)
        }
    }

    fn ensure_open(&self) -> Result<(), MissionError> {
        if matches!(self.status, Status::Active | Status::NotAlerted) {
            Ok(())
        } else {
            Err(MissionError::NotActive)
        }
    }

    fn push(&self, out: &mut Outcome, at: DateTime<Utc>, kind: EventKind) {
        out.events.push(Event { at, kind });
    }

    fn count_for_replacement(&mut self, now: DateTime<Utc>) {
        if self.policy.replace_declines {
            self.unreplaced += 1;
            let at = now + Duration::seconds(i64::from(self.policy.replace_delay_s));
            self.replace_at = Some(self.replace_at.map_or(at, |r| r.min(at)));
        }
    }

    fn start(&mut self, ctx: &MissionCtx<'_>, out: &mut Outcome) {
        let now = ctx.now;
        let reason = if let Some(ex) = blocking_exclusion(&self.incident) {
            Some(format!("exclusion: {}", ex.as_str()))
        } else {
            let hour = now.with_timezone(&ctx.tz).hour();
            self.policy
                .in_blackout(hour)
                .then(|| format!("night blackout (local hour {hour})"))
        };
        if let Some(reason) = reason {
            self.status = Status::NotAlerted;
            self.end_reason = Some(reason.clone());
            self.push(out, now, EventKind::NotAlerted { reason });
            return;
        }
        self.wave = 1;
        let n = self.policy.first_wave;
        self.alert_more(n, ctx, out);
        if self.policy.wave_size > 0 {
            self.next_wave_at =
                Some(now + Duration::seconds(i64::from(self.policy.wave_interval_s)));
        }
    }

    fn tick(&mut self, ctx: &MissionCtx<'_>, out: &mut Outcome) {
        let now = ctx.now;
        if now >= self.created_at + Duration::seconds(i64::from(self.policy.max_mission_s)) {
            let reason = Some("mission time limit reached".to_string());
            self.finish(Status::Ended, reason.clone(), now, out);
            self.push(out, now, EventKind::Ended { reason });
            return;
        }
        let timeout = Duration::seconds(i64::from(self.policy.answer_timeout_s));
        let mut timed_out = Vec::new();
        for a in &mut self.alerts {
            if a.state == AlertState::Alerted && a.alerted_at + timeout <= now {
                a.state = AlertState::TimedOut;
                timed_out.push(a.volunteer);
            }
        }
        for v in timed_out {
            out.effects.push(Effect::Busy {
                volunteer: v,
                busy: false,
            });
            out.effects.push(Effect::Notify {
                volunteer: v,
                note: Note::StandDown,
                at: None,
            });
            self.count_for_replacement(now);
            self.push(out, now, EventKind::TimedOut { volunteer: v });
        }
        if !self.wants_more() {
            return;
        }
        let missing = self.policy.target_acceptors as usize - self.responders();
        let mut n = 0u32;
        if self.replace_at.is_some_and(|t| t <= now) {
            n += self.unreplaced;
            self.unreplaced = 0;
            self.replace_at = None;
        }
        if self.next_wave_at.is_some_and(|t| t <= now) {
            self.wave += 1;
            n += self.policy.wave_size;
            self.next_wave_at =
                Some(now + Duration::seconds(i64::from(self.policy.wave_interval_s)));
        }
        // Never alert more at once than are still missing plus a full wave.
        let n = n.min(missing as u32 + self.policy.first_wave.max(self.policy.wave_size));
        if n > 0 {
            self.alert_more(n, ctx, out);
        }
    }

    /// Alerts up to `n` more of the best-placed volunteers by walking time,
    /// widening the radius (up to the policy's maximum) when too few are in
    /// reach.
    fn alert_more(&mut self, n: u32, ctx: &MissionCtx<'_>, out: &mut Outcome) {
        let now = ctx.now;
        let room = (self.policy.max_alerts as usize).saturating_sub(self.alerts.len());
        let n = (n as usize).min(room);
        if n == 0 {
            return;
        }
        let local = now.with_timezone(&ctx.tz);
        let fresh = (now.timestamp() - i64::from(self.policy.position_max_age_s))
            .clamp(0, i64::from(u32::MAX));
        let filter = CandidateFilter {
            fresh_since: fresh as u32,
            minute_of_day: (local.hour() * 60 + local.minute()) as u16,
            homes_required: matches!(
                self.incident.location_type,
                LocationType::Residence | LocationType::Unknown
            ),
            // The runtime's candidate source narrows this to the mission's regions.
            regions: crate::index::RegionMask::ALL,
        };
        let patient = self.incident.location;
        let picked = loop {
            let known: Vec<VolunteerId> = self.alerts.iter().map(|a| a.volunteer).collect();
            let skip = |v: VolunteerId| known.contains(&v);
            // Over-fetch by straight line, then rank by walking distance.
            let cands = ctx
                .volunteers
                .nearest(patient, self.radius_m, n * 3 + 8, &filter, &skip);
            let positions: Vec<LatLon> = cands.iter().map(|c| c.position).collect();
            let max_walk = self.radius_m * self.policy.detour_factor * 2.0;
            let walks = ctx.walk.distances_from(patient, &positions, max_walk);
            let mut ranked: Vec<(f64, Candidate)> = cands
                .into_iter()
                .zip(walks)
                .filter_map(|(c, w)| w.map(|w| (w, c)))
                .collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
            ranked.truncate(n);
            let can_widen =
                self.policy.radius_step_m > 0.0 && self.radius_m < self.policy.max_radius_m;
            if ranked.len() >= n || !can_widen {
                break ranked;
            }
            self.radius_m =
                (self.radius_m + self.policy.radius_step_m).min(self.policy.max_radius_m);
        };
        let count = picked.len() as u32;
        for (walk_m, c) in picked {
            let eta = (walk_m / self.policy.speed_mps).round() as u32;
            self.alerts.push(Alert {
                volunteer: c.id,
                wave: self.wave,
                state: AlertState::Alerted,
                alerted_at: now,
                answered_at: None,
                position: c.position,
                walk_m,
                task: None,
            });
            out.effects.push(Effect::Busy {
                volunteer: c.id,
                busy: true,
            });
            out.effects.push(Effect::Alert {
                volunteer: c.id,
                walk_m,
                eta_s: eta,
            });
        }
        self.push(
            out,
            now,
            EventKind::WaveSent {
                wave: self.wave,
                alerted: count,
                radius_m: self.radius_m,
            },
        );
    }

    fn accept(
        &mut self,
        volunteer: VolunteerId,
        position: Option<LatLon>,
        ctx: &MissionCtx<'_>,
        out: &mut Outcome,
    ) -> Result<(), MissionError> {
        let now = ctx.now;
        self.ensure_active()?;
        let i = self.alert_idx(volunteer)?;
        let state = self.alerts[i].state;
        if state.responding() {
            // Accepting twice answers with the same task.
            let task = self.alerts[i]
                .task
                .clone()
                .ok_or(MissionError::NotResponding)?;
            out.accept = Some(AcceptReply::Accepted { task });
            return Ok(());
        }
        match state {
            AlertState::Alerted | AlertState::TimedOut | AlertState::Declined => {}
            AlertState::StoodDown => {
                out.accept = Some(AcceptReply::NotNeeded);
                return Ok(());
            }
            _ => return Err(MissionError::NoLongerPart),
        }
        let was_alerted = state == AlertState::Alerted;
        self.alerts[i].answered_at = Some(now);
        if self.responders() >= self.policy.target_acceptors as usize {
            self.alerts[i].state = AlertState::StoodDown;
            if was_alerted {
                out.effects.push(Effect::Busy {
                    volunteer,
                    busy: false,
                });
            }
            out.accept = Some(AcceptReply::NotNeeded);
            return Ok(());
        }
        let pos = position
            .or_else(|| ctx.volunteers.position(volunteer).map(|p| p.0))
            .unwrap_or(self.alerts[i].position);
        let patient = self.incident.location;
        if pos.distance_m(patient) > self.radius_m * self.policy.accept_range_factor {
            self.alerts[i].state = AlertState::OutOfRange;
            if was_alerted {
                out.effects.push(Effect::Busy {
                    volunteer,
                    busy: false,
                });
                self.count_for_replacement(now);
            }
            out.effects.push(Effect::Notify {
                volunteer,
                note: Note::OutOfRange,
                at: None,
            });
            self.push(out, now, EventKind::OutOfRange { volunteer });
            out.accept = Some(AcceptReply::OutOfRange);
            return Ok(());
        }
        let task = self.assign_task(volunteer, pos, ctx);
        let a = &mut self.alerts[i];
        a.state = AlertState::Accepted;
        a.task = Some(task.clone());
        if !was_alerted {
            out.effects.push(Effect::Busy {
                volunteer,
                busy: true,
            });
        }
        if let Some(aed) = &task.aed {
            out.effects.push(Effect::Claim {
                aed: aed.id,
                volunteer,
            });
        }
        self.push(
            out,
            now,
            EventKind::Accepted {
                volunteer,
                role: task.role,
                aed: task.aed.as_ref().map(|a| a.id),
                eta_s: eta_s(task.eta_at, now),
            },
        );
        out.accept = Some(AcceptReply::Accepted { task });
        if self.responders() >= self.policy.target_acceptors as usize {
            self.stand_down_outstanding(now, out, Note::StandDown);
        }
        Ok(())
    }

    fn stand_down_outstanding(&mut self, now: DateTime<Utc>, out: &mut Outcome, note: Note) {
        let mut n = 0;
        for a in &mut self.alerts {
            if a.state == AlertState::Alerted {
                a.state = AlertState::StoodDown;
                out.effects.push(Effect::Busy {
                    volunteer: a.volunteer,
                    busy: false,
                });
                out.effects.push(Effect::Notify {
                    volunteer: a.volunteer,
                    note: note.clone(),
                    at: None,
                });
                n += 1;
            }
        }
        self.replace_at = None;
        self.unreplaced = 0;
        if n > 0 {
            self.push(out, now, EventKind::StoodDown { volunteers: n });
        }
    }

    /// Chooses the task for a volunteer who accepted at `pos`: straight to the
    /// patient, or first to one of the usable AEDs not claimed by anyone else.
    fn assign_task(&self, volunteer: VolunteerId, pos: LatLon, ctx: &MissionCtx<'_>) -> Task {
        let now = ctx.now;
        let p = &self.policy;
        let patient = self.incident.location;
        let straight = |from: LatLon, to: LatLon| from.distance_m(to) * p.detour_factor;
        let to_patient = ctx
            .walk
            .distance(pos, patient)
            .unwrap_or_else(|| straight(pos, patient));
        let direct_at = now + secs(to_patient / p.speed_mps);
        let direct = Task {
            role: Role::Cpr,
            aed: None,
            eta_at: direct_at,
        };
        if p.roles == RoleStrategy::AllDirect {
            return direct;
        }
        let held: Vec<AedId> = self
            .alerts
            .iter()
            .filter(|a| a.state.responding())
            .filter_map(|a| a.task.as_ref()?.aed.as_ref().map(|x| x.id))
            .collect();
        let mut aeds: Vec<AedCandidate> = ctx
            .aeds
            .usable_near_by(patient, p.aed_search_radius_m, now, volunteer)
            .into_iter()
            .filter(|a| !held.contains(&a.id))
            .collect();
        aeds.sort_by_key(|a| a.id);
        let aed_pos: Vec<LatLon> = aeds.iter().map(|a| a.position).collect();
        let from_v = ctx.walk.distances_from(pos, &aed_pos, f64::INFINITY);
        let to_p = ctx.walk.distances_from(patient, &aed_pos, f64::INFINITY);
        let ems_limit = self
            .ems_eta_at
            .map(|t| t - Duration::seconds(i64::from(p.ems_margin_s)));
        let mut options: Vec<(Task, bool)> = Vec::new();
        for ((a, va), ap) in aeds.iter().zip(from_v).zip(to_p) {
            let va = va.unwrap_or_else(|| straight(pos, a.position));
            let ap = ap.unwrap_or_else(|| straight(a.position, patient));
            let at_aed = now + secs(va / p.speed_mps);
            // Still open when the responder gets there (a minute's margin).
            if a.open_until
                .is_some_and(|u| u < at_aed + Duration::seconds(60))
            {
                continue;
            }
            let at_patient =
                at_aed + Duration::seconds(i64::from(p.aed_pickup_s)) + secs(ap / p.speed_mps);
            if ems_limit.is_some_and(|l| at_patient > l) {
                continue;
            }
            let task = Task {
                role: Role::FetchAed,
                aed: Some(AedTask {
                    id: a.id,
                    name: a.name.clone(),
                    position: a.position,
                    eta_at: at_aed,
                }),
                eta_at: at_patient,
            };
            options.push((task, a.readiness.degraded()));
        }
        // Degraded AEDs only when nothing better is reachable.
        if options.iter().any(|o| !o.1) {
            options.retain(|o| !o.1);
        }
        let mut options: Vec<Task> = options.into_iter().map(|o| o.0).collect();
        options.sort_by_key(|t| t.eta_at);
        let responders = || {
            self.alerts
                .iter()
                .filter(|a| a.state.responding())
                .filter_map(|a| a.task.as_ref())
        };
        match p.roles {
            RoleStrategy::AllDirect => direct,
            RoleStrategy::DirectFirstThenAed => {
                if responders().any(|t| t.role == Role::Cpr) {
                    options.into_iter().next().unwrap_or(direct)
                } else {
                    direct
                }
            }
            RoleStrategy::FirstNViaAed { n } => {
                let accepted_before = self
                    .alerts
                    .iter()
                    .filter(|a| a.state.ever_accepted())
                    .count();
                if accepted_before < n as usize {
                    options.into_iter().next().unwrap_or(direct)
                } else {
                    direct
                }
            }
            RoleStrategy::Optimal { cpr_weight } => {
                let horizon = self.ems_eta_at.unwrap_or(now + Duration::hours(1));
                let best_aed = responders()
                    .filter(|t| t.role == Role::FetchAed)
                    .map(|t| t.eta_at)
                    .min();
                let first_cpr = responders().map(|t| t.eta_at).min();
                let cost = |aed: Option<DateTime<Utc>>, cpr: Option<DateTime<Utc>>| {
                    let aed = aed.map_or(horizon, |t| t.min(horizon));
                    let cpr = cpr.map_or(horizon, |t| t.min(horizon));
                    (aed - now).num_milliseconds() as f64
                        + cpr_weight * (cpr - now).num_milliseconds() as f64
                };
                let min_opt =
                    |a: Option<DateTime<Utc>>, b: DateTime<Utc>| Some(a.map_or(b, |a| a.min(b)));
                let mut best = (cost(best_aed, min_opt(first_cpr, direct.eta_at)), direct);
                for t in options {
                    let c = cost(min_opt(best_aed, t.eta_at), min_opt(first_cpr, t.eta_at));
                    if c < best.0 {
                        best = (c, t);
                    }
                }
                best.1
            }
        }
    }

    fn finish(
        &mut self,
        status: Status,
        reason: Option<String>,
        now: DateTime<Utc>,
        out: &mut Outcome,
    ) {
        let was_active = self.status == Status::Active;
        self.status = status;
        self.end_reason = reason;
        self.ended_at = Some(now);
        self.next_wave_at = None;
        self.replace_at = None;
        if !was_active {
            return;
        }
        let note = if status == Status::Cancelled {
            Note::Cancelled
        } else {
            Note::Ended
        };
        let survey_at = self.created_at + Duration::seconds(i64::from(self.policy.survey_after_s));
        let mut stood_down = 0;
        for a in &mut self.alerts {
            if a.state == AlertState::Alerted {
                a.state = AlertState::StoodDown;
                stood_down += 1;
                out.effects.push(Effect::Busy {
                    volunteer: a.volunteer,
                    busy: false,
                });
                out.effects.push(Effect::Notify {
                    volunteer: a.volunteer,
                    note: note.clone(),
                    at: None,
                });
            } else if a.state.responding() {
                out.effects.push(Effect::Busy {
                    volunteer: a.volunteer,
                    busy: false,
                });
                out.effects.push(Effect::Notify {
                    volunteer: a.volunteer,
                    note: note.clone(),
                    at: None,
                });
                if let Some(aed) = a.task.as_ref().and_then(|t| t.aed.as_ref()) {
                    out.effects.push(Effect::Release { aed: aed.id });
                    if matches!(
                        a.state,
                        AlertState::AtAed | AlertState::OnScene | AlertState::HandedOver
                    ) {
                        out.effects.push(Effect::Notify {
                            volunteer: a.volunteer,
                            note: Note::ReturnAed {
                                aed: aed.id,
                                name: aed.name.clone(),
                            },
                            at: None,
                        });
                    }
                }
            }
            if a.state.ever_accepted() {
                out.effects.push(Effect::Notify {
                    volunteer: a.volunteer,
                    note: Note::Survey,
                    at: Some(survey_at.max(now)),
                });
            }
        }
        if stood_down > 0 {
            out.events.push(Event {
                at: now,
                kind: EventKind::StoodDown {
                    volunteers: stood_down,
                },
            });
        }
    }
}

fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::Alerted => "alerted",
        AlertState::Declined => "declined",
        AlertState::TimedOut => "timed_out",
        AlertState::Accepted => "accepted",
        AlertState::EnRoute => "en_route",
        AlertState::AtAed => "at_aed",
        AlertState::OnScene => "on_scene",
        AlertState::HandedOver => "handed_over",
        AlertState::StoodDown => "stood_down",
        AlertState::OutOfRange => "out_of_range",
        AlertState::Left => "left",
    }
}
