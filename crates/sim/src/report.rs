//! The report: Markdown with tables, two SVG plots, and a CSV of every
//! simulated incident.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::Timelike;

use crate::Outcome;
use crate::sim::IncidentResult;
use crate::stats::{self, Ci, METRICS, RunStats, Unit};
use crate::world::from_ms;

const COLOURS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Per-run statistics: `[policy][run]`.
pub fn per_run(o: &Outcome) -> Vec<Vec<RunStats>> {
    o.results
        .iter()
        .map(|runs| {
            runs.iter()
                .map(|r| stats::run_stats(r, o.volunteers, o.months()))
                .collect()
        })
        .collect()
}

fn fmt_ci(c: &Ci, u: Unit) -> String {
    if c.lo.is_nan() {
        u.fmt(c.mean)
    } else {
        format!("{} ({}–{})", u.fmt(c.mean), u.fmt(c.lo), u.fmt(c.hi))
    }
}

fn policy_index(o: &Outcome, name: &str) -> Option<usize> {
    o.policies.iter().position(|p| p == name)
}

/// The goal check: challenger vs baseline, paired by run.
pub struct GoalCheck {
    pub baseline: String,
    pub challenger: String,
    pub target: f64,
    /// 1 − median_aed(challenger) / median_aed(baseline), per run.
    pub reduction: Ci,
    /// alerts per incident, challenger − baseline, per run.
    pub alerts_diff: Ci,
    pub reduction_volunteer_aed: Option<Ci>,
}

pub fn goal_check(o: &Outcome) -> Option<GoalCheck> {
    let g = &o.scenario.goal;
    let baseline = g.baseline.clone().unwrap_or_else(|| "heartrunner".into());
    let challenger = g.challenger.clone().unwrap_or_else(|| "firstlink".into());
    let (b, c) = (policy_index(o, &baseline)?, policy_index(o, &challenger)?);
    let pr = per_run(o);
    let red: Vec<f64> = pr[b]
        .iter()
        .zip(&pr[c])
        .map(|(x, y)| 1.0 - y.median_aed_s / x.median_aed_s)
        .collect();
    let dif: Vec<f64> = pr[b]
        .iter()
        .zip(&pr[c])
        .map(|(x, y)| y.alerts_per_incident - x.alerts_per_incident)
        .collect();
    // Among incidents where a volunteer brought an AED under both policies.
    let mut vol = Vec::new();
    for (rb, rc) in o.results[b].iter().zip(&o.results[c]) {
        let mut xb: Vec<f64> = rb.iter().filter_map(|r| r.first_aed_volunteer_s).collect();
        let mut xc: Vec<f64> = rc.iter().filter_map(|r| r.first_aed_volunteer_s).collect();
        if !xb.is_empty() && !xc.is_empty() {
            vol.push(1.0 - stats::median(&mut xc) / stats::median(&mut xb));
        }
    }
    Some(GoalCheck {
        baseline,
        challenger,
        target: g.reduction.unwrap_or(0.25),
        reduction: stats::ci(&red),
        alerts_diff: stats::ci(&dif),
        reduction_volunteer_aed: (!vol.is_empty()).then(|| stats::ci(&vol)),
    })
}

