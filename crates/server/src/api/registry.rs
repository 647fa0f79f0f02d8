//! AED registry endpoints: the public map feed, operator review, health,
//! owner confirmation and fetch-and-return.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use firstlink_domain::aed::AedAccess;
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::AedId;
use firstlink_registry::health::Health;
use firstlink_store::{Aed, AedReviewFlag, AedStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::types::{opt_hours, opt_text, text};
use super::{AppState, Auth, Body, ClientIp, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// Most features in one public answer.
const PUBLIC_LIMIT: usize = 50_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public_aeds))
        .routes(routes!(registry_health))
        .routes(routes!(review_queue))
        .routes(routes!(approve_aed))
        .routes(routes!(merge_aed))
        .routes(routes!(confirm_aed))
        .routes(routes!(owner_confirm))
        .routes(routes!(owner_register))
        .routes(routes!(get_responders, put_responders))
        .routes(routes!(owner_edit))
        .routes(routes!(get_reminder_policy, put_reminder_policy))
        .routes(routes!(returned_aed))
}

/// The page an owner's reminder links to: the record as the public sees it
/// and one button. Plain HTML, no script; the token is the credential.
pub async fn owner_confirm_page(
    State(app): State<AppState>,
    Path((id, token)): Path<(AedId, String)>,
) -> Response {
    let Ok(Some(a)) = app.store.aed(id).await else {
        return owner_page(axum::http::StatusCode::NOT_FOUND, "This link is not valid.");
    };
    if !matches!(
        crate::owner_reminders::token_matches(&app, &a, &token).await,
        Ok(true)
    ) {
        return owner_page(
            axum::http::StatusCode::NOT_FOUND,
            "This link is not valid any more: the record was confirmed since, or the link is wrong.",
        );
    }
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body = format!(
        "<h1>{}</h1><p>Hours: {}<br>Pads expire: {}<br>Battery expires: {}</p>\
         <form method=\"post\" action=\"/api/v1/public/aeds/{id}/confirm\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\">The details are right — confirm</button></form>\
         <p>If something is wrong, reply to the message you received.</p>",
        esc(&a.name),
        esc(a.opening_hours.as_deref().unwrap_or("unknown")),
        a.details
            .pad_expiry
            .map_or("unknown".into(), |d| d.to_string()),
        a.details
            .battery_expiry
            .map_or("unknown".into(), |d| d.to_string()),
        esc(&token),
    );
    owner_page(axum::http::StatusCode::OK, &body)
}

fn owner_page(status: axum::http::StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Confirm your AED — firstlink</title><body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">{body}</body></html>"
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

#[derive(Deserialize, ToSchema)]
pub struct OwnerConfirmation {
    /// The token from the reminder's link.
    pub token: String,
}

/// An owner confirms the AED's record with the token from a reminder (no
/// account needed): a form post from the reminder page, or JSON.
#[utoipa::path(post, path = "/api/v1/public/aeds/{id}/confirm", tag = "public", params(("id" = AedId, Path)), request_body = OwnerConfirmation,
    responses((status = 200), (status = 404, body = crate::error::ErrorBody)))]
pub async fn owner_confirm(
    State(app): State<AppState>,
    ip: ClientIp,
    Path(id): Path<AedId>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    ip.limit(&app)?;
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let c: OwnerConfirmation = if form {
        form_token(&body).ok_or_else(|| ApiError::field("token", "missing"))?
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::field("token", e.to_string()))?
    };
    let mut a = app
        .store
        .aed(id)
        .await?
        .ok_or_else(|| ApiError::not_found("aed"))?;
    if !crate::owner_reminders::token_matches(&app, &a, &c.token).await? {
        return Err(ApiError::not_found("aed"));
    }
    let now = app.now();
    a.details.last_confirmed_at = Some(now);
    let region = a.region_id;
    save(&app, a).await?;
    let e = firstlink_store::AuditEntry {
        at: now,
        actor: "owner-link".into(),
        action: "aed.confirm".into(),
        region_id: Some(region),
        target: Some(id.to_string()),
        details: json!({}),
    };
    app.store.audit(&e).await?;
    Ok(if form {
        owner_page(
            axum::http::StatusCode::OK,
            "<h1>Thank you</h1><p>The record is confirmed. Volunteers can rely on it.</p>",
        )
    } else {
        Json(json!({ "id": id, "last_confirmed_at": now })).into_response()
    })
}

