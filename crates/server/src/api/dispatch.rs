//! The dispatch API: what a CAD system and a dispatcher's console call.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::incident::{Exclusion, LocationType, NewIncident, limits};
use firstlink_domain::mission::{Alert, AlertState, Input, Mission, Role, Status};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::types::{Fix, Location, opt_text, text};
use super::{AppState, Auth, Body, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_incident, list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(cancel_incident))
        .routes(routes!(end_incident))
        .routes(routes!(message_responders))
}

/// A suspected cardiac arrest reported by a dispatch centre.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentRequest {
    /// The CAD's own incident id; posting it again returns the same incident.
    pub external_id: String,
    pub location: Location,
    /// Shown to volunteers only after they accept.
    pub address: String,
    /// When the call was taken.
    pub reported_at: DateTime<Utc>,
    #[schema(value_type = Option<String>, example = "residence")]
    /// `residence`, `public`, `care_facility` or `unknown` (default).
    pub location_type: Option<LocationType>,
    /// Seconds from `reported_at` until the ambulance is expected.
    pub ems_eta_seconds: Option<u32>,
    /// Reasons not to send lay volunteers: `patient_under_8`, `trauma`, `unsafe_scene`, `care_facility`, `do_not_resuscitate`.
    #[schema(value_type = Option<Vec<String>>)]
    pub exclusions: Option<Vec<Exclusion>>,
    /// Free text for responders (entrance, floor), shown after they accept.
    pub notes: Option<String>,
    /// A training or demo alert.
    pub test: Option<bool>,
    /// Only for operators who can act on several regions: the region's slug.
    pub region: Option<String>,
}

/// Region the caller acts for: a dispatch key has exactly one; an operator names one.
fn acting_region(app: &App, who: &Principal, slug: Option<&str>) -> ApiResult<RegionId> {
    let region = match (who, slug) {
        (Principal::Dispatch { region, .. }, None) => *region,
        (_, Some(s)) => {
            app.region_by_slug(s)
                .ok_or_else(|| ApiError::field("region", "no such region"))?
                .region
                .id
        }
        (Principal::Operator { regions, .. }, None) if regions.len() == 1 => regions[0],
        (Principal::Operator { .. }, None) => {
            return Err(ApiError::field("region", "name the region (its slug)"));
        }
        (Principal::Volunteer { .. }, None) => return Err(ApiError::forbidden()),
    };
    if !who.can_dispatch(region) {
        return Err(ApiError::forbidden());
    }
    Ok(region)
}

