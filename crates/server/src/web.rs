//! The browser front ends (dispatcher console, volunteer app, public AED map),
//! built from `web/` into `web/dist/` and embedded in the binary, so nothing
//! is fetched from a CDN at run time.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::api::AppState;

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Assets;

fn asset(path: &str) -> Option<Response> {
    let file = Assets::get(path)?;
    let mime = file.metadata.mimetype().to_string();
    let cache =
        if path.ends_with(".html") || path.ends_with("sw.js") || path.ends_with(".webmanifest") {
            "no-cache"
        } else {
            "public, max-age=3600"
        };
    Some(
        (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, cache.to_string()),
            ],
            file.data,
        )
            .into_response(),
    )
}

async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    if let Some(r) = asset(&path) {
        return r;
    }
    // Single-page apps: unknown paths under an app fall back to its index.
    for app in ["console/", "app/", "map/"] {
        if path.starts_with(app)
            && let Some(r) = asset(&format!("{app}index.html"))
        {
            return r;
        }
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(serve))
        .route("/{*path}", get(serve))
}