/// `token=…` from a form body (tokens are base64url, which forms send as is).
fn form_token(body: &[u8]) -> Option<OwnerConfirmation> {
    let s = std::str::from_utf8(body).ok()?;
    s.split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(|t| OwnerConfirmation {
            token: t.to_string(),
        })
}

/// The region's owner-reminder rules (operators).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/reminders", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_reminder_policy(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<firstlink_registry::reminders::ReminderPolicy>> {
    let r = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(
        crate::owner_reminders::policy(&app, r.region.id).await?,
    ))
}

/// Set the region's owner-reminder rules: confirmation intervals, reminders, escalation, deactivation.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/reminders", tag = "operator", params(("slug" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_reminder_policy(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(p): Body<firstlink_registry::reminders::ReminderPolicy>,
) -> ApiResult<Json<firstlink_registry::reminders::ReminderPolicy>> {
    let r = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    if p.confirm_months_limited == 0
        || p.confirm_months_always == 0
        || p.confirm_months_limited > 120
        || p.confirm_months_always > 120
    {
        return Err(ApiError::field(
            "confirm_months",
            "between 1 and 120 months",
        ));
    }
    if p.reminder_interval_days < 1
        || p.remind_before_days < 0
        || p.consumable_warn_days < 0
        || p.max_reminders > 20
    {
        return Err(ApiError::field(
            "reminders",
            "intervals must be positive and at most 20 reminders",
        ));
    }
    if p.deactivate_after_days.is_some_and(|d| d < 1) {
        return Err(ApiError::field(
            "deactivate_after_days",
            "at least 1 day, or null for never",
        ));
    }
    crate::owner_reminders::set_policy(&app, r.region.id, &p).await?;
    audit(
        &app,
        &who,
        "region.reminders",
        Some(r.region.id),
        Some(slug),
        serde_json::to_value(&p).unwrap_or_default(),
    )
    .await;
    Ok(Json(p))
}

