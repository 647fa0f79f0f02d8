//! Live feeds as Server-Sent Events. A client that reconnects with
//! `Last-Event-ID` (or `?since=`) gets what it missed from the stored
//! timeline, then live events, with no gap and no duplicate.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use firstlink_domain::ids::IncidentId;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Auth};
use crate::app::BusEvent;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(incident_events))
        .routes(routes!(region_events))
}

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    /// Replay events after this sequence number (instead of the Last-Event-ID header).
    pub since: Option<u64>,
    /// The bearer token, for EventSource clients that cannot send headers.
    pub access_token: Option<String>,
}

fn payload(e: &BusEvent) -> String {
    let mut v = serde_json::to_value(&e.event).unwrap_or_default();
    v["seq"] = serde_json::json!(e.seq);
    v["incident_id"] = serde_json::json!(e.incident);
    v.to_string()
}

/// The timeline of one mission, live. Each event's `id` is its sequence number.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/events", tag = "dispatch", params(("id" = String, Path), FeedQuery),
    responses((status = 200, description = "text/event-stream of mission events", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn incident_events(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    Query(q): Query<FeedQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let id: IncidentId = id.parse().map_err(|_| ApiError::not_found("incident"))?;
    let (region, m) = app
        .missions
        .get(&app, id)
        .await
        .map_err(|_| ApiError::not_found("incident"))?;
    let allowed = match &who {
        Principal::Volunteer { id: v, .. } => m.alert(*v).is_some_and(|a| a.state.responding()),
        p => p.can_dispatch(region) || super::dispatch::follows_as_neighbour(&app, p, region, &m),
    };
    if !allowed {
        return Err(ApiError::not_found("incident"));
    }
    let since = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.parse().ok())
        .or(q.since)
        .unwrap_or(0);
    // Subscribe before reading the stored timeline, so nothing falls between.
    let rx = app.bus.subscribe();
    let replay = app.store.events(id, since).await?;
    let last = replay.last().map_or(since, |e| e.0);
    let replay = replay.into_iter().map(move |(seq, event)| BusEvent {
        region,
        incident: id,
        seq,
        event,
    });
    let live = BroadcastStream::new(rx)
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(move |r| {
            std::future::ready(r.ok().filter(|e| e.incident == id && e.seq > last))
        });
    let s = stream::iter(replay).chain(live).map(|e| {
        Ok(SseEvent::default()
            .id(e.seq.to_string())
            .event("mission")
            .data(payload(&e)))
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

/// Every mission event of the caller's regions, live (new incidents included).
#[utoipa::path(get, path = "/api/v1/events", tag = "dispatch", params(FeedQuery),
    responses((status = 200, description = "text/event-stream of mission events", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn region_events(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(_q): Query<FeedQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    if matches!(who, Principal::Volunteer { .. }) {
        return Err(ApiError::forbidden());
    }
    let regions = who.dispatch_regions();
    let rx = app.bus.subscribe();
    let live = BroadcastStream::new(rx)
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(move |r| {
            std::future::ready(
                r.ok()
                    .filter(|e| regions.as_ref().is_none_or(|rs| rs.contains(&e.region))),
            )
        })
        .map(|e| {
            Ok(SseEvent::default()
                .id(format!("{}:{}", e.incident, e.seq))
                .event("mission")
                .data(payload(&e)))
        });
    Ok(Sse::new(live).keep_alive(KeepAlive::default()))
}
