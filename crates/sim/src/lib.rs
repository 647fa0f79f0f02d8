//! # firstlink-sim
//!
//! `firstlink simulate`: a discrete-event simulation on a simulated clock that
//! drives the **real dispatch engine** (`firstlink_domain::mission::Mission`)
//! the way the server does — `Start`, `Tick` at `next_deadline`, `Accept` /
//! `Decline` when simulated volunteers answer, `Progress` on the way, `Leave`
//! for those who give up, `End` when the ambulance has taken over — and
//! applies its effects (busy flags on the real `VolunteerIndex`, AED claims
//! and releases) between steps. Walking distances come from the pedestrian
//! graph of the scenario's OSM extract (`firstlink_routing::GraphEstimator`).
//!
//! ```text
//! Scenario (TOML) ──► World (graph, places, AEDs + opening-hours schedules)
//!                        │
//!          per run: RunInput (volunteers, incidents; shared by all policies)
//!                        │
//!          per policy: sim::simulate ──► IncidentResult per incident
//!                        │
//!          stats (per-run medians/shares, t-intervals over runs) ──► report
//! ```
//!
//! Determinism: every random draw comes from ChaCha8 streams seeded from the
//! scenario seed, the run and (for answers) the incident and volunteer, so
//! the same seed gives the same numbers whatever the thread count, and every
//! policy meets the same volunteers answering the same way (common random
//! numbers: policy differences are not drowned in sampling noise).

pub mod report;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod world;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

pub use scenario::Scenario;
pub use sim::IncidentResult;
pub use world::World;

/// Arguments of `firstlink simulate`.
#[derive(Debug, Clone, Default)]
pub struct SimArgs {
    /// Scenario file; default `scenarios/copenhagen.toml` (looked up from the
    /// current directory upwards).
    pub scenario: Option<PathBuf>,
    /// Where the report goes (Markdown, SVG, CSV); default `simulation-report`.
    pub out: Option<PathBuf>,
    /// Override the scenario's number of runs.
    pub runs: Option<u32>,
    /// Override the scenario's seed.
    pub seed: Option<u64>,
    /// Worker threads (default: available cores). Results do not depend on it.
    pub threads: Option<usize>,
    /// The command line to print in the report.
    pub command: Option<String>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// Everything one simulation produced.
pub struct Outcome {
    pub scenario: Scenario,
    pub policies: Vec<String>,
    /// `results[policy][run]`: every incident of that run.
    pub results: Vec<Vec<Vec<IncidentResult>>>,
    pub volunteers: usize,
    pub aeds: usize,
    pub aeds_always_open: usize,
    pub hours_loss: f64,
    pub graph_note: String,
    pub engine_inputs: u64,
    pub engine_errors: std::collections::BTreeMap<String, u64>,
    pub searches: u64,
    pub world_s: f64,
    pub sim_s: f64,
    pub threads: usize,
    pub world: World,
}

impl Outcome {
    pub fn incidents_simulated(&self) -> usize {
        self.results.iter().flatten().map(Vec::len).sum()
    }
    pub fn months(&self) -> f64 {
        f64::from(self.scenario.days) / (365.25 / 12.0)
    }
}

/// Runs a scenario (no output files).
pub fn run(scenario: Scenario, threads: usize, verbose: bool) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let world = World::build(&scenario, verbose)?;
    let world_s = t0.elapsed().as_secs_f64();
    let policies: Vec<_> = scenario
        .policies
        .iter()
        .map(|p| p.policy())
        .collect::<anyhow::Result<_>>()?;
    let names: Vec<String> = scenario.policies.iter().map(|p| p.label()).collect();
    let runs = scenario.runs as usize;
    let t1 = Instant::now();
    let threads = threads.clamp(1, runs.max(1));
    type RunOut = (Vec<Vec<IncidentResult>>, sim::EngineLog, u64, usize);
    let mut per_run: Vec<Option<anyhow::Result<RunOut>>> = (0..runs).map(|_| None).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let r = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if r >= runs {
                        break;
                    }
                    let one = (|| -> anyhow::Result<RunOut> {
                        let input = sim::RunInput::draw(&scenario, &world, r as u32)?;
                        let memo = world::MemoWalk::new(&*world.walk);
                        let mut out = Vec::new();
                        let mut log = sim::EngineLog::default();
                        for p in &policies {
                            let pr = sim::simulate(&scenario, &world, &memo, &input, p);
                            log.inputs += pr.log.inputs;
                            for (k, v) in pr.log.errors {
                                *log.errors.entry(k).or_default() += v;
                            }
                            out.push(pr.results);
                        }
                        let searches = *memo.searches.lock().unwrap_or_else(|e| e.into_inner());
                        Ok((out, log, searches, input.volunteers.len()))
                    })();
                    if verbose {
                        eprintln!(
                            "run {}/{runs} done ({:.1} s)",
                            r + 1,
                            t1.elapsed().as_secs_f64()
                        );
                    }
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((r, one));
                }
            });
        }
    });
    for (r, one) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
        per_run[r] = Some(one);
    }
    let sim_s = t1.elapsed().as_secs_f64();
    let mut results: Vec<Vec<Vec<IncidentResult>>> = vec![Vec::new(); policies.len()];
    let mut engine_inputs = 0;
    let mut engine_errors = std::collections::BTreeMap::new();
    let mut searches = 0;
    let mut volunteers = 0;
    for one in per_run.into_iter().flatten() {
        let (out, log, s, v) = one?;
        for (p, res) in out.into_iter().enumerate() {
            results[p].push(res);
        }
        engine_inputs += log.inputs;
        for (k, v) in log.errors {
            *engine_errors.entry(k).or_default() += v;
        }
        searches += s;
        volunteers = v;
    }
    let aeds_always_open = world
        .aeds
        .iter()
        .filter(|a| world.schedules[a.hours].always)
        .count();
    Ok(Outcome {
        policies: names,
        results,
        volunteers,
        aeds: world.aeds.len(),
        aeds_always_open,
        hours_loss: world.hours_loss,
        graph_note: world.graph_note.clone(),
        engine_inputs,
        engine_errors,
        searches,
        world_s,
        sim_s,
        threads,
        scenario,
        world,
    })
}

/// Finds `scenarios/copenhagen.toml` from the current directory upwards.
pub fn default_scenario() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let p = dir.join("scenarios").join("copenhagen.toml");
        if p.is_file() {
            return Some(p);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// `firstlink simulate`: runs the scenario, writes the report, prints a summary.
pub fn run_cli(args: SimArgs) -> anyhow::Result<()> {
    let path = match &args.scenario {
        Some(p) => p.clone(),
        None => default_scenario()
            .context("no --scenario given and no scenarios/copenhagen.toml found")?,
    };
    let mut scenario = Scenario::load(&path)?;
    if let Some(r) = args.runs {
        scenario.runs = r;
    }
    if let Some(s) = args.seed {
        scenario.seed = s;
    }
    scenario.validate()?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("simulation-report"));
    let outcome = run(scenario, threads, !args.quiet)?;
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| format!("firstlink simulate --scenario {}", path.display()));
    let files = report::write(&outcome, &out_dir, &command, Path::new(&path), true)?;
    println!("{}", report::summary(&outcome));
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
