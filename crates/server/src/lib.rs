//! firstlink's server: the runtime around the domain core and its HTTP API.
//!
//! - [`app`]: shared state and start-up loading;
//! - [`missions`]: the mission runtime (engine steps made durable, timers);
//! - [`outbox`]: the durable notification outbox worker;
//! - [`aeds`]: the AED registry as dispatch sees it;
//! - [`auth`]: tokens, roles, rate limits;
//! - [`api`]: HTTP routes, wire types, OpenAPI;
//! - [`housekeeping`]: position retention and index refresh;
//! - [`monitor`]: AED readiness monitoring (MQTT, LoRaWAN, HTTPS ingest; tickets);
//! - [`cluster`]: several nodes on one PostgreSQL database (change feed, leases).

pub mod aeds;
pub mod api;
pub mod app;
pub mod auth;
pub mod changes;
pub mod cluster;
pub mod config;
pub mod error;
pub mod housekeeping;
pub mod metrics;
pub mod missions;
pub mod monitor;
pub mod outbox;
pub mod owner_reminders;
pub mod partition;
pub mod refresher;
pub mod registry_jobs;
pub mod web;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use firstlink_store::sqlite::SqliteStore;

pub use app::App;
pub use config::Config;

/// Opens the configured store.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn firstlink_store::Store>> {
    if let Some(url) = config
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        // Connects and migrates on first use (App::load), so this stays synchronous.
        return Ok(Arc::new(
            firstlink_store_pg::PgStore::lazy(url).map_err(|e| anyhow::anyhow!("{e}"))?,
        ));
    }
    let path = config.sqlite_path().map_err(anyhow::Error::msg)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(Arc::new(SqliteStore::open(&path).map_err(|e| {
        anyhow::anyhow!("cannot open {}: {e}", path.display())
    })?))
}

/// Builds the application on `config` without loading anything yet.
pub fn build(config: Config) -> anyhow::Result<Arc<App>> {
    let store = open_store(&config)?;
    App::new(config, store)
}

/// Loads the stored state, resumes live missions and starts the workers.
pub async fn launch(app: &Arc<App>) -> anyhow::Result<()> {
    let feed = cluster::subscribe(app).await?;
    app.load().await?;
    cluster::spawn(app, feed);
    missions::Missions::spawn_scheduler(app);
    outbox::Outbox::spawn(app);
    housekeeping::spawn(app);
    registry_jobs::spawn(app);
    owner_reminders::spawn(app);
    refresher::spawn(app);
    webhooks::spawn(app);
    if app.config.monitor.enabled {
        monitor::spawn(app).await?;
    }
    Ok(())
}

/// [`build`] then [`launch`].
pub async fn start(config: Config) -> anyhow::Result<Arc<App>> {
    let app = build(config)?;
    launch(&app).await?;
    Ok(app)
}

/// Binds the listener first (`/health` answers, `/ready` and the API answer
/// 503 while loading), then [`launch`]es, then calls `on_ready` with the
/// address, and serves until Ctrl-C / SIGTERM.
pub async fn serve_while_starting(
    app: Arc<App>,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .map_err(|e| listen_error(&app.config.listen, &e))?;
    let addr = listener.local_addr()?;
    let router = api::router(Arc::clone(&app));
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    });
    launch(&app).await?;
    on_ready(addr);
    server.await??;
    Ok(())
}

/// Binds the listener and serves until Ctrl-C / SIGTERM. Calls `on_bound`
/// with the actual address (port 0 picks one).
pub async fn serve(app: Arc<App>, on_bound: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .map_err(|e| listen_error(&app.config.listen, &e))?;
    let addr = listener.local_addr()?;
    on_bound(addr);
    let router = api::router(Arc::clone(&app));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

/// Why the HTTP listener cannot bind, naming the setting that moves it.
fn listen_error(addr: &str, e: &std::io::Error) -> anyhow::Error {
    let fix = "give --listen, or set FIRSTLINK_LISTEN or listen, to another address, \
               or 127.0.0.1:0 for any free port";
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!("listen {addr} is in use: {fix}"),
        _ => anyhow::anyhow!("listen {addr}: cannot listen ({e}): {fix}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
