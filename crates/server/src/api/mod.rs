//! The HTTP API: routing, extractors, OpenAPI.
//!
//! Only this module knows JSON wire types; handlers map them to domain types
//! and back. Every route but `/health`, `/ready`, `/metrics` and the OpenAPI
//! document requires a bearer token.

pub mod admin;
pub mod branding;
pub mod cad;
pub mod coverage;
pub mod dispatch;
pub mod events;
pub mod feeds;
pub mod monitoring;
pub mod partition;
pub mod registry;
pub mod training;
pub mod types;
pub mod volunteer;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use firstlink_store::SessionKind;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;
use crate::auth::{Principal, parse_api_key, sha256_hex, verify_password};
use crate::error::{ApiError, ApiResult};

pub type AppState = Arc<App>;

/// Largest request body accepted (batched positions are the largest).
pub const MAX_BODY: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "firstlink", description = "Mission server for citizen first responders to cardiac arrest."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The whole router.
pub fn router(app: AppState) -> Router {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(dispatch::routes())
        .merge(volunteer::routes())
        .merge(admin::routes())
        .merge(events::routes())
        .merge(registry::routes())
        .merge(cad::routes())
        .merge(monitoring::routes())
        .merge(coverage::routes())
        .merge(branding::routes())
        .merge(feeds::routes())
        .merge(training::routes())
        .merge(partition::routes())
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&app),
        until_ready,
    ));
    let doc = Arc::new(doc);
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/owner/confirm/{id}/{token}",
            get(registry::owner_confirm_page),
        )
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let d = Arc::clone(&doc);
                async move { Json((*d).clone()) }
            }),
        )
        .merge(api)
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::not_found("route") }),
        )
        .merge(crate::web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

/// The API answers 503 until the node has loaded its state (a node may
/// listen while it loads, so that a load balancer sees it as not ready).
async fn until_ready(
    State(app): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if app.is_ready() {
        next.run(req).await
    } else {
        let mut r = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "this node is still loading; try again shortly",
        )
        .into_response();
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        r
    }
}

async fn ready(State(app): State<AppState>) -> Response {
    if app.is_ready() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "loading" })),
        )
            .into_response()
    }
}

async fn metrics(State(app): State<AppState>) -> Response {
    app.metrics.volunteers.set(app.index().len() as i64);
    app.metrics.positions.set(app.index().positioned() as i64);
    app.metrics
        .live_missions
        .set(app.missions.live_count() as i64);
    app.metrics.monitoring(&app.monitor.counters);
    if let Ok(s) = app.store.outbox_stats().await {
        app.metrics.outbox_pending.set(s.pending as i64);
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// The authenticated caller.
pub struct Auth(pub Principal);

fn bearer(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(AUTHORIZATION) {
        let s = h.to_str().ok()?;
        let (scheme, token) = s.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    // EventSource cannot set headers: live feeds also take ?access_token=.
    if parts.uri.path().ends_with("/events") {
        let q = parts.uri.query()?;
        return q
            .split('&')
            .find_map(|kv| kv.strip_prefix("access_token="))
            .map(str::to_string);
    }
    None
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("send a bearer token in the Authorization header")
        })?;
        if token.len() > 512 {
            return Err(ApiError::unauthorized("invalid token"));
        }
        let h = sha256_hex(&token);
        if let Some(p) = app.tokens.get(&h) {
            return Ok(Auth(p));
        }
        let p = resolve(app, &token, &h)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
        app.tokens.put(h, p.clone());
        Ok(Auth(p))
    }
}

async fn resolve(app: &App, token: &str, hash: &str) -> ApiResult<Option<Principal>> {
    if let Some((id, secret)) = parse_api_key(token) {
        let Some(k) = app.store.api_key(id).await? else {
            return Ok(None);
        };
        if k.revoked_at.is_some() {
            return Ok(None);
        }
        let (secret, phc) = (secret.to_string(), k.hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&secret, &phc))
            .await
            .map_err(ApiError::internal)?;
        return Ok(ok.then_some(Principal::Dispatch {
            region: k.region_id,
            key_id: k.id,
        }));
    }
    let kind = if token.starts_with("flo_") {
        SessionKind::Operator
    } else if token.starts_with("flv_") {
        SessionKind::Volunteer
    } else {
        return Ok(None);
    };
    let Some(s) = app.store.session(hash).await? else {
        return Ok(None);
    };
    if s.kind != kind || s.expires_at < Utc::now() {
        return Ok(None);
    }
    match kind {
        SessionKind::Operator => {
            let Some(o) = app.store.operator(s.subject).await? else {
                return Ok(None);
            };
            if o.disabled_at.is_some() {
                return Ok(None);
            }
            Ok(Some(Principal::Operator {
                id: o.id,
                username: o.username,
                role: o.role,
                regions: o.regions,
            }))
        }
        SessionKind::Volunteer => {
            let id = firstlink_domain::ids::VolunteerId(s.subject);
            let Some(v) = app.store.volunteer(id).await? else {
                return Ok(None);
            };
            if v.suspended_at.is_some() {
                return Ok(None);
            }
            Ok(Some(Principal::Volunteer {
                id,
                region: v.region_id,
            }))
        }
    }
}

/// A JSON body, parsed with errors that name the offending field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body may be at most {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "could not read the request body",
                )
            }
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// An optional JSON body: an empty body is `None`.
pub fn parse_optional<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<Option<T>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        parse_json(bytes).map(Some)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", inner.to_string())
        } else {
            ApiError::field(path, inner.to_string())
        }
    })
}

/// The client's address, for rate limits.
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(ip))
    }
}

impl ClientIp {
    pub fn limit(&self, app: &App) -> ApiResult<()> {
        app.limiter.check(self.0).map_err(|wait| ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; try again in {wait} s"),
            )
        })
    }
}

/// Records an action in the audit log; a failure to record is logged, not fatal.
pub async fn audit(
    app: &App,
    who: &Principal,
    action: &str,
    region: Option<firstlink_domain::ids::RegionId>,
    target: Option<String>,
    details: serde_json::Value,
) {
    let e = firstlink_store::AuditEntry {
        at: app.now(),
        actor: who.actor(),
        action: action.into(),
        region_id: region,
        target,
        details,
    };
    if let Err(err) = app.store.audit(&e).await {
        tracing::error!(error = %err, action, "could not write the audit log");
    }
}
