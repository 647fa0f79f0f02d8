//! Per-region dispatch policy: every threshold the planner uses, with presets
//! that reproduce the published rules of the reference systems.

use serde::{Deserialize, Serialize};

/// How accepted volunteers are split between "go straight and start CPR" and
/// "fetch an AED first".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleStrategy {
    /// firstlink's own: each acceptor gets the task that brings the first AED
    /// to the patient earliest, weighing how soon CPR starts (`cpr_weight`
    /// seconds of AED delay are worth one second of earlier CPR... see
    /// `planner::assign_task`).
    Optimal { cpr_weight: f64 },
    /// Heartrunner/SMSlivräddare: the first acceptor goes straight to CPR, the
    /// others fetch the nearest free AED first.
    DirectFirstThenAed,
    /// Hjerteløber: the first `n` acceptors fetch the nearest free AEDs, the
    /// rest go straight to the patient.
    FirstNViaAed { n: u32 },
    /// Everybody goes straight to the patient (no AED data).
    AllDirect,
}

/// Every threshold of dispatch in one region. Snapshotted into each mission at
/// creation, so a policy change never alters a running mission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchPolicy {
    /// Name of the preset this policy started from (informational).
    pub preset: String,
    /// Straight-line radius of the first wave, metres.
    pub radius_m: f64,
    /// The radius never grows beyond this, metres.
    pub max_radius_m: f64,
    /// Growth of the radius when a wave finds too few candidates, metres.
    pub radius_step_m: f64,
    /// Volunteers alerted at once when the incident arrives.
    pub first_wave: u32,
    /// Extra volunteers added at each later wave while too few have accepted.
    pub wave_size: u32,
    /// Seconds between waves.
    pub wave_interval_s: u32,
    /// Replace each decline or time-out with the next best candidate.
    pub replace_declines: bool,
    /// Seconds after a decline before its replacement is alerted.
    pub replace_delay_s: u32,
    /// Seconds a volunteer has to answer an alert before it times out.
    pub answer_timeout_s: u32,
    /// Stop alerting and stand the rest down once this many have accepted.
    pub target_acceptors: u32,
    /// Never alert more volunteers than this for one incident.
    pub max_alerts: u32,
    /// How acceptors are split between CPR and fetching an AED.
    pub roles: RoleStrategy,
    /// AEDs farther than this from the patient (straight line) are not considered, metres.
    pub aed_search_radius_m: f64,
    /// Seconds to take an AED out of its cabinet (code, door, case).
    pub aed_pickup_s: u32,
    /// An AED must reach the patient at least this many seconds before the
    /// ambulance to be worth fetching.
    pub ems_margin_s: u32,
    /// Only positions younger than this are used, seconds.
    pub position_max_age_s: u32,
    /// No alerts between these local hours (e.g. `[23, 7]`); `None` = always.
    pub blackout_hours: Option<[u8; 2]>,
    /// A volunteer who accepts farther than `radius × accept_range_factor`
    /// from the patient is out of range and released.
    pub accept_range_factor: f64,
    /// Walking speed used for estimates, m/s (median volunteer 2.3 m/s, 1.8 m/s in dense areas).
    pub speed_mps: f64,
    /// Straight line × this factor estimates the walk where no graph is available.
    pub detour_factor: f64,
    /// Missions end by themselves after this many seconds.
    pub max_mission_s: u32,
    /// The post-mission survey goes out this many seconds after the alert (Denmark: 90 min).
    pub survey_after_s: u32,
    /// Training older than this many months makes a volunteer ineligible (0 = no requirement).
    pub training_valid_months: u32,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        Self::firstlink()
    }
}

impl DispatchPolicy {
    /// firstlink's default: a small first wave of the best-placed volunteers by
    /// walking time within 1.3 km, small follow-up waves and declines replaced
    /// at once up to 10 alerts, and tasks chosen to bring the first AED
    /// earliest. Chosen by simulation (docs/simulation): widening to 3 km
    /// cost 12.6 alerts per incident in central Copenhagen and bought no
    /// measurable time; regions with sparse volunteers raise `max_radius_m`.
    pub fn firstlink() -> Self {
        Self {
            preset: "firstlink".into(),
            radius_m: 1_300.0,
            max_radius_m: 1_300.0,
            radius_step_m: 500.0,
            first_wave: 8,
            wave_size: 2,
            wave_interval_s: 45,
            replace_declines: true,
            replace_delay_s: 0,
            answer_timeout_s: 90,
            target_acceptors: 5,
            max_alerts: 10,
            roles: RoleStrategy::Optimal { cpr_weight: 0.5 },
            aed_search_radius_m: 1_500.0,
            aed_pickup_s: 30,
            ems_margin_s: 60,
            position_max_age_s: 3_600,
            blackout_hours: None,
            accept_range_factor: 1.5,
            speed_mps: 2.3,
            detour_factor: 1.35,
            max_mission_s: 3_600,
            survey_after_s: 90 * 60,
            training_valid_months: 0,
        }
    }

