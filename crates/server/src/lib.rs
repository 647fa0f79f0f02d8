//! firstlink's server: the HTTP API around the runtime ([`firstlink_runtime`]).
//!
//! - [`api`]: HTTP routes, wire types, OpenAPI;
//! - [`error`]: the API's error answers;
//! - [`web`]: the embedded web app;
//! - the runtime's modules are re-exported under their old paths
//!   (`firstlink_server::app::App`, `firstlink_server::changes::apply`, ...).

pub mod api;
pub mod error;
pub mod web;

pub use firstlink_runtime::{
    App, Config, aeds, app, auth, build, changes, cluster, config, feeds, housekeeping,
    integration, launch, metrics, missions, monitor, open_store, outbox, owner_reminders,
    partition, refresher, registry_jobs, start, webhooks,
};

use std::net::SocketAddr;
use std::sync::Arc;

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
