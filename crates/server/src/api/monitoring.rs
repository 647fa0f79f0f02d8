//! AED readiness monitoring over HTTP: provisioning monitoring units and
//! their credentials, the HTTPS ingest for units that cannot speak MQTT,
//! service tickets, the fleet view and the rules per AED model.
//!
//! Roles: operators of a region provision units and set where tickets go;
//! technicians (and operators) of a region see readiness and work tickets;
//! administrators set the rules per AED model. A unit authenticates with its
//! own secret and may only report as itself.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use firstlink_domain::ids::{AedId, RegionId};
use firstlink_monitor::{LorawanCodec, ModelRules};
use firstlink_notify::ChannelKind;
use firstlink_store::{
    LorawanBinding, MonitorUnit, ReadinessRecord, TelemetryBucket, Ticket, TicketState,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::types::{opt_text, text};
use super::{AppState, Auth, Body, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::monitor::{FleetSummary, IngestError, Payload, ServiceRouting, UnitStatus, Via};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units, create_unit))
        .routes(routes!(get_unit, update_unit))
        .routes(routes!(rotate_key))
        .routes(routes!(revoke_unit))
        .routes(routes!(unit_telemetry))
        .routes(routes!(ingest))
        .routes(routes!(list_tickets))
        .routes(routes!(acknowledge_ticket))
        .routes(routes!(resolve_ticket))
        .routes(routes!(summary))
        .routes(routes!(aed_readiness))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(get_routing, put_routing))
}

#[derive(Deserialize, IntoParams)]
pub struct RegionQuery {
    pub region: String,
}

fn region_id(app: &App, slug: &str) -> ApiResult<RegionId> {
    Ok(app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?
        .region
        .id)
}

/// Units and tickets of another region answer 404, so they cannot be probed.
fn unit_for(
    app: &App,
    who: &Principal,
    id: Uuid,
    may: fn(&Principal, RegionId) -> bool,
) -> ApiResult<MonitorUnit> {
    app.monitor
        .unit(id)
        .filter(|u| may(who, u.region_id))
        .ok_or_else(|| ApiError::not_found("unit"))
}