fn goal_text(g: &GoalCheck) -> String {
    let met_time = g.reduction.lo >= g.target;
    let point_time = g.reduction.mean >= g.target;
    let met_alerts = g.alerts_diff.hi <= 0.0;
    let point_alerts = g.alerts_diff.mean <= 0.0;
    let verdict = if met_time && met_alerts {
        "**met** (the whole 95 % interval clears both conditions)".to_string()
    } else if point_time && point_alerts {
        "**met on the point estimate, not with 95 % confidence**".to_string()
    } else {
        format!(
            "**not met**: {}{}",
            if point_time {
                ""
            } else {
                "the median time to AED is not 25 % shorter"
            },
            if point_alerts {
                String::new()
            } else {
                format!(
                    "{}more alerts per incident",
                    if point_time { "" } else { "; " }
                )
            }
        )
    };
    format!(
        "`{}` vs `{}`: median call → AED at patient {:.1} % sooner (95 % CI {:.1} to {:.1} %, target ≥ {:.0} %); \
         alerts per incident {:+.2} (95 % CI {:+.2} to {:+.2}, target ≤ 0). Goal {verdict}.{}",
        g.challenger,
        g.baseline,
        g.reduction.mean * 100.0,
        g.reduction.lo * 100.0,
        g.reduction.hi * 100.0,
        g.target * 100.0,
        g.alerts_diff.mean,
        g.alerts_diff.lo,
        g.alerts_diff.hi,
        g.reduction_volunteer_aed
            .map(|v| format!(
                " Counting only incidents where a volunteer brought an AED, the median volunteer AED arrival is {:.1} % sooner (95 % CI {:.1} to {:.1} %).",
                v.mean * 100.0,
                v.lo * 100.0,
                v.hi * 100.0
            ))
            .unwrap_or_default()
    )
}

/// The short summary printed on the terminal.
pub fn summary(o: &Outcome) -> String {
    let pr = per_run(o);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — {} runs × {} policies, {} incidents simulated",
        o.scenario.name,
        o.scenario.runs,
        o.policies.len(),
        o.incidents_simulated()
    );
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "policy", "CPR", "AED", "shock", "AED<EMS", "alerts", "stooddn"
    );
    for (p, name) in o.policies.iter().enumerate() {
        let c = |f: fn(&RunStats) -> f64| stats::ci(&pr[p].iter().map(f).collect::<Vec<_>>()).mean;
        let _ = writeln!(
            s,
            "{:<16} {:>10} {:>10} {:>10} {:>8} {:>8.2} {:>8.2}",
            name,
            Unit::Seconds.fmt(c(|r| r.median_cpr_s)),
            Unit::Seconds.fmt(c(|r| r.median_aed_s)),
            Unit::Seconds.fmt(c(|r| r.median_shock_s)),
            Unit::Share.fmt(c(|r| r.aed_before_ems)),
            c(|r| r.alerts_per_incident),
            c(|r| r.stood_down_per_incident),
        );
    }
    if let Some(g) = goal_check(o) {
        let _ = writeln!(s, "{}", goal_text(&g).replace("**", ""));
    }
    let _ = write!(
        s,
        "benchmark: {:.0} simulated incidents/s ({} incident-policies in {:.1} s on {} threads; world built in {:.1} s)",
        o.incidents_simulated() as f64 / o.sim_s.max(1e-9),
        o.incidents_simulated(),
        o.sim_s,
        o.threads,
        o.world_s
    );
    s
}

