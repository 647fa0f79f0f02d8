//! The `firstlink` command: `serve`, `demo`, and administration.

mod admin;
mod aeds;
mod demo;
mod devices;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use firstlink_server::Config;

#[derive(Parser)]
#[command(
    name = "firstlink",
    version,
    about = "Mission server for citizen first responders to cardiac arrest"
)]
struct Cli {
    /// A TOML configuration file (FIRSTLINK_* environment variables override it).
    #[arg(long, global = true, env = "FIRSTLINK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the embedded database and keys.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a demo region of central Copenhagen and simulated volunteers.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// How many simulated volunteers to create on first start.
        #[arg(long, default_value_t = 3000)]
        volunteers: usize,
        /// Post a training incident every this many seconds (0 = never).
        #[arg(long, default_value_t = 600)]
        incident_every: u64,
    },
    /// Build a pedestrian graph from an OpenStreetMap extract.
    Routing {
        #[command(subcommand)]
        command: RoutingCommand,
    },
    /// Compare dispatch policies on a simulated clock with the real engine
    /// (no arguments: the shipped Copenhagen scenario).
    Simulate {
        /// Scenario file (default: scenarios/copenhagen.toml).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Directory for the report (Markdown, SVG, CSV).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's number of runs.
        #[arg(long)]
        runs: Option<u32>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Create regions, API keys and accounts without the web UI.
    Admin {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// The AED registry: import OSM PBF, GeoJSON or CSV.
    Aeds {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(subcommand)]
        command: aeds::AedsCommand,
    },
    /// AED monitoring units: provision them, simulate them.
    Devices {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(subcommand)]
        command: devices::DevicesCommand,
    },
}

#[derive(Subcommand)]
enum RoutingCommand {
    /// Build the graph; with --region it goes where `serve` finds it
    /// (`<data-dir>/graphs/<region>.flg`).
    Build {
        /// The OpenStreetMap extract (.osm.pbf).
        extract: PathBuf,
        /// Output file.
        #[arg(long, conflicts_with = "region")]
        out: Option<PathBuf>,
        /// Region slug: write into the data directory for this region.
        #[arg(long)]
        region: Option<String>,
        /// Data directory (with --region).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Builds a graph file from an extract, with progress on stderr.
pub fn build_graph(
    extract: &std::path::Path,
    out: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let graph = firstlink_routing::build_graph(extract, |p| {
        if !quiet {
            eprint!("\r  {p:?}                    ");
        }
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", extract.display()))?;
    if !quiet {
        eprintln!();
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Written beside and renamed, so a running server never loads half a file.
    let tmp = out.with_extension("flg.partial");
    graph
        .save(&tmp)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    if !quiet {
        println!(
            "graph {}: {} vertices, {} edges, {:.1} km of walkable ways, built in {:.2} s",
            out.display(),
            graph.num_vertices(),
            graph.num_edges(),
            graph.total_length_m() / 1000.0,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Builds a region's graph into the data directory and tells a running
/// server (through the store's change feed) to load it.
async fn build_region_graph(
    config: Config,
    extract: &std::path::Path,
    slug: &str,
) -> anyhow::Result<()> {
    let out = config.data_dir.join("graphs").join(format!("{slug}.flg"));
    build_graph(extract, &out, false)?;
    let store = firstlink_server::open_store(&config)?;
    match store.regions().await?.into_iter().find(|r| r.slug == slug) {
        Some(r) => {
            store
                .announce(&[firstlink_store::Change::Graph(r.id)])
                .await?;
        }
        None => eprintln!(
            "no region {slug:?} in {} yet: the graph is loaded when the region is created",
            config.data_dir.display()
        ),
    }
    Ok(())
}

fn config(
    cli_config: Option<&PathBuf>,
    args: &ServeArgs,
    default_dir: Option<&str>,
) -> anyhow::Result<Config> {
    let mut c = Config::load(cli_config.map(PathBuf::as_path))
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if let Some(l) = &args.listen {
        c.listen.clone_from(l);
    }
    match (&args.data_dir, default_dir) {
        (Some(d), _) => c.data_dir.clone_from(d),
        (None, Some(d))
            if std::env::var_os("FIRSTLINK_DATA_DIR").is_none() && cli_config.is_none() =>
        {
            c.data_dir = d.into()
        }
        _ => {}
    }
    Ok(c)
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        b.json().init()
    } else {
        b.init()
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Serve(a) => run_serve(cli.config.as_ref(), a).await,
        Command::Demo {
            serve,
            volunteers,
            incident_every,
        } => match config(cli.config.as_ref(), serve, Some("firstlink-demo-data")) {
            Ok(c) => {
                init_logs(&c.log_format);
                demo::run(c, *volunteers, *incident_every).await
            }
            Err(e) => Err(e),
        },
        Command::Routing {
            command:
                RoutingCommand::Build {
                    extract,
                    out,
                    region,
                    data_dir,
                },
        } => match (out, region) {
            (Some(o), _) => build_graph(extract, o, false),
            (None, Some(slug)) => {
                let serve = ServeArgs {
                    listen: None,
                    data_dir: data_dir.clone(),
                };
                match config(cli.config.as_ref(), &serve, None) {
                    Ok(c) => build_region_graph(c, extract, slug).await,
                    Err(e) => Err(e),
                }
            }
            (None, None) => Err(anyhow::anyhow!("give --out FILE or --region SLUG")),
        },
        Command::Simulate {
            scenario,
            out,
            runs,
            seed,
        } => firstlink_sim::run_cli(firstlink_sim::SimArgs {
            scenario: scenario.clone(),
            out: out.clone(),
            runs: *runs,
            seed: *seed,
            threads: None,
            command: Some(std::env::args().collect::<Vec<_>>().join(" ")),
            quiet: false,
        }),
        Command::Admin { serve, command } => match config(cli.config.as_ref(), serve, None) {
            Ok(c) => admin::run(c, command).await,
            Err(e) => Err(e),
        },
        Command::Aeds { serve, command } => match config(cli.config.as_ref(), serve, None) {
            Ok(c) => aeds::run(c, command).await,
            Err(e) => Err(e),
        },
        Command::Devices { serve, command } => match config(cli.config.as_ref(), serve, None) {
            Ok(c) => devices::run(c, command).await,
            Err(e) => Err(e),
        },
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_serve(cfg: Option<&PathBuf>, a: &ServeArgs) -> anyhow::Result<()> {
    let c = config(cfg, a, None)?;
    init_logs(&c.log_format);
    let app = firstlink_server::build(c)?;
    firstlink_server::serve_while_starting(app, |addr| {
        println!("firstlink listening on http://{addr}");
    })
    .await
}