// ---------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    /// Region slug.
    pub region: String,
    /// The AED the unit sits with; omit to provision it unbound.
    pub aed_id: Option<AedId>,
    /// The unit's make and model.
    pub hardware: String,
    pub firmware: Option<String>,
    /// Seconds between reports (60 to 86,400).
    pub interval_s: u32,
    /// For LoRaWAN cabinet sensors: The Things Stack device id and payload codec.
    pub lorawan: Option<LorawanWire>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct LorawanWire {
    pub device_id: String,
    /// `elsys-ems`, `milesight-em300-th`, `milesight-ws301` or `dragino-lds02`.
    pub codec: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitChange {
    /// Move the unit to another AED; `null` unbinds it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub aed_id: Option<Option<AedId>>,
    pub hardware: Option<String>,
    pub firmware: Option<String>,
    pub interval_s: Option<u32>,
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[derive(Serialize, ToSchema)]
pub struct UnitView {
    pub id: Uuid,
    pub region: String,
    pub aed_id: Option<AedId>,
    pub aed_name: Option<String>,
    pub hardware: String,
    pub firmware: Option<String>,
    pub interval_s: u32,
    pub key_generation: u32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub lorawan: Option<LorawanWire>,
    pub created_at: DateTime<Utc>,
    pub status: Option<UnitStatus>,
    /// The unit's secret (MQTT password, HTTPS bearer token, MAC key): shown once, when issued.
    pub secret: Option<String>,
}

async fn view(app: &App, u: &MonitorUnit, secret: Option<String>) -> UnitView {
    UnitView {
        id: u.id,
        region: app
            .region(u.region_id)
            .map(|r| r.region.slug)
            .unwrap_or_default(),
        aed_id: u.aed_id,
        aed_name: u
            .aed_id
            .and_then(|a| app.aeds().get(a).map(|a| a.name.clone())),
        hardware: u.hardware.clone(),
        firmware: u.firmware.clone(),
        interval_s: u.interval_s,
        key_generation: u.key_generation,
        revoked_at: u.revoked_at,
        lorawan: u.lorawan.as_ref().map(|l| LorawanWire {
            device_id: l.device_id.clone(),
            codec: l.codec.clone(),
        }),
        created_at: u.created_at,
        status: app.monitor.unit_status(u.id).await,
        secret,
    }
}

fn check_interval(s: u32) -> ApiResult<u32> {
    if (60..=86_400).contains(&s) {
        Ok(s)
    } else {
        Err(ApiError::field(
            "interval_s",
            "must be between 60 and 86400 seconds",
        ))
    }
}

/// The AED must exist in the unit's region and not be watched by another unit.
fn check_aed(app: &App, region: RegionId, aed: AedId, unit: Option<Uuid>) -> ApiResult<()> {
    match app.aeds().get(aed) {
        Some(a) if a.region_id == region => {}
        _ => return Err(ApiError::field("aed_id", "no such AED in this region")),
    }
    if let Some(other) = app.monitor.unit_of(aed).filter(|o| Some(o.id) != unit) {
        return Err(ApiError::conflict(
            "aed_monitored",
            format!(
                "unit {} already monitors this AED; move or revoke it first",
                other.id
            ),
        ));
    }
    Ok(())
}

/// Provision a monitoring unit; the answer holds its secret, once.
#[utoipa::path(post, path = "/api/v1/monitoring/units", tag = "monitoring", request_body = NewUnit,
    responses((status = 201, body = UnitView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_unit(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(n): Body<NewUnit>,
) -> ApiResult<(StatusCode, Json<UnitView>)> {
    let region = region_id(&app, &n.region)?;
    if !who.can_operate(region) {
        return Err(ApiError::forbidden());
    }
    if let Some(a) = n.aed_id {
        check_aed(&app, region, a, None)?;
    }
    let lorawan = match n.lorawan {
        Some(l) => {
            l.codec
                .parse::<LorawanCodec>()
                .map_err(|_| ApiError::field("lorawan.codec", "unknown codec"))?;
            Some(LorawanBinding {
                device_id: text("lorawan.device_id", &l.device_id, 36)?,
                codec: l.codec,
            })
        }
        None => None,
    };
    let u = MonitorUnit {
        id: Uuid::now_v7(),
        region_id: region,
        aed_id: n.aed_id,
        hardware: text("hardware", &n.hardware, 100)?,
        firmware: opt_text("firmware", n.firmware.as_deref(), 50)?,
        interval_s: check_interval(n.interval_s)?,
        key_generation: 1,
        revoked_at: None,
        lorawan,
        created_at: app.now(),
    };
    app.store.save_unit(&u).await.map_err(|e| match e {
        firstlink_store::StoreError::Conflict(_) => ApiError::conflict(
            "lorawan_device_taken",
            "another unit has this LoRaWAN device id",
        ),
        e => e.into(),
    })?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Unit(u.id)]).await;
    audit(
        &app,
        &who,
        "monitoring.unit.create",
        Some(region),
        Some(u.id.to_string()),
        serde_json::json!({ "aed_id": u.aed_id }),
    )
    .await;
    let secret = app.monitor.key_for(&u).to_secret();
    Ok((
        StatusCode::CREATED,
        Json(view(&app, &u, Some(secret)).await),
    ))
}

/// The region's monitoring units with their current status.
#[utoipa::path(get, path = "/api/v1/monitoring/units", tag = "monitoring", params(RegionQuery),
    responses((status = 200, body = Vec<UnitView>)), security(("bearer" = [])))]
