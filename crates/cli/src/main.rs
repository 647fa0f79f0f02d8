//! The `firstlink` command: `serve`, `demo`, and administration.

mod admin;
mod demo;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use firstlink_server::Config;

#[derive(Parser)]
#[command(name = "firstlink", version, about = "Mission server for citizen first responders to cardiac arrest")]
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
    /// Create regions, API keys and accounts without the web UI.
    Admin {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

fn config(cli_config: Option<&PathBuf>, args: &ServeArgs, default_dir: Option<&str>) -> anyhow::Result<Config> {
    let mut c = Config::load(cli_config.map(PathBuf::as_path)).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if let Some(l) = &args.listen {
        c.listen.clone_from(l);
    }
    match (&args.data_dir, default_dir) {
        (Some(d), _) => c.data_dir.clone_from(d),
        (None, Some(d)) if std::env::var_os("FIRSTLINK_DATA_DIR").is_none() && cli_config.is_none() => c.data_dir = d.into(),
        _ => {}
    }
    Ok(c)
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" { b.json().init() } else { b.init() }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Serve(a) => run_serve(cli.config.as_ref(), a).await,
        Command::Demo { serve, volunteers, incident_every } => {
            match config(cli.config.as_ref(), serve, Some("firstlink-demo-data")) {
                Ok(c) => {
                    init_logs(&c.log_format);
                    demo::run(c, *volunteers, *incident_every).await
                }
                Err(e) => Err(e),
            }
        }
        Command::Admin { serve, command } => match config(cli.config.as_ref(), serve, None) {
            Ok(c) => admin::run(c, command).await,
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
    let app = firstlink_server::start(c).await?;
    firstlink_server::serve(app, |addr| {
        println!("firstlink listening on http://{addr}");
    })
    .await
}
