//! `cargo run --release -p firstlink-sim --example simulate -- [SCENARIO] [OUT_DIR] [RUNS]`:
//! the same as `firstlink simulate`, for working on the simulator alone.

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let args = firstlink_sim::SimArgs {
        scenario: a.first().map(Into::into),
        out: a.get(1).map(Into::into),
        runs: a.get(2).and_then(|r| r.parse().ok()),
        command: a.get(3).cloned(),
        ..Default::default()
    };
    firstlink_sim::run_cli(args)
}