#[derive(Deserialize, IntoParams)]
pub struct PublicQuery {
    /// Region slug; all regions when absent.
    pub region: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat` (GeoJSON order).
    pub bbox: Option<String>,
    /// Only AEDs open right now.
    pub open_now: Option<bool>,
    /// Preferred language for `description`.
    pub lang: Option<String>,
}

fn parse_bbox(s: &str) -> ApiResult<(f64, f64, f64, f64)> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::field(
                "bbox",
                "expected four numbers: min_lon,min_lat,max_lon,max_lat",
            )
        })?;
    let [a, b, c, d] = v[..] else {
        return Err(ApiError::field(
            "bbox",
            "expected four numbers: min_lon,min_lat,max_lon,max_lat",
        ));
    };
    if LatLon::new(b, a).is_err() || LatLon::new(d, c).is_err() || a > c || b > d {
        return Err(ApiError::field(
            "bbox",
            "corners out of range or in the wrong order (min_lon,min_lat,max_lon,max_lat)",
        ));
    }
    Ok((a, b, c, d))
}

/// Who the public may know about: active and usable by the public or by customers.
fn is_public(a: &Aed) -> bool {
    a.status == AedStatus::Active && matches!(a.access, AedAccess::Public | AedAccess::Customers)
}

/// Public AEDs as a GeoJSON FeatureCollection for a public map: no restricted
/// fields. `open_now` is null when the hours are unknown; `next_change` is the
/// closing time of an open AED and the next opening of a closed one.
#[utoipa::path(get, path = "/api/v1/public/aeds", tag = "public", params(PublicQuery),
    responses((status = 200, description = "GeoJSON FeatureCollection", body = Object, content_type = "application/geo+json"),
        (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn public_aeds(
    State(app): State<AppState>,
    ip: ClientIp,
    Query(q): Query<PublicQuery>,
) -> ApiResult<Response> {
    ip.limit(&app)?;
    let region = match &q.region {
        Some(slug) => Some(
            app.region_by_slug(slug)
                .ok_or_else(|| ApiError::not_found("region"))?
                .region
                .id,
        ),
        None => None,
    };
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let now = app.now();
    let reg = app.aeds();
    let mut list: Vec<&Aed> = reg
        .all(region)
        .filter(|a| is_public(a))
        .filter(|a| {
            bbox.is_none_or(|(x0, y0, x1, y1)| {
                (x0..=x1).contains(&a.position.lon) && (y0..=y1).contains(&a.position.lat)
            })
        })
        .collect();
    list.sort_by_key(|a| a.id);
    let mut features = Vec::new();
    for a in list {
        let state = reg.open_state(a.id, now);
        if q.open_now == Some(true) && !state.is_some_and(|s| s.0) {
            continue;
        }
        let d = &a.details;
        let description = q
            .lang
            .as_deref()
            .and_then(|l| d.location_desc.iter().find(|(x, _)| x == l))
            .or(d.location_desc.first())
            .map(|(_, s)| s.clone());
        features.push(json!({
            "type": "Feature",
            "id": a.id,
            "geometry": { "type": "Point", "coordinates": [a.position.lon, a.position.lat] },
            "properties": {
                "name": a.name,
                "open_now": state.map(|s| s.0),
                "next_change": state.and_then(|s| s.1),
                "opening_hours": a.opening_hours,
                "access": a.access,
                "indoor": d.indoor,
                "level": d.level,
                "description": description,
            }
        }));
        if features.len() >= PUBLIC_LIMIT {
            break;
        }
    }
    drop(reg);
    let body = json!({ "type": "FeatureCollection", "features": features });
    Ok(([(CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct RegionQuery {
    pub region: String,
}

fn operated_region(app: &App, who: &Principal, slug: &str) -> ApiResult<firstlink_store::Region> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(r.region)
}

/// Registry health: share confirmed recently, expiring consumables, unknown hours.
#[utoipa::path(get, path = "/api/v1/aeds/health", tag = "operator", params(RegionQuery),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn registry_health(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
) -> ApiResult<Json<Health>> {
    let r = operated_region(&app, &who, &q.region)?;
    let list: Vec<Aed> = app.aeds().all(Some(r.id)).cloned().collect();
    Ok(Json(firstlink_registry::health::health(
        &list,
        app.now(),
        365,
        60,
    )))
}

#[derive(Serialize, ToSchema)]
pub struct ReviewItem {
    pub id: AedId,
    pub name: String,
    #[schema(value_type = String)]
    pub status: AedStatus,
    pub source: Option<String>,
    pub source_id: Option<String>,
    pub hours_error: Option<String>,
    /// `moved`, `duplicate` or `new_registration` with their details.
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<AedReviewFlag>,
}

/// Records waiting for an operator: pending review or flagged by a sync.
#[utoipa::path(get, path = "/api/v1/aeds/review", tag = "operator", params(RegionQuery),
    responses((status = 200, body = Vec<ReviewItem>)), security(("bearer" = [])))]
pub async fn review_queue(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
) -> ApiResult<Json<Vec<ReviewItem>>> {
    let r = operated_region(&app, &who, &q.region)?;
    let mut out: Vec<ReviewItem> = app
        .aeds()
        .all(Some(r.id))
        .filter(|a| {
            a.status == AedStatus::PendingReview
                || (a.status != AedStatus::Removed && !a.details.review.is_empty())
        })
        .map(|a| ReviewItem {
            id: a.id,
            name: a.name.clone(),
            status: a.status,
            source: a.details.source.clone(),
            source_id: a.details.source_id.clone(),
            hours_error: a.details.hours_error.clone(),
            flags: a.details.review.clone(),
        })
        .collect();
    out.sort_by_key(|i| i.id);
    Ok(Json(out))
}

async fn load_for_operator(app: &App, who: &Principal, id: AedId) -> ApiResult<Aed> {
    let a = app
        .store
        .aed(id)
        .await?
        .ok_or_else(|| ApiError::not_found("aed"))?;
    if !who.can_operate(a.region_id) {
        return Err(ApiError::not_found("aed"));
    }
    Ok(a)
}

async fn save(app: &std::sync::Arc<App>, a: Aed) -> ApiResult<()> {
    app.store.upsert_aed(&a).await?;
    crate::changes::apply(app, vec![firstlink_store::Change::Aed(a.id)]).await;
    Ok(())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// Move the AED to the position a sync reported (default false: keep it).
    #[serde(default)]
    pub accept_move: bool,
}

/// Approve a record: it becomes active and its review flags are cleared.
#[utoipa::path(post, path = "/api/v1/aeds/{id}/approve", tag = "operator", params(("id" = AedId, Path)), request_body = Approve,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn approve_aed(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
    Body(b): Body<Approve>,
) -> ApiResult<Json<Value>> {
    let mut a = load_for_operator(&app, &who, id).await?;
    if b.accept_move
        && let Some(AedReviewFlag::Moved { lat, lon, .. }) = a
            .details
            .review
            .iter()
            .find(|f| matches!(f, AedReviewFlag::Moved { .. }))
    {
        a.position =
            LatLon::new(*lat, *lon).map_err(|e| ApiError::field("accept_move", e.to_string()))?;
    }
    a.details.review.clear();
    a.status = AedStatus::Active;
    a.updated_at = app.now();
    let (region, pos) = (a.region_id, a.position);
    save(&app, a).await?;
    audit(
        &app,
        &who,
        "aed.approve",
        Some(region),
        Some(id.to_string()),
        json!({ "accept_move": b.accept_move }),
    )
    .await;
    Ok(Json(
        json!({ "id": id, "status": "active", "location": { "lat": pos.lat, "lon": pos.lon } }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The record that stays.
    pub into: AedId,
}

/// Merge a duplicate into another record: this one is marked removed.
#[utoipa::path(post, path = "/api/v1/aeds/{id}/merge", tag = "operator", params(("id" = AedId, Path)), request_body = Merge,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn merge_aed(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
    Body(m): Body<Merge>,
) -> ApiResult<Json<Value>> {
    if m.into == id {
        return Err(ApiError::field(
            "into",
            "an AED cannot be merged into itself",
        ));
    }
    let mut dup = load_for_operator(&app, &who, id).await?;
    let mut keep = load_for_operator(&app, &who, m.into).await?;
    if keep.region_id != dup.region_id || keep.status == AedStatus::Removed {
        return Err(ApiError::field(
            "into",
            "must be a live AED of the same region",
        ));
    }
    // Keep what only the duplicate knew.
    let (k, d) = (&mut keep.details, &dup.details);
    macro_rules! fill {
        ($($f:ident),*) => { $( if k.$f.is_none() { k.$f.clone_from(&d.$f); } )* };
    }
    fill!(
        indoor,
        level,
        locked,
        access_code,
        owner_contact,
        owner_name,
        manufacturer,
        model,
        serial,
        pad_expiry,
        battery_expiry,
        last_maintenance,
        last_confirmed_at
    );
    if keep.opening_hours.is_none() {
        keep.opening_hours.clone_from(&dup.opening_hours);
    }
    keep.details
        .review
        .retain(|f| !matches!(f, AedReviewFlag::Duplicate { of, .. } if *of == id));
    let now = app.now();
    keep.updated_at = now;
    dup.status = AedStatus::Removed;
    dup.details.review.clear();
    dup.updated_at = now;
    let region = dup.region_id;
    app.store.upsert_aeds(&[keep.clone(), dup.clone()]).await?;
    crate::changes::apply(
        &app,
        vec![
            firstlink_store::Change::Aed(keep.id),
            firstlink_store::Change::Aed(dup.id),
        ],
    )
    .await;
    audit(
        &app,
        &who,
        "aed.merge",
        Some(region),
        Some(id.to_string()),
        json!({ "into": m.into }),
    )
    .await;
    Ok(Json(json!({ "id": id, "merged_into": m.into })))
}

/// The owner (or an operator on their behalf) confirms the record is right.
#[utoipa::path(post, path = "/api/v1/aeds/{id}/confirm", tag = "operator", params(("id" = AedId, Path)),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn confirm_aed(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
) -> ApiResult<Json<Value>> {
    let mut a = load_for_operator(&app, &who, id).await?;
    let now = app.now();
    a.details.last_confirmed_at = Some(now);
    a.updated_at = now;
    let region = a.region_id;
    save(&app, a).await?;
    audit(
        &app,
        &who,
        "aed.confirm",
        Some(region),
        Some(id.to_string()),
        json!({}),
    )
    .await;
    Ok(Json(json!({ "id": id, "last_confirmed_at": now })))
}

/// Fetch and return: the AED is back in its cabinet and available again. The
/// responder who took it or an operator of its region may say so.
#[utoipa::path(post, path = "/api/v1/aeds/{id}/returned", tag = "volunteer", params(("id" = AedId, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn returned_aed(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
) -> ApiResult<axum::http::StatusCode> {
    let (region, out) = {
        let reg = app.aeds();
        let a = reg.get(id).ok_or_else(|| ApiError::not_found("aed"))?;
        (a.region_id, reg.out_for_return(id))
    };
    let allowed = match &who {
        Principal::Volunteer { id: v, .. } => out.is_some_and(|o| o.volunteer == *v),
        p => p.can_operate(region),
    };
    if !allowed {
        return Err(ApiError::not_found("aed"));
    }
    if !app.aeds_mut().returned(id) {
        return Err(ApiError::conflict(
            "not_out",
            "this AED is not waiting to be returned",
        ));
    }
    if let Some(mut a) = app.store.aed(id).await? {
        a.details.out_for_return = None;
        app.store.upsert_aed(&a).await?;
    }
    audit(
        &app,
        &who,
        "aed.returned",
        Some(region),
        Some(id.to_string()),
        json!({}),
    )
    .await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// An owner's registration of an AED (no account: the contact is the credential).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerRegistration {
    /// Region slug.
    pub region: String,
    pub name: String,
    pub location: super::types::Location,
    #[schema(value_type = String)]
    pub access: AedAccess,
    /// OpenStreetMap `opening_hours`, e.g. "Mo-Fr 08:00-17:00" or "24/7".
    pub opening_hours: Option<String>,
    pub indoor: Option<bool>,
    pub level: Option<String>,
    /// Where it hangs: `[["da", "ved indgangen"], ["en", "by the entrance"]]`.
    pub location_desc: Option<Vec<(String, String)>>,
    pub locked: Option<bool>,
    /// Shown only to operators, dispatch and a responder sent to it.
    pub access_code: Option<String>,
    pub owner_name: String,
    /// E-mail address or phone number (E.164); the link to manage the AED goes there.
    pub owner_contact: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub pad_expiry: Option<chrono::NaiveDate>,
    pub battery_expiry: Option<chrono::NaiveDate>,
}

/// Register an AED as its owner: it waits for an operator's review, and the
/// owner's contact receives a link to check and change it.
#[utoipa::path(post, path = "/api/v1/public/aeds/register", tag = "public", request_body = OwnerRegistration,
    responses((status = 202, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn owner_register(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<OwnerRegistration>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    ip.limit(&app)?;
    let rt = app
        .region_by_slug(&r.region)
        .ok_or_else(|| ApiError::field("region", "no such region"))?;
    let contact = text("owner_contact", &r.owner_contact, 200)?;
    if crate::owner_reminders::owner_recipient(Some(&contact)).is_none() {
        return Err(ApiError::field(
            "owner_contact",
            "an e-mail address or a phone number in international form (+45…)",
        ));
    }
    let hours = opt_hours("opening_hours", r.opening_hours.as_deref())?;
    let now = app.now();
    let a = Aed {
        id: AedId::new(),
        region_id: rt.region.id,
        name: text("name", &r.name, 200)?,
        position: r.location.validate("location")?,
        access: r.access,
        opening_hours: hours,
        readiness: firstlink_domain::aed::Readiness::Unmonitored,
        status: AedStatus::PendingReview,
        details: firstlink_store::AedDetails {
            indoor: r.indoor,
            level: opt_text("level", r.level.as_deref(), 20)?,
            location_desc: descriptions(r.location_desc)?,
            locked: r.locked,
            access_code: opt_text("access_code", r.access_code.as_deref(), 50)?,
            owner_contact: Some(contact),
            owner_name: Some(text("owner_name", &r.owner_name, 200)?),
            manufacturer: opt_text("manufacturer", r.manufacturer.as_deref(), 100)?,
            model: opt_text("model", r.model.as_deref(), 100)?,
            pad_expiry: r.pad_expiry,
            battery_expiry: r.battery_expiry,
            last_confirmed_at: Some(now),
            source: Some("owner".into()),
            review: vec![AedReviewFlag::NewRegistration],
            ..Default::default()
        },
        updated_at: now,
    };
    save(&app, a.clone()).await?;
    crate::owner_reminders::message_owner(&app, &a, "registered", "0").await?;
    let e = firstlink_store::AuditEntry {
        at: now,
        actor: "owner-link".into(),
        action: "aed.register".into(),
        region_id: Some(a.region_id),
        target: Some(a.id.to_string()),
        details: json!({ "name": a.name }),
    };
    app.store.audit(&e).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({ "id": a.id, "status": "pending_review" })),
    ))
}

fn descriptions(d: Option<Vec<(String, String)>>) -> ApiResult<Vec<(String, String)>> {
    let d = d.unwrap_or_default();
    if d.len() > 10 {
        return Err(ApiError::field("location_desc", "at most 10 languages"));
    }
    d.into_iter()
        .map(|(l, t)| {
            Ok((
                text("location_desc.lang", &l, 10)?,
                text("location_desc.text", &t, 500)?,
            ))
        })
        .collect()
}

/// An owner's changes, authorised by the token from their link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerEdit {
    pub token: String,
    pub name: Option<String>,
    /// A new position more than 5 m away goes to an operator's review; the
    /// stored position stays until then.
    pub location: Option<super::types::Location>,
    pub opening_hours: Option<String>,
    pub indoor: Option<bool>,
    pub level: Option<String>,
    pub location_desc: Option<Vec<(String, String)>>,
    pub locked: Option<bool>,
    pub access_code: Option<String>,
    pub pad_expiry: Option<chrono::NaiveDate>,
    pub battery_expiry: Option<chrono::NaiveDate>,
}

/// The owner changes the AED's details (this also confirms the record).
#[utoipa::path(put, path = "/api/v1/public/aeds/{id}", tag = "public", params(("id" = AedId, Path)), request_body = OwnerEdit,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn owner_edit(
    State(app): State<AppState>,
    ip: ClientIp,
    Path(id): Path<AedId>,
    Body(e): Body<OwnerEdit>,
) -> ApiResult<Json<Value>> {
    ip.limit(&app)?;
    let mut a = app
        .store
        .aed(id)
        .await?
        .ok_or_else(|| ApiError::not_found("aed"))?;
    if !crate::owner_reminders::token_matches(&app, &a, &e.token).await? {
        return Err(ApiError::not_found("aed"));
    }
    if let Some(n) = e.name {
        a.name = text("name", &n, 200)?;
    }
    if let Some(h) = e.opening_hours {
        a.opening_hours = opt_hours("opening_hours", Some(&h))?;
        a.details.hours_error = None;
    }
    if let Some(l) = e.location {
        let p = l.validate("location")?;
        let d = a.position.distance_m(p);
        if d > 5.0 {
            a.details
                .review
                .retain(|f| !matches!(f, AedReviewFlag::Moved { .. }));
            a.details.review.push(AedReviewFlag::Moved {
                lat: p.lat,
                lon: p.lon,
                distance_m: d,
                source: Some("owner".into()),
            });
        }
    }
    let d = &mut a.details;
    if e.indoor.is_some() {
        d.indoor = e.indoor;
    }
    if let Some(l) = e.level {
        d.level = opt_text("level", Some(&l), 20)?;
    }
    if e.location_desc.is_some() {
        d.location_desc = descriptions(e.location_desc)?;
    }
    if e.locked.is_some() {
        d.locked = e.locked;
    }
    if let Some(c) = e.access_code {
        d.access_code = opt_text("access_code", Some(&c), 50)?;
    }
    if e.pad_expiry.is_some() {
        d.pad_expiry = e.pad_expiry;
    }
    if e.battery_expiry.is_some() {
        d.battery_expiry = e.battery_expiry;
    }
    let now = app.now();
    d.last_confirmed_at = Some(now);
    a.updated_at = now;
    let region = a.region_id;
    let pending_move = a
        .details
        .review
        .iter()
        .any(|f| matches!(f, AedReviewFlag::Moved { .. }));
    save(&app, a).await?;
    let entry = firstlink_store::AuditEntry {
        at: now,
        actor: "owner-link".into(),
        action: "aed.owner_edit".into(),
        region_id: Some(region),
        target: Some(id.to_string()),
        details: json!({}),
    };
    app.store.audit(&entry).await?;
    Ok(Json(
        json!({ "id": id, "last_confirmed_at": now, "move_pending_review": pending_move }),
    ))
}

/// Volunteers authorised to use a non-public AED.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedResponders {
    #[schema(value_type = Vec<String>)]
    pub volunteers: Vec<firstlink_domain::ids::VolunteerId>,
}

/// Who besides the public may be sent to this AED (operators).
#[utoipa::path(get, path = "/api/v1/aeds/{id}/responders", tag = "operator", params(("id" = AedId, Path)),
    responses((status = 200, body = AuthorizedResponders), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_responders(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
) -> ApiResult<Json<AuthorizedResponders>> {
    let a = load_for_operator(&app, &who, id).await?;
    Ok(Json(AuthorizedResponders {
        volunteers: a.details.authorized_responders,
    }))
}

/// Authorise volunteers (e.g. staff of the place) for a non-public AED: dispatch may send them to it.
#[utoipa::path(put, path = "/api/v1/aeds/{id}/responders", tag = "operator", params(("id" = AedId, Path)), request_body = AuthorizedResponders,
    responses((status = 200, body = AuthorizedResponders), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_responders(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<AedId>,
    Body(r): Body<AuthorizedResponders>,
) -> ApiResult<Json<AuthorizedResponders>> {
    let mut a = load_for_operator(&app, &who, id).await?;
    if r.volunteers.len() > 1_000 {
        return Err(ApiError::field("volunteers", "at most 1000"));
    }
    for (i, v) in r.volunteers.iter().enumerate() {
        let ok = app
            .store
            .volunteer(*v)
            .await?
            .is_some_and(|x| x.region_id == a.region_id);
        if !ok {
            return Err(ApiError::field(
                format!("volunteers[{i}]"),
                "no such volunteer in this AED's region",
            ));
        }
    }
    let mut vs = r.volunteers;
    vs.sort();
    vs.dedup();
    a.details.authorized_responders = vs.clone();
    let region = a.region_id;
    save(&app, a).await?;
    audit(
        &app,
        &who,
        "aed.responders",
        Some(region),
        Some(id.to_string()),
        json!({ "count": vs.len() }),
    )
    .await;
    Ok(Json(AuthorizedResponders { volunteers: vs }))
}