pub async fn list_units(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
) -> ApiResult<Json<Vec<UnitView>>> {
    let region = region_id(&app, &q.region)?;
    if !who.can_service(region) {
        return Err(ApiError::forbidden());
    }
    let mut out = Vec::new();
    for u in app.monitor.units(Some(region)) {
        out.push(view(&app, &u, None).await);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/monitoring/units/{id}", tag = "monitoring", params(("id" = Uuid, Path)),
    responses((status = 200, body = UnitView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_unit(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<UnitView>> {
    let u = unit_for(&app, &who, id, Principal::can_service)?;
    Ok(Json(view(&app, &u, None).await))
}

/// Move a unit to another AED (or unbind it), or update its firmware / interval.
#[utoipa::path(patch, path = "/api/v1/monitoring/units/{id}", tag = "monitoring", params(("id" = Uuid, Path)), request_body = UnitChange,
    responses((status = 200, body = UnitView), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_unit(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Body(c): Body<UnitChange>,
) -> ApiResult<Json<UnitView>> {
    let mut u = unit_for(&app, &who, id, Principal::can_operate)?;
    if let Some(aed) = c.aed_id {
        if let Some(a) = aed {
            check_aed(&app, u.region_id, a, Some(u.id))?;
        }
        u.aed_id = aed;
    }
    if let Some(h) = c.hardware {
        u.hardware = text("hardware", &h, 100)?;
    }
    if let Some(f) = c.firmware {
        u.firmware = opt_text("firmware", Some(&f), 50)?;
    }
    if let Some(i) = c.interval_s {
        u.interval_s = check_interval(i)?;
    }
    app.store.save_unit(&u).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Unit(u.id)]).await;
    audit(
        &app,
        &who,
        "monitoring.unit.update",
        Some(u.region_id),
        Some(u.id.to_string()),
        serde_json::json!({ "aed_id": u.aed_id }),
    )
    .await;
    Ok(Json(view(&app, &u, None).await))
}

/// Issue a new secret; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/monitoring/units/{id}/rotate-key", tag = "monitoring", params(("id" = Uuid, Path)),
    responses((status = 200, body = UnitView)), security(("bearer" = [])))]
pub async fn rotate_key(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<UnitView>> {
    let mut u = unit_for(&app, &who, id, Principal::can_operate)?;
    u.key_generation += 1;
    u.revoked_at = None;
    app.store.save_unit(&u).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Unit(u.id)]).await;
    audit(
        &app,
        &who,
        "monitoring.unit.rotate_key",
        Some(u.region_id),
        Some(u.id.to_string()),
        serde_json::json!({ "generation": u.key_generation }),
    )
    .await;
    let secret = app.monitor.key_for(&u).to_secret();
    Ok(Json(view(&app, &u, Some(secret)).await))
}

/// Revoke a unit's credentials: everything it sends is refused from now on.
#[utoipa::path(post, path = "/api/v1/monitoring/units/{id}/revoke", tag = "monitoring", params(("id" = Uuid, Path)),
    responses((status = 200, body = UnitView)), security(("bearer" = [])))]
pub async fn revoke_unit(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<UnitView>> {
    let mut u = unit_for(&app, &who, id, Principal::can_operate)?;
    u.revoked_at = Some(app.now());
    u.key_generation += 1;
    app.store.save_unit(&u).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Unit(u.id)]).await;
    audit(
        &app,
        &who,
        "monitoring.unit.revoke",
        Some(u.region_id),
        Some(u.id.to_string()),
        serde_json::Value::Null,
    )
    .await;
    Ok(Json(view(&app, &u, None).await))
}

#[derive(Deserialize, IntoParams)]
pub struct TelemetryQuery {
    /// How far back, in hours (default 48, at most 2,160).
    pub hours: Option<u32>,
}

/// A unit's telemetry in 15-minute buckets (temperature min/max/last, light, battery, door openings).
#[utoipa::path(get, path = "/api/v1/monitoring/units/{id}/telemetry", tag = "monitoring", params(("id" = Uuid, Path), TelemetryQuery),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn unit_telemetry(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Query(q): Query<TelemetryQuery>,
) -> ApiResult<Json<Vec<TelemetryBucket>>> {
    let u = unit_for(&app, &who, id, Principal::can_service)?;
    // The unit's buckets still in memory are saved first, so the chart is up to date.
    app.monitor.flush_unit(&app, u.id).await?;
    let hours = q.hours.unwrap_or(48).clamp(1, 2_160);
    Ok(Json(
        app.store
            .telemetry(u.id, app.now() - Duration::hours(i64::from(hours)), 10_000)
            .await?,
    ))
}

// ---------------------------------------------------------------------------
// HTTPS ingest
// ---------------------------------------------------------------------------