/// The Markdown report. `timing` adds the (machine-dependent) benchmark lines.
pub fn markdown(o: &Outcome, command: &str, scenario_path: &Path, timing: bool) -> String {
    let s = &o.scenario;
    let pr = per_run(o);
    let mut m = String::new();
    let n_inc: Vec<usize> = o
        .results
        .first()
        .map(|r| r.iter().map(Vec::len).collect())
        .unwrap_or_default();
    let mean_inc = n_inc.iter().sum::<usize>() as f64 / n_inc.len().max(1) as f64;
    let _ = writeln!(m, "# Simulation report: {}\n", s.name);
    let _ = writeln!(m, "Produced by:\n\n```sh\n{command}\n```\n");
    let _ = writeln!(
        m,
        "Scenario `{}`, seed {}, {} runs of {} days each (from {} {}), {:.1} incidents per run on average; \
         {} volunteers; {} AEDs ({} open 24/7; opening hours remove {:.1} % of AED-hours); {}.\n",
        scenario_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        s.seed,
        s.runs,
        s.days,
        s.start,
        s.timezone,
        mean_inc,
        o.volunteers,
        o.aeds,
        o.aeds_always_open,
        o.hours_loss * 100.0,
        o.graph_note
    );
    let _ = writeln!(
        m,
        "Every incident runs through `firstlink_domain::mission::Mission::handle` (the code that serves live incidents) \
         on a simulated clock. Values are the **mean over runs of the per-run statistic, with a 95 % Student-t \
         interval over runs** (each run: a new volunteer population, new incidents, new answers; all policies of \
         one run share them). Times are from the call; \"AED at patient\" and \"CPR\" count whichever comes first, a \
         volunteer or the ambulance crew (ambulance at the address + {:.0} s to the patient); first possible shock adds \
         {:.0} s for a volunteer's AED and {:.0} s for the crew.\n",
        s.outcome.ems_to_patient_s, s.outcome.aed_attach_s, s.outcome.ems_attach_s
    );
    let _ = writeln!(m, "## Results per policy\n");
    let _ = write!(m, "| metric |");
    for p in &o.policies {
        let _ = write!(m, " `{p}` |");
    }
    let _ = write!(m, "\n|---|");
    for _ in &o.policies {
        let _ = write!(m, "---|");
    }
    let _ = writeln!(m);
    for (name, f, unit) in METRICS {
        let _ = write!(m, "| {name} |");
        for runs in &pr {
            let v: Vec<f64> = runs.iter().map(f).collect();
            let _ = write!(m, " {} |", fmt_ci(&stats::ci(&v), unit));
        }
        let _ = writeln!(m);
    }
    let _ = writeln!(m);
    // Pooled quantiles.
    let _ = writeln!(
        m,
        "Pooled over all runs, call → AED at patient (any source), quartiles:\n"
    );
    let _ = writeln!(
        m,
        "| policy | 25 % | median | 75 % | 90 % | volunteer AED arrivals, median |\n|---|---|---|---|---|---|"
    );
    for (p, name) in o.policies.iter().enumerate() {
        let mut v: Vec<f64> = o.results[p].iter().flatten().map(|r| r.aed_s).collect();
        let mut va: Vec<f64> = o.results[p]
            .iter()
            .flatten()
            .filter_map(|r| r.first_aed_volunteer_s)
            .collect();
        let _ = writeln!(
            m,
            "| `{name}` | {} | {} | {} | {} | {} (n = {}) |",
            Unit::Seconds.fmt(stats::quantile(&mut v, 0.25)),
            Unit::Seconds.fmt(stats::quantile(&mut v, 0.5)),
            Unit::Seconds.fmt(stats::quantile(&mut v, 0.75)),
            Unit::Seconds.fmt(stats::quantile(&mut v, 0.9)),
            if va.is_empty() {
                "–".into()
            } else {
                Unit::Seconds.fmt(stats::median(&mut va))
            },
            va.len()
        );
    }
    let _ = writeln!(m);
    if let Some(g) = goal_check(o) {
        let _ = writeln!(m, "## Goal\n\n{}\n", goal_text(&g));
    }
    // Calibration.
    let _ = writeln!(m, "## Calibration against the published figures\n");
    let _ = writeln!(
        m,
        "Mean acceptors per incident by time of day (day 07–17, evening 17–23, night 23–07; Denmark 2017–2022: 3.7 / 4.8 / 1.8), \
         and share of incidents with a volunteer at the patient before the ambulance crew (Copenhagen, 1.8 km: 42 %):\n"
    );
    let _ = writeln!(
        m,
        "| policy | day | evening | night | volunteer before ambulance |\n|---|---|---|---|---|"
    );
    for (p, name) in o.policies.iter().enumerate() {
        let all: Vec<&IncidentResult> = o.results[p].iter().flatten().collect();
        let period = |lo: u32, hi: u32| {
            let v: Vec<f64> = all
                .iter()
                .filter(|r| {
                    if lo < hi {
                        (lo..hi).contains(&r.local_hour)
                    } else {
                        r.local_hour >= lo || r.local_hour < hi
                    }
                })
                .map(|r| f64::from(r.accepted))
                .collect();
            if v.is_empty() {
                "–".into()
            } else {
                format!("{:.2}", v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        let before =
            all.iter().filter(|r| r.cpr_before_ems).count() as f64 / all.len().max(1) as f64;
        let _ = writeln!(
            m,
            "| `{name}` | {} | {} | {} | {} |",
            period(7, 17),
            period(17, 23),
            period(23, 7),
            Unit::Share.fmt(before)
        );
    }
    let _ = writeln!(m);
    let _ = writeln!(
        m,
        "## Plots\n\n![Cumulative distribution of call → AED at patient](time_to_aed_cdf.svg)\n"
    );
    let _ = writeln!(m, "![Where volunteers and AEDs are missing](map.svg)\n");
    let _ = writeln!(
        m,
        "Left: available volunteers per km² (run 1, mean over the day) with the AEDs (green: open 24/7, orange: limited hours). \
         Right: share of incidents in each cell where no volunteer brought an AED before the ambulance, under `{}` \
         (all runs; grey: no incident). Map data © OpenStreetMap contributors (ODbL).\n",
        goal_check(o)
            .map(|g| g.challenger)
            .unwrap_or_else(|| o.policies[0].clone())
    );
    let _ = writeln!(m, "## Policies\n");
    for (spec, name) in s.policies.iter().zip(&o.policies) {
        if let Ok(p) = spec.policy() {
            let _ = writeln!(
                m,
                "- `{name}` (preset `{}`{}): radius {:.0}–{:.0} m, first wave {}, waves of {} every {} s, replace declines: {}, \
                 target {} acceptors, at most {} alerts, roles {:?}, AED search {:.0} m.",
                spec.preset,
                if spec.set.is_some() { ", changed" } else { "" },
                p.radius_m,
                p.max_radius_m,
                p.first_wave,
                p.wave_size,
                p.wave_interval_s,
                p.replace_declines,
                p.target_acceptors,
                p.max_alerts,
                p.roles,
                p.aed_search_radius_m
            );
        }
    }
    let _ = writeln!(m, "\n## Engine\n");
    let _ = writeln!(
        m,
        "{} inputs handled by `Mission::handle`; refused inputs: {}. (A refusal is normal when a simulated answer \
         reaches a mission that has just ended or moved on, as it would on the server.) CSV of every simulated incident: \
         [`incidents.csv`](incidents.csv).\n",
        o.engine_inputs,
        if o.engine_errors.is_empty() {
            "none".to_string()
        } else {
            o.engine_errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if timing {
        let _ = writeln!(m, "## Benchmark\n");
        let _ = writeln!(
            m,
            "{:.0} simulated incidents per second ({} incident × policy simulations in {:.1} s on {} threads, {} graph searches; \
             building the world took {:.1} s). Machine-dependent; everything above is not.\n",
            o.incidents_simulated() as f64 / o.sim_s.max(1e-9),
            o.incidents_simulated(),
            o.sim_s,
            o.threads,
            o.searches,
            o.world_s
        );
    }
    m
}

pub fn csv(o: &Outcome) -> String {
    let mut c = String::from(
        "policy,run,incident,local_time,public,lat,lon,ambulance_s,alerts,accepted,stood_down,arrived,sent_to_aed,\
         first_volunteer_s,first_aed_volunteer_s,cpr_s,aed_s,shock_s,cpr_before_ems,aed_before_ems\n",
    );
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
    for (p, name) in o.policies.iter().enumerate() {
        for r in o.results[p].iter().flatten() {
            let t = from_ms(r.at).with_timezone(&o.world.tz);
            let _ = writeln!(
                c,
                "{name},{},{},{},{},{:.5},{:.5},{:.0},{},{},{},{},{},{},{},{:.0},{:.0},{:.0},{},{}",
                r.run + 1,
                r.incident,
                t.format("%Y-%m-%dT%H:%M"),
                u8::from(r.public),
                r.position.lat,
                r.position.lon,
                r.ambulance_s,
                r.alerts,
                r.accepted,
                r.stood_down,
                r.arrived,
                r.sent_to_aed,
                opt(r.first_volunteer_s),
                opt(r.first_aed_volunteer_s),
                r.cpr_s,
                r.aed_s,
                r.shock_s,
                u8::from(r.cpr_before_ems),
                u8::from(r.aed_before_ems),
            );
        }
    }
    c
}

/// Cumulative distributions of call → AED at patient, one line per policy.
pub fn cdf_svg(o: &Outcome) -> String {
    let (w, h, l, r, t, b) = (720.0, 420.0, 60.0, 170.0, 20.0, 50.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let xmax = 900.0f64;
    let x = |s: f64| l + s.min(xmax) / xmax * pw;
    let y = |p: f64| t + (1.0 - p) * ph;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for k in 0..=15 {
        let sx = x(f64::from(k) * 60.0);
        let _ = writeln!(
            s,
            "<line x1=\"{sx:.1}\" y1=\"{t}\" x2=\"{sx:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            t + ph
        );
        if k % 3 == 0 {
            let _ = writeln!(
                s,
                "<text x=\"{sx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{k}</text>",
                t + ph + 16.0
            );
        }
    }
    for k in 0..=10 {
        let sy = y(f64::from(k) / 10.0);
        let _ = writeln!(
            s,
            "<line x1=\"{l}\" y1=\"{sy:.1}\" x2=\"{:.1}\" y2=\"{sy:.1}\" stroke=\"#eee\"/>",
            l + pw
        );
        if k % 2 == 0 {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}%</text>",
                l - 6.0,
                sy + 4.0,
                k * 10
            );
        }
    }
    let _ = writeln!(
        s,
        "<rect x=\"{l}\" y=\"{t}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#444\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">minutes from the call to an AED at the patient (volunteer or ambulance)</text>\n<text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">share of incidents</text>",
        l + pw / 2.0,
        h - 12.0,
        t + ph / 2.0
    );
    for (p, name) in o.policies.iter().enumerate() {
        let mut v: Vec<f64> = o.results[p].iter().flatten().map(|r| r.aed_s).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let col = COLOURS[p % COLOURS.len()];
        let mut d = format!("M{:.1},{:.1}", x(0.0), y(0.0));
        // At most ~400 steps: thin the points.
        let step = (v.len() / 400).max(1);
        let mut last_p = 0.0;
        for (i, val) in v.iter().enumerate() {
            if i % step != 0 && i + 1 != v.len() {
                continue;
            }
            let pr = (i + 1) as f64 / n;
            let _ = write!(
                d,
                " L{:.1},{:.1} L{:.1},{:.1}",
                x(*val),
                y(last_p),
                x(*val),
                y(pr)
            );
            last_p = pr;
        }
        let _ = write!(d, " L{:.1},{:.1}", x(xmax), y(last_p));
        let _ = writeln!(
            s,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{col}\" stroke-width=\"2\"/>"
        );
        let ly = t + 20.0 + p as f64 * 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{col}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            l + pw + 12.0,
            l + pw + 36.0,
            l + pw + 42.0,
            ly + 4.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Two panels over the area grid: available volunteers and AEDs; share of
/// incidents without a volunteer AED before the ambulance.
pub fn map_svg(o: &Outcome, challenger: usize) -> String {
    let bb = o.world.bbox;
    let n = o.scenario.area.map_cells.max(2) as usize;
    let mid_lat = ((bb[1] + bb[3]) / 2.0).to_radians();
    let w_m = (bb[2] - bb[0]) * 111_195.0 * mid_lat.cos();
    let h_m = (bb[3] - bb[1]) * 111_195.0;
    let panel = 340.0;
    let (pw, ph) = if w_m >= h_m {
        (panel, panel * h_m / w_m)
    } else {
        (panel * w_m / h_m, panel)
    };
    let gap = 40.0;
    let (w, h) = (2.0 * pw + gap + 40.0, ph + 90.0);
    let cell_km2 = (w_m / n as f64) * (h_m / n as f64) / 1e6;
    let cell = |lat: f64, lon: f64| -> Option<(usize, usize)> {
        let i = ((lon - bb[0]) / (bb[2] - bb[0]) * n as f64).floor();
        let j = ((bb[3] - lat) / (bb[3] - bb[1]) * n as f64).floor();
        (i >= 0.0 && j >= 0.0 && (i as usize) < n && (j as usize) < n)
            .then_some((i as usize, j as usize))
    };
    let px = |x0: f64, lon: f64| x0 + (lon - bb[0]) / (bb[2] - bb[0]) * pw;
    let py = |lat: f64| 30.0 + (bb[3] - lat) / (bb[3] - bb[1]) * ph;
    // Volunteers: run 1 population × mean availability.
    let mean_avail = o.scenario.volunteers.available_by_hour.iter().sum::<f64>() / 24.0;
    let mut vol = vec![0.0f64; n * n];
    if let Ok(input) = crate::sim::RunInput::draw(&o.scenario, &o.world, 0) {
        for v in &input.volunteers {
            if let Some((i, j)) = cell(v.position.lat, v.position.lon) {
                vol[j * n + i] += mean_avail / cell_km2;
            }
        }
    }
    let vmax = vol.iter().copied().fold(1.0, f64::max);
    let mut miss = vec![(0u32, 0u32); n * n];
    for r in o.results.get(challenger).into_iter().flatten().flatten() {
        if let Some((i, j)) = cell(r.position.lat, r.position.lon) {
            miss[j * n + i].1 += 1;
            if !r.aed_before_ems {
                miss[j * n + i].0 += 1;
            }
        }
    }
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let (x0, x1) = (20.0, 20.0 + pw + gap);
    let (cw, ch) = (pw / n as f64, ph / n as f64);
    for j in 0..n {
        for i in 0..n {
            let v = vol[j * n + i] / vmax;
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"rgb({},{},{})\"/>",
                x0 + i as f64 * cw,
                30.0 + j as f64 * ch,
                cw + 0.3,
                ch + 0.3,
                (255.0 - 200.0 * v) as u8,
                (255.0 - 140.0 * v) as u8,
                255
            );
            let (k, tot) = miss[j * n + i];
            let fill = if tot == 0 {
                "#dddddd".to_string()
            } else {
                let f = f64::from(k) / f64::from(tot);
                format!(
                    "rgb(255,{},{})",
                    (255.0 - 215.0 * f) as u8,
                    (255.0 - 215.0 * f) as u8
                )
            };
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>",
                x1 + i as f64 * cw,
                30.0 + j as f64 * ch,
                cw + 0.3,
                ch + 0.3
            );
        }
    }
    for a in &o.world.aeds {
        let col = if o.world.schedules[a.hours].always {
            "#1a9641"
        } else {
            "#fdae61"
        };
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{col}\"/>",
            px(x0, a.position.lon),
            py(a.position.lat)
        );
    }
    let _ = writeln!(
        s,
        "<rect x=\"{x0}\" y=\"30\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#444\"/>\
         <rect x=\"{x1:.1}\" y=\"30\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#444\"/>\
         <text x=\"{x0}\" y=\"20\">available volunteers per km² (blue, max {vmax:.0}) and AEDs</text>\
         <text x=\"{x1:.1}\" y=\"20\">no volunteer AED before the ambulance (red = 100 %)</text>\
         <text x=\"{x0}\" y=\"{:.1}\" font-size=\"10\">{:.1} × {:.1} km, {n}×{n} cells. © OpenStreetMap contributors</text>",
        ph + 50.0,
        w_m / 1000.0,
        h_m / 1000.0
    );
    s.push_str("</svg>\n");
    s
}

/// Writes `report.md`, `time_to_aed_cdf.svg`, `map.svg` and `incidents.csv`.
pub fn write(
    o: &Outcome,
    dir: &Path,
    command: &str,
    scenario_path: &Path,
    timing: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let challenger = goal_check(o)
        .and_then(|g| policy_index(o, &g.challenger))
        .unwrap_or(0);
    let files = [
        ("report.md", markdown(o, command, scenario_path, timing)),
        ("time_to_aed_cdf.svg", cdf_svg(o)),
        ("map.svg", map_svg(o, challenger)),
        ("incidents.csv", csv(o)),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        out.push(p);
    }
    let _ = from_ms(0).hour();
    Ok(out)
}