    /// Heartrunner / SMSlivräddare (Sweden): up to 30 volunteers within
    /// 1.3 km at once, most acceptors via an AED, at least one straight to CPR.
    pub fn heartrunner() -> Self {
        Self {
            preset: "heartrunner".into(),
            radius_m: 1_300.0,
            max_radius_m: 1_300.0,
            radius_step_m: 0.0,
            first_wave: 30,
            wave_size: 0,
            wave_interval_s: 60,
            replace_declines: false,
            replace_delay_s: 0,
            target_acceptors: 5,
            max_alerts: 30,
            roles: RoleStrategy::DirectFirstThenAed,
            ..Self::firstlink()
        }
    }

    /// TrygFonden Hjerteløber (Denmark): up to 20 volunteers within 5 km (the
    /// 2021 rural radius), the first 4 acceptors via the nearest AEDs, the 5th
    /// straight to the patient.
    pub fn hjertelober() -> Self {
        Self {
            preset: "hjertelober".into(),
            radius_m: 5_000.0,
            max_radius_m: 5_000.0,
            radius_step_m: 0.0,
            first_wave: 20,
            wave_size: 0,
            wave_interval_s: 60,
            replace_declines: false,
            replace_delay_s: 0,
            target_acceptors: 5,
            max_alerts: 20,
            roles: RoleStrategy::FirstNViaAed { n: 4 },
            aed_search_radius_m: 5_000.0,
            ..Self::firstlink()
        }
    }

    /// GoodSAM (UK, Australia): the 3 nearest within 500 m (1 km rural); each
    /// decline is replaced by the next nearest.
    pub fn goodsam() -> Self {
        Self {
            preset: "goodsam".into(),
            radius_m: 500.0,
            max_radius_m: 1_000.0,
            radius_step_m: 500.0,
            first_wave: 3,
            wave_size: 0,
            wave_interval_s: 60,
            replace_declines: true,
            replace_delay_s: 0,
            answer_timeout_s: 60,
            target_acceptors: 3,
            max_alerts: 10,
            roles: RoleStrategy::AllDirect,
            ..Self::firstlink()
        }
    }