/// Telemetry from a unit that cannot speak MQTT: the JSON form
/// (`application/json`) or the compact binary form
/// (`application/octet-stream`), authenticated with `Authorization: Bearer
/// <unit secret>`. 202 once the message's consequences are durable.
#[utoipa::path(post, path = "/api/v1/units/{id}/telemetry", tag = "monitoring", params(("id" = Uuid, Path)),
    request_body(content = String, description = "JSON or binary telemetry (crates/monitor/README.md)"),
    responses((status = 202), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn ingest(
    State(app): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    if !app.config.monitor.enabled {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "monitoring_elsewhere",
            "monitoring runs on another node of this installation",
        ));
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let unit = app.monitor.unit(id);
    let ok = unit
        .as_ref()
        .is_some_and(|u| u.revoked_at.is_none() && app.monitor.key_for(u).matches_secret(bearer));
    if !ok {
        app.monitor
            .counters
            .reject("https", &IngestError::BadCredentials);
        return Err(ApiError::unauthorized("unknown unit or wrong secret"));
    }
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let payload = if ct.starts_with("application/json") {
        Payload::Json(&body)
    } else if ct.starts_with("application/octet-stream") {
        Payload::Binary(&body)
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/octet-stream",
        ));
    };
    match app.monitor.ingest(&app, id, Via::Https, payload).await {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(IngestError::Store(e)) => Err(e.into()),
        Err(e) => {
            app.monitor.counters.reject("https", &e);
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                e.to_string(),
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// Tickets
// ---------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct TicketQuery {
    pub region: String,
    /// Only unresolved tickets (default true).
    pub open: Option<bool>,
    pub aed_id: Option<AedId>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    pub aed_id: AedId,
    pub aed_name: Option<String>,
    pub unit_id: Option<Uuid>,
    pub cause: String,
    /// `open`, `acknowledged`, `normal_again` (the signal recovered; awaiting review) or `resolved`.
    pub status: String,
    pub opened_at: DateTime<Utc>,
    /// When its first notice went to the technicians or partner (`null`:
    /// nobody has been told yet); escalation counts from here.
    pub notified_at: Option<DateTime<Utc>>,
    /// Minutes since it was opened.
    pub age_minutes: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub normal_since: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

fn ticket_view(app: &App, t: &Ticket) -> TicketView {
    let status = match t.state {
        TicketState::Resolved => "resolved",
        _ if t.normal_since.is_some() => "normal_again",
        TicketState::Acknowledged => "acknowledged",
        TicketState::Open => "open",
    };
    TicketView {
        id: t.id,
        aed_id: t.aed_id,
        aed_name: app.aeds().get(t.aed_id).map(|a| a.name.clone()),
        unit_id: t.unit_id,
        cause: t.cause.clone(),
        status: status.into(),
        opened_at: t.opened_at,
        notified_at: t.notified_at,
        age_minutes: (app.now() - t.opened_at).num_minutes(),
        acknowledged_at: t.acknowledged_at,
        acknowledged_by: t.acknowledged_by.clone(),
        normal_since: t.normal_since,
        escalated_at: t.escalated_at,
        resolved_at: t.resolved_at,
        resolved_by: t.resolved_by.clone(),
        note: t.note.clone(),
    }
}

/// Service tickets of a region, newest first.
#[utoipa::path(get, path = "/api/v1/monitoring/tickets", tag = "monitoring", params(TicketQuery),
    responses((status = 200, body = Vec<TicketView>)), security(("bearer" = [])))]
pub async fn list_tickets(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<TicketQuery>,
) -> ApiResult<Json<Vec<TicketView>>> {
    let region = region_id(&app, &q.region)?;
    if !who.can_service(region) {
        return Err(ApiError::forbidden());
    }
    let ts = app
        .store
        .tickets(Some(region), q.aed_id, q.open.unwrap_or(true), 1_000)
        .await?;
    Ok(Json(ts.iter().map(|t| ticket_view(&app, t)).collect()))
}

async fn ticket_for(app: &App, who: &Principal, id: Uuid) -> ApiResult<Ticket> {
    app.store
        .ticket(id)
        .await?
        .filter(|t| who.can_service(t.region_id))
        .ok_or_else(|| ApiError::not_found("ticket"))
}