pub fn validate_incident(r: IncidentRequest, now: DateTime<Utc>) -> ApiResult<NewIncident> {
    let external_id = text("external_id", &r.external_id, limits::EXTERNAL_ID_MAX)?;
    let location = r.location.validate("location")?;
    let address = text("address", &r.address, limits::ADDRESS_MAX)?;
    if r.reported_at > now + Duration::minutes(5) {
        return Err(ApiError::field("reported_at", "is in the future"));
    }
    if let Some(s) = r.ems_eta_seconds
        && s > limits::EMS_ETA_MAX_S
    {
        return Err(ApiError::field(
            "ems_eta_seconds",
            format!("must be at most {}", limits::EMS_ETA_MAX_S),
        ));
    }
    let mut exclusions = r.exclusions.unwrap_or_default();
    if exclusions.len() > limits::EXCLUSIONS_MAX {
        return Err(ApiError::field(
            "exclusions",
            format!("at most {} entries", limits::EXCLUSIONS_MAX),
        ));
    }
    exclusions.dedup();
    Ok(NewIncident {
        external_id,
        location,
        address,
        reported_at: r.reported_at,
        location_type: r.location_type.unwrap_or_default(),
        ems_eta_seconds: r.ems_eta_seconds,
        exclusions,
        notes: opt_text("notes", r.notes.as_deref(), limits::NOTES_MAX)?,
        test: r.test.unwrap_or(false),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: IncidentId,
    /// False when an incident with this external id already existed.
    pub created: bool,
}

/// Report a suspected cardiac arrest.
///
/// Answers 201 once the incident is durably stored; alerting starts at once.
/// Posting the same `external_id` again answers 200 with the same id.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "dispatch", request_body = IncidentRequest,
    responses((status = 201, body = Created), (status = 200, body = Created, description = "already known"),
              (status = 400, body = crate::error::ErrorBody), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn create_incident(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(req): Body<IncidentRequest>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let region = acting_region(&app, &who, req.region.as_deref())?;
    let inc = validate_incident(req, app.now())?;
    let external = inc.external_id.clone();
    let (id, created) = app.missions.create(&app, region, inc).await?;
    if created {
        audit(
            &app,
            &who,
            "incident.create",
            Some(region),
            Some(id.to_string()),
            serde_json::json!({ "external_id": external }),
        )
        .await;
        tracing::info!(incident.id = %id, incident.external_id = %external, "incident received");
    }
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(Created { id, created }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only live missions (default true).
    pub live: Option<bool>,
    /// Region slug (operators of several regions).
    pub region: Option<String>,
    /// At most this many (default 50, max 500).
    pub limit: Option<u32>,
}

/// Incidents of the caller's region, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "dispatch", params(ListQuery),
    responses((status = 200, body = Vec<IncidentView>)), security(("bearer" = [])))]
pub async fn list_incidents(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<IncidentView>>> {
    let regions: Vec<RegionId> = match q.region.as_deref() {
        Some(s) => vec![acting_region(&app, &who, Some(s))?],
        None => match who.dispatch_regions() {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err(ApiError::forbidden()),
            None => app.regions().into_iter().map(|r| r.region.id).collect(),
        },
    };
    let limit = q.limit.unwrap_or(50).min(500);
    let mut out = Vec::new();
    for r in regions {
        let missions = if q.live.unwrap_or(true) {
            app.missions
                .live()
                .await
                .into_iter()
                .filter(|(reg, _)| *reg == r)
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
        } else {
            app.store
                .missions(r, false, limit)
                .await?
                .into_iter()
                .map(|s| s.mission)
                .collect()
        };
        for m in missions {
            out.push(view(&app, r, &m).await);
        }
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    out.truncate(limit as usize);
    Ok(Json(out))
}

/// One alerted volunteer as the dispatcher sees them.
#[derive(Serialize, ToSchema)]
pub struct ResponderView {
    pub volunteer_id: VolunteerId,
    /// Shown once they accepted, and only for the incident's own region's
    /// volunteers: a neighbour's responder is "responder of region …".
    pub name: Option<String>,
    /// The region (slug) the volunteer belongs to.
    pub region: Option<String>,
    /// alerted, declined, timed_out, accepted, en_route, at_aed, on_scene, handed_over, stood_down, out_of_range, left
    #[schema(value_type = String)]
    pub state: AlertState,
    pub wave: u32,
    pub alerted_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Walking distance to the patient when alerted, metres.
    pub distance_m: u32,
    /// `cpr` (straight to the patient) or `fetch_aed`.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub aed: Option<AedRef>,
    /// Estimated arrival at the patient, from the latest position.
    pub eta_at: Option<DateTime<Utc>>,
    /// Latest position, only once they accepted.
    pub position: Option<Fix>,
}

#[derive(Serialize, ToSchema)]
pub struct AedRef {
    pub id: AedId,
    pub name: String,
    pub location: Location,
    pub eta_at: DateTime<Utc>,
}

/// A mission as the dispatcher sees it.
#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    pub id: IncidentId,
    pub external_id: String,
    pub region: String,
    /// active, not_alerted, ended, cancelled
    #[schema(value_type = String)]
    pub status: Status,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub location: Location,
    pub address: String,
    #[schema(value_type = String)]
    pub location_type: LocationType,
    pub notes: Option<String>,
    pub test: bool,
    pub ems_eta_at: Option<DateTime<Utc>>,
    /// Current alert radius, metres.
    pub radius_m: f64,
    pub waves: u32,
    pub policy: String,
    pub counts: Counts,
    pub responders: Vec<ResponderView>,
}

#[derive(Serialize, ToSchema, Default)]
pub struct Counts {
    pub alerted: u32,
    pub pending: u32,
    pub accepted: u32,
    pub declined: u32,
    pub timed_out: u32,
    pub stood_down: u32,
}

fn fix_of(app: &App, v: VolunteerId) -> Option<Fix> {
    let (p, at) = app.index().position(v)?;
    Some(Fix {
        lat: p.lat,
        lon: p.lon,
        at: DateTime::from_timestamp(i64::from(at), 0)?,
    })
}

/// Estimated arrival at the patient from the latest position.
pub fn live_eta(app: &App, region: RegionId, m: &Mission, a: &Alert) -> Option<DateTime<Utc>> {
    let task = a.task.as_ref()?;
    if !a.state.responding() || a.state == AlertState::OnScene || a.state == AlertState::HandedOver
    {
        return Some(task.eta_at).filter(|_| a.state.responding());
    }
    let (pos, _) = app.index().position(a.volunteer)?;
    let walk = app.walk_for(region, m.policy.detour_factor);
    let speed = m.policy.speed_mps;
    let to = |from, to| walk.distance(from, to).unwrap_or(f64::INFINITY);
    let metres = match (&task.aed, a.state) {
        (Some(aed), AlertState::Accepted | AlertState::EnRoute) => {
            to(pos, aed.position)
                + to(aed.position, m.incident.location)
                + speed * f64::from(m.policy.aed_pickup_s)
        }
        _ => to(pos, m.incident.location),
    };
    metres
        .is_finite()
        .then(|| app.now() + Duration::milliseconds((metres / speed * 1000.0) as i64))
}

pub async fn view(app: &Arc<App>, region: RegionId, m: &Mission) -> IncidentView {
    let mut counts = Counts::default();
    let mut responders = Vec::with_capacity(m.alerts.len());
    for a in &m.alerts {
        counts.alerted += 1;
        match a.state {
            AlertState::Alerted => counts.pending += 1,
            AlertState::Declined => counts.declined += 1,
            AlertState::TimedOut => counts.timed_out += 1,
            AlertState::StoodDown => counts.stood_down += 1,
            s if s.responding() => counts.accepted += 1,
            _ => {}
        }
        let accepted = a.state.responding();
        let home = app.index().region_of(a.volunteer);
        let own = home == Some(region);
        let name = if accepted && own {
            app.store
                .volunteer(a.volunteer)
                .await
                .ok()
                .flatten()
                .map(|v| v.name)
        } else {
            None
        };
        responders.push(ResponderView {
            volunteer_id: a.volunteer,
            name,
            region: home.and_then(|r| app.region(r)).map(|r| r.region.slug),
            state: a.state,
            wave: a.wave,
            alerted_at: a.alerted_at,
            answered_at: a.answered_at,
            distance_m: a.walk_m.round() as u32,
            role: a.task.as_ref().map(|t| t.role),
            aed: a
                .task
                .as_ref()
                .and_then(|t| t.aed.as_ref())
                .map(|x| AedRef {
                    id: x.id,
                    name: x.name.clone(),
                    location: x.position.into(),
                    eta_at: x.eta_at,
                }),
            eta_at: if m.is_live() {
                live_eta(app, region, m, a)
            } else {
                None
            },
            position: if accepted && m.is_live() {
                fix_of(app, a.volunteer)
            } else {
                None
            },
        });
    }
    IncidentView {
        id: m.id,
        external_id: m.incident.external_id.clone(),
        region: app
            .region(region)
            .map(|r| r.region.slug)
            .unwrap_or_default(),
        status: m.status,
        status_reason: m.end_reason.clone(),
        created_at: m.created_at,
        ended_at: m.ended_at,
        location: m.incident.location.into(),
        address: m.incident.address.clone(),
        location_type: m.incident.location_type,
        notes: m.incident.notes.clone(),
        test: m.incident.test,
        ems_eta_at: m.ems_eta_at,
        radius_m: m.radius_m,
        waves: m.wave,
        policy: m.policy.preset.clone(),
        counts,
        responders,
    }
}

/// Loads a mission the caller may dispatch for.
async fn mission_for(app: &Arc<App>, who: &Principal, id: &str) -> ApiResult<(RegionId, Mission)> {
    let id: IncidentId = id.parse().map_err(|_| ApiError::not_found("incident"))?;
    let (region, m) = app.missions.get(app, id).await?;
    if !who.can_dispatch(region) {
        // Do not reveal that another region's incident exists.
        return Err(ApiError::not_found("incident"));
    }
    Ok((region, m))
}

/// Whether `who` may follow an incident of `region` because its volunteers
/// were alerted for it under a neighbour agreement (read only).
pub fn follows_as_neighbour(app: &App, who: &Principal, region: RegionId, m: &Mission) -> bool {
    if matches!(who, Principal::Volunteer { .. }) {
        return false;
    }
    let idx = app.index();
    app.dispatch_regions(region)
        .into_iter()
        .skip(1)
        .filter(|n| who.can_dispatch(*n))
        .any(|n| {
            m.alerts
                .iter()
                .any(|a| idx.region_of(a.volunteer) == Some(n))
        })
}

/// The mission as the dispatcher sees it.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "dispatch", params(("id" = String, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_incident(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentView>> {
    let parsed: IncidentId = id.parse().map_err(|_| ApiError::not_found("incident"))?;
    let (region, m) = app.missions.get(&app, parsed).await?;
    if !who.can_dispatch(region) && !follows_as_neighbour(&app, &who, region, &m) {
        return Err(ApiError::not_found("incident"));
    }
    Ok(Json(view(&app, region, &m).await))
}

/// A correction from the dispatch centre.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    pub location: Option<Location>,
    pub address: Option<String>,
    /// Seconds from now until the ambulance arrives.
    pub ems_eta_seconds: Option<u32>,
    pub notes: Option<String>,
}

/// Correct the location or address, or give a new ambulance ETA.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "dispatch", params(("id" = String, Path)), request_body = IncidentUpdate,
    responses((status = 200, body = IncidentView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_incident(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    Body(u): Body<IncidentUpdate>,
) -> ApiResult<Json<IncidentView>> {
    let (region, m) = mission_for(&app, &who, &id).await?;
    let location = u.location.map(|l| l.validate("location")).transpose()?;
    // A corrected location must still lie in the region, as a new one must.
    if let (Some(p), Some(rt)) = (location, app.region(region))
        && !rt.partition.takes(p)
    {
        return Err(firstlink_runtime::missions::InputError::OutsideRegion {
            region: rt.region.slug.clone(),
            margin_m: rt.partition.margin_m(),
        }
        .into());
    }
    let address = opt_text("address", u.address.as_deref(), limits::ADDRESS_MAX)?;
    let notes = opt_text("notes", u.notes.as_deref(), limits::NOTES_MAX)?;
    if u.ems_eta_seconds.is_some_and(|s| s > limits::EMS_ETA_MAX_S) {
        return Err(ApiError::field(
            "ems_eta_seconds",
            format!("must be at most {}", limits::EMS_ETA_MAX_S),
        ));
    }
    let input = Input::Update {
        location,
        address,
        ems_eta_seconds: u.ems_eta_seconds,
        notes,
    };
    let (_, m2, _) = app.missions.input(&app, m.id, input).await?;
    audit(
        &app,
        &who,
        "incident.update",
        Some(region),
        Some(m.id.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(Json(view(&app, region, &m2).await))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

async fn finish(
    app: &AppState,
    who: &Principal,
    id: &str,
    reason: Option<Reason>,
    cancel: bool,
) -> ApiResult<Json<IncidentView>> {
    let (region, m) = mission_for(app, who, id).await?;
    let reason = opt_text("reason", reason.unwrap_or_default().reason.as_deref(), 500)?;
    let input = if cancel {
        Input::Cancel { reason }
    } else {
        Input::End { reason }
    };
    let (_, m2, _) = app.missions.input(app, m.id, input).await?;
    let action = if cancel {
        "incident.cancel"
    } else {
        "incident.end"
    };
    audit(
        app,
        who,
        action,
        Some(region),
        Some(m.id.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(Json(view(app, region, &m2).await))
}

/// Cancel: the dispatch centre withdraws the alert (not a cardiac arrest, wrong address…).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/cancel", tag = "dispatch", params(("id" = String, Path)), request_body = Option<Reason>,
    responses((status = 200, body = IncidentView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn cancel_incident(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<IncidentView>> {
    finish(&app, &who, &id, super::parse_optional(&body)?, true).await
}

/// End: the ambulance has taken over; responders are thanked and released.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/end", tag = "dispatch", params(("id" = String, Path)), request_body = Option<Reason>,
    responses((status = 200, body = IncidentView), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn end_incident(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<IncidentView>> {
    finish(&app, &who, &id, super::parse_optional(&body)?, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// At most 280 characters.
    pub text: String,
}

/// Send a short message to every responder of the mission.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/messages", tag = "dispatch", params(("id" = String, Path)), request_body = MessageRequest,
    responses((status = 202), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn message_responders(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    Body(req): Body<MessageRequest>,
) -> ApiResult<StatusCode> {
    let (region, m) = mission_for(&app, &who, &id).await?;
    let text = text("text", &req.text, 280)?;
    app.missions
        .input(&app, m.id, Input::Message { text })
        .await?;
    audit(
        &app,
        &who,
        "incident.message",
        Some(region),
        Some(m.id.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::ACCEPTED)
}
