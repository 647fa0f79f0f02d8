//! firstlink's runtime: the running state and everything that is not HTTP.
//!
//! - [`app`]: shared state and start-up loading; [`changes::apply`] is the one
//!   path that updates every in-memory view;
//! - [`missions`]: the mission runtime (engine steps made durable, timers);
//! - [`outbox`]: the durable notification outbox worker;
//! - [`aeds`]: the AED registry as dispatch sees it;
//! - [`auth`]: principals, tokens, rate limits;
//! - [`housekeeping`]: position retention and index refresh;
//! - [`monitor`]: AED readiness monitoring (MQTT, LoRaWAN, HTTPS ingest; tickets);
//! - [`cluster`]: several nodes on one PostgreSQL database (change feed, leases);
//! - [`feeds`]: the RSS/Atom reader and its cache;
//! - [`integration`]: a region's CAD integration settings (webhooks).
//!
//! This crate never depends on the HTTP crate (`firstlink-server`).

pub mod aeds;
pub mod app;
pub mod auth;
pub mod changes;
pub mod cluster;
pub mod config;
pub mod feeds;
pub mod housekeeping;
pub mod integration;
pub mod metrics;
pub mod missions;
pub mod monitor;
pub mod outbox;
pub mod owner_reminders;
pub mod partition;
pub mod refresher;
pub mod registry_jobs;
pub mod webhooks;

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
