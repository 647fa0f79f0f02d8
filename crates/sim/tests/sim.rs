//! Determinism, a scenario worked out by hand, and "more volunteers help".

use firstlink_domain::LatLon;
use firstlink_sim::{Scenario, report, run};

const BASE: &str = r#"
name = "test"
seed = 7
runs = RUNS
timezone = "Europe/Copenhagen"
start = "2025-03-03T00:00:00"
days = DAYS
policies = [{ preset = "firstlink" }, { preset = "heartrunner" }]
[area]
bbox = [12.56, 55.67, 12.59, 55.69]
[response]
accept_by_hour = ACCEPT
decline = DECLINE
answer_delay_s = { median = 30.0, q1 = 30.0, q3 = 30.0, min = 30.0, max = 30.0 }
no_show = NOSHOW
no_show_withdraws = 0.5
withdraw_after_s = { median = 60.0, q1 = 60.0, q3 = 60.0, min = 60.0, max = 60.0 }
[ambulance]
response_s = { median = 600.0, q1 = 600.0, q3 = 600.0, min = 600.0, max = 600.0 }
eta_error_sigma = 0.0
eta_reported = true
"#;

fn scenario(runs: u32, days: u32, accept: f64, decline: f64, no_show: f64, rest: &str) -> Scenario {
    let text = BASE
        .replace("RUNS", &runs.to_string())
        .replace("DAYS", &days.to_string())
        .replace("ACCEPT", &format!("{:?}", vec![accept; 24]))
        .replace("DECLINE", &decline.to_string())
        .replace("NOSHOW", &no_show.to_string());
    Scenario::parse(&format!("{text}\n{rest}")).unwrap()
}

/// One patient, one volunteer 300 m north (2.0 m/s), one AED 200 m east,
/// walks = straight line × 1.35, answer after 30 s, AED pickup 40 s,
/// ambulance at 600 s (+60 s to the patient).
#[test]
fn tiny_scenario_matches_the_hand_calculation() {
    let p = LatLon::new(55.68, 12.575).unwrap();
    let v = p.offset(0.0, 300.0);
    let a = p.offset(90.0, 200.0);
    let rest = format!(
        r#"
[aeds]
fixed = [{{ lat = {}, lon = {} }}]
pickup_s = {{ median = 40.0, q1 = 40.0, q3 = 40.0, min = 40.0, max = 40.0 }}
[volunteers]
available_by_hour = {:?}
speed_mps = {{ median = 2.0, q1 = 2.0, q3 = 2.0, min = 2.0, max = 2.0 }}
fixed = [{{ lat = {}, lon = {}, speed_mps = 2.0 }}]
[incidents]
fixed = [{{ at_s = 36000, lat = {}, lon = {} }}]
"#,
        a.lat,
        a.lon,
        vec![1.0; 24],
        v.lat,
        v.lon,
        p.lat,
        p.lon
    );
    let s = scenario(1, 1, 1.0, 0.0, 0.0, &rest);
    let o = run(s, 1, false).unwrap();
    let fl = &o.results[0][0][0];
    let hr = &o.results[1][0][0];
    assert_eq!(
        (fl.alerts, fl.accepted, hr.alerts, hr.accepted),
        (1, 1, 1, 1)
    );

    // Heartrunner: the first acceptor goes straight to CPR.
    // 30 s + 300 m × 1.35 / 2.0 m/s = 232.5 s; no AED until the crew: 600 + 60.
    assert!((hr.cpr_s - 232.5).abs() < 1.0, "{}", hr.cpr_s);
    assert!((hr.aed_s - 660.0).abs() < 0.01);
    assert!((hr.shock_s - 705.0).abs() < 0.01);
    assert!(hr.cpr_before_ems && !hr.aed_before_ems);

    // firstlink: cost(direct) = 570 + 0.5 × 176 > cost(via AED) = 359 + 0.5 × 359,
    // so it fetches the AED: 30 + √(300² + 200²) × 1.35 / 2 + 40 + 200 × 1.35 / 2
    // = 30 + 243.4 + 40 + 135 = 448.4 s; shock 60 s later.
    let via = 30.0 + (300f64.powi(2) + 200f64.powi(2)).sqrt() * 1.35 / 2.0 + 40.0 + 135.0;
    assert!((fl.aed_s - via).abs() < 1.5, "{} vs {via}", fl.aed_s);
    assert!((fl.cpr_s - via).abs() < 1.5);
    assert!((fl.shock_s - via - 60.0).abs() < 1.5);
    assert!(fl.aed_before_ems);
}

fn random(volunteers: u32, runs: u32) -> Scenario {
    let rest = format!(
        r#"
[aeds]
generate = 25
hours = [{{ share = 0.7, opening_hours = "24/7" }}, {{ share = 0.3, opening_hours = "Mo-Fr 08:00-17:00" }}]
[volunteers]
count = {volunteers}
available_by_hour = {:?}
speed_mps = {{ median = 2.3, q1 = 1.4, q3 = 4.0, min = 0.8, max = 6.0 }}
[incidents]
per_year = 1500.0
"#,
        vec![0.3; 24]
    );
    scenario(runs, 8, 0.35, 0.25, 0.15, &rest)
}

#[test]
fn same_seed_same_report_whatever_the_threads() {
    let a = run(random(300, 3), 1, false).unwrap();
    let b = run(random(300, 3), 2, false).unwrap();
    assert!(a.incidents_simulated() > 50);
    let md = |o: &firstlink_sim::Outcome| {
        report::markdown(o, "cmd", std::path::Path::new("t.toml"), false)
    };
    assert_eq!(md(&a), md(&b));
    assert_eq!(report::csv(&a), report::csv(&b));
    assert_eq!(report::cdf_svg(&a), report::cdf_svg(&b));
    // A different seed gives different numbers.
    let mut s = random(300, 3);
    s.seed = 8;
    let c = run(s, 1, false).unwrap();
    assert_ne!(report::csv(&a), report::csv(&c));
}

#[test]
fn more_volunteers_help() {
    let few = run(random(15, 3), 2, false).unwrap();
    let many = run(random(300, 3), 2, false).unwrap();
    for p in 0..2 {
        let share = |o: &firstlink_sim::Outcome| {
            let all: Vec<_> = o.results[p].iter().flatten().collect();
            all.iter().filter(|r| r.cpr_before_ems).count() as f64 / all.len() as f64
        };
        let med = |o: &firstlink_sim::Outcome| {
            let mut v: Vec<f64> = o.results[p].iter().flatten().map(|r| r.cpr_s).collect();
            firstlink_sim::stats::median(&mut v)
        };
        assert!(
            share(&many) > share(&few) + 0.1,
            "policy {p}: {} vs {}",
            share(&many),
            share(&few)
        );
        assert!(med(&many) < med(&few), "policy {p}");
    }
}

#[test]
fn shipped_scenario_parses() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/copenhagen.toml");
    let s = Scenario::load(&path).unwrap();
    for preset in ["firstlink", "heartrunner", "hjertelober", "goodsam"] {
        assert!(
            s.policies.iter().any(|p| format!("{p:?}").contains(preset)),
            "{preset} missing"
        );
    }
    assert!(s.resolve(s.area.osm.as_deref().unwrap()).is_file());
}
