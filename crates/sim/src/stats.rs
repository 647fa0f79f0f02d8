//! Per-run statistics and confidence intervals over runs.

use crate::sim::IncidentResult;

/// The statistics of one policy in one run (over its alerted incidents).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunStats {
    pub incidents: f64,
    pub median_cpr_s: f64,
    pub median_aed_s: f64,
    pub median_shock_s: f64,
    pub cpr_before_ems: f64,
    pub aed_before_ems: f64,
    pub alerts_per_incident: f64,
    pub accepted_per_incident: f64,
    pub stood_down_per_incident: f64,
    pub alerts_per_volunteer_month: f64,
}

/// A reported metric: label, how to read it off a run, unit.
pub type Metric = (&'static str, fn(&RunStats) -> f64, Unit);

pub const METRICS: [Metric; 9] = [
    ("median call → CPR", |r| r.median_cpr_s, Unit::Seconds),
    (
        "median call → AED at patient",
        |r| r.median_aed_s,
        Unit::Seconds,
    ),
    (
        "median call → first possible shock",
        |r| r.median_shock_s,
        Unit::Seconds,
    ),
    (
        "CPR by a volunteer before the ambulance",
        |r| r.cpr_before_ems,
        Unit::Share,
    ),
    (
        "AED by a volunteer before the ambulance",
        |r| r.aed_before_ems,
        Unit::Share,
    ),
    (
        "alerts sent per incident",
        |r| r.alerts_per_incident,
        Unit::Count,
    ),
    (
        "acceptors per incident",
        |r| r.accepted_per_incident,
        Unit::Count,
    ),
    (
        "volunteers stood down per incident",
        |r| r.stood_down_per_incident,
        Unit::Count,
    ),
    (
        "alerts per volunteer per month",
        |r| r.alerts_per_volunteer_month,
        Unit::Small,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Share,
    Count,
    Small,
}

impl Unit {
    pub fn fmt(self, v: f64) -> String {
        match self {
            Unit::Seconds => {
                let t = v.abs().round() as i64;
                format!("{}{}:{:02}", if v < 0.0 { "−" } else { "" }, t / 60, t % 60)
            }
            Unit::Share => format!("{:.1} %", v * 100.0),
            Unit::Count => format!("{v:.2}"),
            Unit::Small => format!("{v:.3}"),
        }
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// Linear-interpolated quantile (sorts `v`).
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let x = q * (v.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x - x.floor());
    if i + 1 < v.len() {
        v[i] * (1.0 - f) + v[i + 1] * f
    } else {
        v[i]
    }
}

pub fn run_stats(results: &[IncidentResult], volunteers: usize, months: f64) -> RunStats {
    let n = results.len() as f64;
    if results.is_empty() {
        return RunStats::default();
    }
    let col = |f: fn(&IncidentResult) -> f64| -> Vec<f64> { results.iter().map(f).collect() };
    let mean = |f: fn(&IncidentResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    let alerts: f64 = results.iter().map(|r| f64::from(r.alerts)).sum();
    RunStats {
        incidents: n,
        median_cpr_s: median(&mut col(|r| r.cpr_s)),
        median_aed_s: median(&mut col(|r| r.aed_s)),
        median_shock_s: median(&mut col(|r| r.shock_s)),
        cpr_before_ems: mean(|r| f64::from(u8::from(r.cpr_before_ems))),
        aed_before_ems: mean(|r| f64::from(u8::from(r.aed_before_ems))),
        alerts_per_incident: alerts / n,
        accepted_per_incident: mean(|r| f64::from(r.accepted)),
        stood_down_per_incident: mean(|r| f64::from(r.stood_down)),
        alerts_per_volunteer_month: if volunteers == 0 || months <= 0.0 {
            0.0
        } else {
            alerts / volunteers as f64 / months
        },
    }
}

/// Mean and two-sided 95 % Student-t interval of per-run values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ci {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

/// 97.5 % quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        31..=60 => 2.042 - (df - 30) as f64 * (2.042 - 2.000) / 30.0,
        61..=120 => 2.000 - (df - 60) as f64 * (2.000 - 1.980) / 60.0,
        _ => 1.960,
    }
}

pub fn ci(values: &[f64]) -> Ci {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Ci {
            mean,
            lo: f64::NAN,
            hi: f64::NAN,
            n,
        };
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let h = t975(n - 1) * (var / n as f64).sqrt();
    Ci {
        mean,
        lo: mean - h,
        hi: mean + h,
        n,
    }
}