/// A technician takes the ticket (stops its escalation).
#[utoipa::path(post, path = "/api/v1/monitoring/tickets/{id}/acknowledge", tag = "monitoring", params(("id" = Uuid, Path)),
    responses((status = 200, body = TicketView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn acknowledge_ticket(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TicketView>> {
    let t = ticket_for(&app, &who, id).await?;
    if t.state == TicketState::Resolved {
        return Err(ApiError::conflict(
            "ticket_resolved",
            "the ticket is already resolved",
        ));
    }
    let t = Ticket {
        state: TicketState::Acknowledged,
        acknowledged_at: Some(app.now()),
        acknowledged_by: Some(who.actor()),
        ..t
    };
    app.monitor.save_ticket(&app, t.clone()).await?;
    audit(
        &app,
        &who,
        "monitoring.ticket.acknowledge",
        Some(t.region_id),
        Some(t.id.to_string()),
        serde_json::Value::Null,
    )
    .await;
    Ok(Json(ticket_view(&app, &t)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// What was done (required, up to 2,000 characters).
    pub note: String,
}

/// Close the ticket with a note on what was done.
#[utoipa::path(post, path = "/api/v1/monitoring/tickets/{id}/resolve", tag = "monitoring", params(("id" = Uuid, Path)), request_body = Resolution,
    responses((status = 200, body = TicketView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn resolve_ticket(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<Uuid>,
    Body(r): Body<Resolution>,
) -> ApiResult<Json<TicketView>> {
    let t = ticket_for(&app, &who, id).await?;
    if t.state == TicketState::Resolved {
        return Err(ApiError::conflict(
            "ticket_resolved",
            "the ticket is already resolved",
        ));
    }
    let note = text("note", &r.note, 2_000)?;
    let now = app.now();
    let t = Ticket {
        state: TicketState::Resolved,
        resolved_at: Some(now),
        resolved_by: Some(who.actor()),
        note: Some(note),
        ..t
    };
    app.monitor.save_ticket(&app, t.clone()).await?;
    audit(
        &app,
        &who,
        "monitoring.ticket.resolve",
        Some(t.region_id),
        Some(t.id.to_string()),
        serde_json::Value::Null,
    )
    .await;
    Ok(Json(ticket_view(&app, &t)))
}

// ---------------------------------------------------------------------------
// Fleet view
// ---------------------------------------------------------------------------

/// Readiness of a region's AEDs at a glance.
#[utoipa::path(get, path = "/api/v1/monitoring/summary", tag = "monitoring", params(RegionQuery),
    responses((status = 200, body = FleetSummary)), security(("bearer" = [])))]
pub async fn summary(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
) -> ApiResult<Json<FleetSummary>> {
    let region = region_id(&app, &q.region)?;
    if !who.can_service(region) && !who.can_dispatch(region) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(app.monitor.summary(&app, region)))
}

#[derive(Serialize, ToSchema)]
pub struct AedReadinessView {
    pub aed_id: AedId,
    #[schema(value_type = String)]
    pub readiness: firstlink_domain::aed::Readiness,
    pub unit: Option<UnitView>,
    /// Readiness changes, newest first.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<ReadinessRecord>,
    pub tickets: Vec<TicketView>,
}

/// An AED's readiness, its unit, its readiness history and its tickets.
#[utoipa::path(get, path = "/api/v1/aeds/{id}/readiness", tag = "monitoring", params(("id" = AedId, Path)),
    responses((status = 200, body = AedReadinessView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn aed_readiness(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
) -> ApiResult<Json<AedReadinessView>> {
    let (region, readiness) = app
        .aeds()
        .get(id)
        .map(|a| (a.region_id, a.readiness))
        .ok_or_else(|| ApiError::not_found("aed"))?;
    if !who.can_service(region) && !who.can_dispatch(region) {
        return Err(ApiError::not_found("aed"));
    }
    let unit = match app.monitor.unit_of(id) {
        Some(u) => Some(view(&app, &u, None).await),
        None => None,
    };
    let history = app.store.readiness_history(id, 200).await?;
    let tickets = app
        .store
        .tickets(Some(region), Some(id), false, 200)
        .await?
        .iter()
        .map(|t| ticket_view(&app, t))
        .collect();
    Ok(Json(AedReadinessView {
        aed_id: id,
        readiness,
        unit,
        history,
        tickets,
    }))
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// Readiness rules per AED model (the AED record's `model`); the key `""` is the default.
#[utoipa::path(get, path = "/api/v1/monitoring/rules", tag = "monitoring",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_rules(
    State(app): State<AppState>,
    Auth(_who): Auth,
) -> ApiResult<Json<HashMap<String, ModelRules>>> {
    let mut rules = app.monitor.rules();
    rules.entry(String::new()).or_default();
    Ok(Json(rules))
}

/// Replace the rules per AED model (administrators).
#[utoipa::path(put, path = "/api/v1/monitoring/rules", tag = "monitoring", request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_rules(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(rules): Body<HashMap<String, ModelRules>>,
) -> ApiResult<Json<HashMap<String, ModelRules>>> {
    if !who.is_admin() {
        return Err(ApiError::forbidden());
    }
    for (model, r) in &rules {
        validate_rules(r).map_err(|m| ApiError::field(model.clone(), m))?;
    }
    app.monitor.set_rules(&app, rules.clone()).await?;
    audit(
        &app,
        &who,
        "monitoring.rules",
        None,
        None,
        serde_json::to_value(&rules).unwrap_or_default(),
    )
    .await;
    Ok(Json(rules))
}

fn validate_rules(r: &ModelRules) -> Result<(), String> {
    if !(r.temp_min_c.is_finite() && r.temp_max_c.is_finite() && r.temp_min_c < r.temp_max_c) {
        return Err("temp_min_c must be below temp_max_c".into());
    }
    if !(r.temp_hysteresis_c >= 0.0 && r.temp_hysteresis_c * 2.0 < r.temp_max_c - r.temp_min_c) {
        return Err(
            "temp_hysteresis_c must be at least 0 and leave room between the limits".into(),
        );
    }
    if !(r.moved_m.is_finite() && r.moved_m >= 10.0) {
        return Err("moved_m must be at least 10".into());
    }
    if r.unit_battery_low_pct > 95 {
        return Err("unit_battery_low_pct must be at most 95".into());
    }
    if r.silent_after_intervals == 0 {
        return Err("silent_after_intervals must be at least 1".into());
    }
    Ok(())
}

/// Where the region's service tickets go.
#[utoipa::path(get, path = "/api/v1/regions/{slug}/service-routing", tag = "monitoring", params(("slug" = String, Path)),
    responses((status = 200, body = ServiceRouting)), security(("bearer" = [])))]
pub async fn get_routing(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<ServiceRouting>> {
    let region = region_id(&app, &slug)?;
    if !who.can_service(region) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(app.monitor.routing(region)))
}

/// Set the region's technicians, service partners and escalation.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/service-routing", tag = "monitoring", params(("slug" = String, Path)), request_body = ServiceRouting,
    responses((status = 200, body = ServiceRouting), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_routing(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(r): Body<ServiceRouting>,
) -> ApiResult<Json<ServiceRouting>> {
    let region = region_id(&app, &slug)?;
    if !who.can_operate(region) {
        return Err(ApiError::forbidden());
    }
    let all = r
        .technicians
        .iter()
        .chain(r.escalation.iter())
        .chain(r.partners.values().flatten());
    let notifier = app.outbox.notifier();
    for c in all {
        c.validate().map_err(|m| ApiError::field("contacts", m))?;
        for (used, kind, what) in [
            (c.email.is_some(), ChannelKind::Email, "e-mail"),
            (c.phone.is_some(), ChannelKind::Sms, "SMS"),
            (c.webhook_url.is_some(), ChannelKind::Webhook, "webhooks"),
        ] {
            if used && !notifier.configured(kind) {
                return Err(ApiError::field(
                    "contacts",
                    format!(
                        "contact {:?}: {what} is not configured on this server",
                        c.name
                    ),
                ));
            }
        }
    }
    app.monitor.set_routing(&app, region, r.clone()).await?;
    audit(
        &app,
        &who,
        "monitoring.routing",
        Some(region),
        Some(slug),
        serde_json::Value::Null,
    )
    .await;
    Ok(Json(r))
}