    /// The presets by name.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "firstlink" => Some(Self::firstlink()),
            "heartrunner" => Some(Self::heartrunner()),
            "hjertelober" => Some(Self::hjertelober()),
            "goodsam" => Some(Self::goodsam()),
            _ => None,
        }
    }

    pub const PRESETS: [&'static str; 4] = ["firstlink", "heartrunner", "hjertelober", "goodsam"];

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        fn check(ok: bool, field: &'static str, rule: &'static str) -> Result<(), PolicyError> {
            if ok {
                Ok(())
            } else {
                Err(PolicyError { field, rule })
            }
        }
        let finite_pos = |v: f64| v.is_finite() && v > 0.0;
        check(
            finite_pos(self.radius_m) && self.radius_m <= 50_000.0,
            "radius_m",
            "between 0 and 50000 m",
        )?;
        check(
            self.max_radius_m.is_finite()
                && self.max_radius_m >= self.radius_m
                && self.max_radius_m <= 50_000.0,
            "max_radius_m",
            "at least radius_m and at most 50000 m",
        )?;
        check(
            self.radius_step_m.is_finite() && self.radius_step_m >= 0.0,
            "radius_step_m",
            "0 or more",
        )?;
        check(
            (1..=500).contains(&self.first_wave),
            "first_wave",
            "between 1 and 500",
        )?;
        check(self.wave_size <= 500, "wave_size", "at most 500")?;
        check(
            (5..=3_600).contains(&self.wave_interval_s),
            "wave_interval_s",
            "between 5 and 3600 s",
        )?;
        check(
            self.replace_delay_s <= 600,
            "replace_delay_s",
            "at most 600 s",
        )?;
        check(
            (5..=3_600).contains(&self.answer_timeout_s),
            "answer_timeout_s",
            "between 5 and 3600 s",
        )?;
        check(
            (1..=100).contains(&self.target_acceptors),
            "target_acceptors",
            "between 1 and 100",
        )?;
        check(
            self.max_alerts >= self.first_wave && self.max_alerts <= 1_000,
            "max_alerts",
            "at least first_wave and at most 1000",
        )?;
        if let RoleStrategy::Optimal { cpr_weight } = self.roles {
            check(
                cpr_weight.is_finite() && (0.0..=10.0).contains(&cpr_weight),
                "roles.cpr_weight",
                "between 0 and 10",
            )?;
        }
        check(
            self.aed_search_radius_m.is_finite()
                && (0.0..=20_000.0).contains(&self.aed_search_radius_m),
            "aed_search_radius_m",
            "between 0 and 20000 m",
        )?;
        check(self.aed_pickup_s <= 600, "aed_pickup_s", "at most 600 s")?;
        check(self.ems_margin_s <= 3_600, "ems_margin_s", "at most 3600 s")?;
        check(
            (30..=7 * 24 * 3600).contains(&self.position_max_age_s),
            "position_max_age_s",
            "between 30 s and 7 days",
        )?;
        if let Some([a, b]) = self.blackout_hours {
            check(
                a < 24 && b < 24 && a != b,
                "blackout_hours",
                "two different hours 0-23",
            )?;
        }
        check(
            self.accept_range_factor.is_finite() && (1.0..=5.0).contains(&self.accept_range_factor),
            "accept_range_factor",
            "between 1 and 5",
        )?;
        check(
            self.speed_mps.is_finite() && (0.3..=8.0).contains(&self.speed_mps),
            "speed_mps",
            "between 0.3 and 8 m/s",
        )?;
        check(
            self.detour_factor.is_finite() && (1.0..=3.0).contains(&self.detour_factor),
            "detour_factor",
            "between 1 and 3",
        )?;
        check(
            (60..=24 * 3600).contains(&self.max_mission_s),
            "max_mission_s",
            "between 60 s and 24 h",
        )?;
        check(
            self.survey_after_s <= 7 * 24 * 3600,
            "survey_after_s",
            "at most 7 days",
        )?;
        check(
            self.training_valid_months <= 120,
            "training_valid_months",
            "at most 120",
        )?;
        Ok(())
    }

    /// Is `local_hour` inside the night blackout?
    pub fn in_blackout(&self, local_hour: u32) -> bool {
        match self.blackout_hours {
            None => false,
            Some([a, b]) => {
                let (a, b) = (u32::from(a), u32::from(b));
                if a < b {
                    (a..b).contains(&local_hour)
                } else {
                    local_hour >= a || local_hour < b
                }
            }
        }
    }
}

/// A policy field that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {rule}")]
pub struct PolicyError {
    pub field: &'static str,
    pub rule: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_reproduce_the_published_rules() {
        for name in DispatchPolicy::PRESETS {
            let p = DispatchPolicy::preset(name).unwrap();
            p.validate().unwrap();
            assert_eq!(p.preset, name);
        }
        let h = DispatchPolicy::heartrunner();
        assert_eq!((h.radius_m, h.first_wave, h.max_alerts), (1_300.0, 30, 30));
        let d = DispatchPolicy::hjertelober();
        assert_eq!((d.radius_m, d.max_alerts), (5_000.0, 20));
        assert_eq!(d.roles, RoleStrategy::FirstNViaAed { n: 4 });
        assert!(DispatchPolicy::preset("nope").is_none());
    }

    #[test]
    fn validation_names_the_field() {
        let p = DispatchPolicy {
            max_radius_m: 100.0,
            ..DispatchPolicy::firstlink()
        };
        assert_eq!(p.validate().unwrap_err().field, "max_radius_m");
        let p = DispatchPolicy {
            speed_mps: f64::NAN,
            ..DispatchPolicy::firstlink()
        };
        assert_eq!(p.validate().unwrap_err().field, "speed_mps");
        let p = DispatchPolicy {
            blackout_hours: Some([23, 23]),
            ..DispatchPolicy::firstlink()
        };
        assert_eq!(p.validate().unwrap_err().field, "blackout_hours");
    }

    #[test]
    fn blackout_wraps_midnight() {
        let p = DispatchPolicy {
            blackout_hours: Some([23, 7]),
            ..DispatchPolicy::firstlink()
        };
        assert!(p.in_blackout(23) && p.in_blackout(0) && p.in_blackout(6));
        assert!(!p.in_blackout(7) && !p.in_blackout(22));
    }
}
