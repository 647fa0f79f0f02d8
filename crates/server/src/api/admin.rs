//! Operators and administrators: sign-in, regions, keys, volunteers, AEDs, audit.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use firstlink_domain::aed::{AedAccess, Readiness};
use firstlink_domain::ids::{AedId, RegionId, VolunteerId};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::{
    Aed, AedDetails, AedStatus, ApiKey, OperatorRole, Region, Session, SessionKind,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::types::{Location, opt_hours, opt_text, text};
use super::{AppState, Auth, Body, ClientIp, audit};
use crate::app::App;
use crate::auth::{Principal, new_api_key, random_secret, sha256_hex, verify_password};
use crate::error::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(operator_login))
        .routes(routes!(whoami))
        .routes(routes!(list_regions, create_region))
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(list_volunteers))
        .routes(routes!(manage_volunteer))
        .routes(routes!(list_aeds, upsert_aed))
        .routes(routes!(audit_log))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorLogin {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub whoami: WhoAmI,
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// `dispatch_key`, `dispatcher`, `operator`, `admin` or `volunteer`.
    pub role: String,
    pub name: String,
    /// Region slugs this caller may act on.
    pub regions: Vec<String>,
}

fn whoami_of(app: &App, p: &Principal) -> WhoAmI {
    let slugs = |ids: &[RegionId]| {
        ids.iter()
            .filter_map(|r| app.region(*r).map(|r| r.region.slug))
            .collect::<Vec<_>>()
    };
    match p {
        Principal::Dispatch { region, key_id } => WhoAmI {
            role: "dispatch_key".into(),
            name: key_id.clone(),
            regions: slugs(&[*region]),
        },
        Principal::Operator {
            username,
            role,
            regions,
            ..
        } => WhoAmI {
            role: role.as_str().into(),
            name: username.clone(),
            regions: if *role == OperatorRole::Admin {
                app.regions().into_iter().map(|r| r.region.slug).collect()
            } else {
                slugs(regions)
            },
        },
        Principal::Volunteer { id, region } => WhoAmI {
            role: "volunteer".into(),
            name: id.to_string(),
            regions: slugs(&[*region]),
        },
    }
}

/// Sign in as a dispatcher, operator or administrator.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "operator", request_body = OperatorLogin,
    responses((status = 200, body = OperatorSession), (status = 401, body = crate::error::ErrorBody), (status = 429)))]
pub async fn operator_login(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<OperatorLogin>,
) -> ApiResult<Json<OperatorSession>> {
    ip.limit(&app)?;
    let bad = || ApiError::unauthorized("wrong username or password");
    let o = app.store.operator_by_username(r.username.trim()).await?;
    let phc = o
        .as_ref()
        .map(|o| o.password_hash.clone())
        .unwrap_or_default();
    let pw = r.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
        .await
        .map_err(ApiError::internal)?;
    let o = o
        .filter(|o| ok && o.disabled_at.is_none())
        .ok_or_else(bad)?;
    let token = format!("flo_{}", random_secret());
    let now = app.now();
    let expires_at = now + Duration::hours(i64::from(app.config.operator_session_hours));
    app.store
        .create_session(&Session {
            token_hash: sha256_hex(&token),
            kind: SessionKind::Operator,
            subject: o.id,
            created_at: now,
            expires_at,
        })
        .await?;
    let p = Principal::Operator {
        id: o.id,
        username: o.username.clone(),
        role: o.role,
        regions: o.regions.clone(),
    };
    audit(
        &app,
        &p,
        "operator.login",
        None,
        None,
        serde_json::json!({}),
    )
    .await;
    Ok(Json(OperatorSession {
        token,
        expires_at,
        whoami: whoami_of(&app, &p),
    }))
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "operator", responses((status = 200, body = WhoAmI)), security(("bearer" = [])))]
pub async fn whoami(State(app): State<AppState>, Auth(who): Auth) -> Json<WhoAmI> {
    Json(whoami_of(&app, &who))
}

#[derive(Serialize, ToSchema)]
pub struct RegionView {
    pub id: RegionId,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub country: String,
    pub policy: String,
}

fn region_view(r: &Region) -> RegionView {
    RegionView {
        id: r.id,
        slug: r.slug.clone(),
        name: r.name.clone(),
        timezone: r.timezone.clone(),
        country: r.country.clone(),
        policy: r.policy.preset.clone(),
    }
}

/// Regions the caller may see (technicians: the regions they service, read only).
#[utoipa::path(get, path = "/api/v1/regions", tag = "operator", responses((status = 200, body = Vec<RegionView>)), security(("bearer" = [])))]
pub async fn list_regions(State(app): State<AppState>, Auth(who): Auth) -> Json<Vec<RegionView>> {
    Json(
        app.regions()
            .iter()
            .filter(|r| who.can_dispatch(r.region.id) || who.can_service(r.region.id))
            .map(|r| region_view(&r.region))
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegion {
    /// Lowercase letters, digits and dashes.
    pub slug: String,
    pub name: String,
    /// IANA time zone, e.g. Europe/Copenhagen.
    pub timezone: String,
    /// ISO 3166-1 alpha-2, e.g. DK.
    pub country: String,
    /// A preset: firstlink (default), heartrunner, hjertelober, goodsam.
    pub preset: Option<String>,
}

/// Validates and creates a region (also used by the admin command).
pub async fn create_region_checked(app: &std::sync::Arc<App>, r: NewRegion) -> ApiResult<Region> {
    let slug = r.slug.trim().to_string();
    if slug.is_empty()
        || slug.len() > 40
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ApiError::field(
            "slug",
            "1 to 40 lowercase letters, digits or dashes",
        ));
    }
    if r.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::field(
            "timezone",
            "must be an IANA time zone such as Europe/Copenhagen",
        ));
    }
    let country = r.country.trim().to_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ApiError::field(
            "country",
            "must be a two-letter ISO 3166 code",
        ));
    }
    let preset = r.preset.unwrap_or_else(|| "firstlink".into());
    let policy = DispatchPolicy::preset(&preset).ok_or_else(|| {
        ApiError::field(
            "preset",
            format!("must be one of {}", DispatchPolicy::PRESETS.join(", ")),
        )
    })?;
    let region = Region {
        id: RegionId::new(),
        slug,
        name: text("name", &r.name, 100)?,
        timezone: r.timezone,
        country,
        policy,
        created_at: app.now(),
    };
    app.store
        .create_region(&region)
        .await
        .map_err(|e| match e {
            firstlink_store::StoreError::Conflict(_) => {
                ApiError::conflict("conflict", "a region with this slug exists")
            }
            other => other.into(),
        })?;
    crate::changes::apply(app, vec![firstlink_store::Change::Region(region.id)]).await;
    Ok(region)
}

/// Create a region (administrators).
#[utoipa::path(post, path = "/api/v1/regions", tag = "operator", request_body = NewRegion,
    responses((status = 201, body = RegionView), (status = 403)), security(("bearer" = [])))]
pub async fn create_region(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(r): Body<NewRegion>,
) -> ApiResult<(StatusCode, Json<RegionView>)> {
    if !who.is_admin() {
        return Err(ApiError::forbidden());
    }
    let region = create_region_checked(&app, r).await?;
    audit(
        &app,
        &who,
        "region.create",
        Some(region.id),
        Some(region.slug.clone()),
        serde_json::json!({}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(region_view(&region))))
}

fn region_for_operator(app: &App, who: &Principal, slug: &str) -> ApiResult<Region> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(r.region)
}

/// The region's dispatch policy.
#[utoipa::path(get, path = "/api/v1/regions/{slug}/policy", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_policy(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<DispatchPolicy>> {
    let r = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_dispatch(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(r.region.policy))
}

/// Replace the region's dispatch policy (validated; running missions keep theirs).
#[utoipa::path(put, path = "/api/v1/regions/{slug}/policy", tag = "operator", params(("slug" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn put_policy(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(p): Body<DispatchPolicy>,
) -> ApiResult<Json<DispatchPolicy>> {
    let mut region = region_for_operator(&app, &who, &slug)?;
    p.validate()
        .map_err(|e| ApiError::field(e.field, e.to_string()))?;
    app.store.update_policy(region.id, &p).await?;
    region.policy = p.clone();
    crate::changes::apply(&app, vec![firstlink_store::Change::Region(region.id)]).await;
    audit(
        &app,
        &who,
        "region.policy",
        Some(region.id),
        Some(slug),
        serde_json::to_value(&p).unwrap_or_default(),
    )
    .await;
    Ok(Json(p))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The whole key: shown once, at creation.
    pub key: Option<String>,
}

/// Creates a dispatch API key (also used by the admin command).
pub async fn create_key_checked(
    app: &App,
    region: RegionId,
    name: &str,
) -> ApiResult<(ApiKey, String)> {
    let name = text("name", name, 100)?;
    let k = tokio::task::spawn_blocking(new_api_key)
        .await
        .map_err(ApiError::internal)??;
    let row = ApiKey {
        id: k.id,
        region_id: region,
        name,
        hash: k.hash,
        created_at: app.now(),
        revoked_at: None,
    };
    app.store.create_api_key(&row).await?;
    Ok((row, k.token))
}

/// Create a dispatch API key for a region (administrators).
#[utoipa::path(post, path = "/api/v1/regions/{slug}/api-keys", tag = "operator", params(("slug" = String, Path)), request_body = NewKey,
    responses((status = 201, body = KeyView), (status = 403)), security(("bearer" = [])))]
pub async fn create_key(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(r): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    if !who.is_admin() {
        return Err(ApiError::forbidden());
    }
    let region = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let (row, token) = create_key_checked(&app, region.region.id, &r.name).await?;
    audit(
        &app,
        &who,
        "api_key.create",
        Some(region.region.id),
        Some(row.id.clone()),
        serde_json::json!({ "name": row.name }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(KeyView {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            revoked_at: None,
            key: Some(token),
        }),
    ))
}

/// The region's API keys (never the secrets).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/api-keys", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<KeyView>)), security(("bearer" = [])))]
pub async fn list_keys(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<KeyView>>> {
    let region = region_for_operator(&app, &who, &slug)?;
    let keys = app.store.api_keys(region.id).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| KeyView {
                id: k.id,
                name: k.name,
                created_at: k.created_at,
                revoked_at: k.revoked_at,
                key: None,
            })
            .collect(),
    ))
}

/// Revoke an API key (administrators); it stops working at once.
#[utoipa::path(delete, path = "/api/v1/regions/{slug}/api-keys/{id}", tag = "operator", params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn revoke_key(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if !who.is_admin() {
        return Err(ApiError::forbidden());
    }
    let region = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let k = app
        .store
        .api_key(&id)
        .await?
        .filter(|k| k.region_id == region.region.id)
        .ok_or_else(|| ApiError::not_found("api key"))?;
    app.store.revoke_api_key(&k.id, app.now()).await?;
    app.tokens
        .forget(|p| matches!(p, Principal::Dispatch { key_id, .. } if *key_id == k.id));
    audit(
        &app,
        &who,
        "api_key.revoke",
        Some(region.region.id),
        Some(k.id),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct VolunteerQuery {
    pub region: String,
    /// Part of a name, phone or e-mail.
    pub q: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct VolunteerRow {
    pub id: VolunteerId,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub training_date: Option<chrono::NaiveDate>,
    pub verified: bool,
    pub suspended: bool,
    pub available: bool,
    pub eligible: bool,
    pub has_position: bool,
    pub on_mission: bool,
}

/// Search the region's volunteers (operators).
#[utoipa::path(get, path = "/api/v1/volunteers", tag = "operator", params(VolunteerQuery),
    responses((status = 200, body = Vec<VolunteerRow>)), security(("bearer" = [])))]
pub async fn list_volunteers(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<VolunteerQuery>,
) -> ApiResult<Json<Vec<VolunteerRow>>> {
    let region = region_for_operator(&app, &who, &q.region)?;
    let query = opt_text("q", q.q.as_deref(), 100)?;
    let vs = app
        .store
        .volunteers(
            Some(region.id),
            query.as_deref(),
            q.limit.unwrap_or(100).min(1_000),
        )
        .await?;
    let idx = app.index();
    Ok(Json(
        vs.iter()
            .map(|v| VolunteerRow {
                id: v.id,
                name: v.name.clone(),
                phone: v.phone.clone(),
                email: v.email.clone(),
                tier: v.tier,
                training_date: v.training_date,
                verified: v.verified_at.is_some(),
                suspended: v.suspended_at.is_some(),
                available: v.available,
                eligible: app.flags_of(v).eligible,
                has_position: idx.position(v.id).is_some(),
                on_mission: idx.is_busy(v.id),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerAction {
    /// Mark the contact as verified (e.g. after an ID check).
    pub verified: Option<bool>,
    /// Suspend or reinstate.
    pub suspended: Option<bool>,
    #[schema(value_type = Option<String>)]
    pub tier: Option<Tier>,
}

/// Verify, suspend or reinstate a volunteer, or change their tier (operators).
#[utoipa::path(patch, path = "/api/v1/volunteers/{id}", tag = "operator", params(("id" = VolunteerId, Path)), request_body = VolunteerAction,
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn manage_volunteer(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<VolunteerId>,
    Body(a): Body<VolunteerAction>,
) -> ApiResult<StatusCode> {
    let mut v = app
        .store
        .volunteer(id)
        .await?
        .ok_or_else(|| ApiError::not_found("volunteer"))?;
    if !who.can_operate(v.region_id) {
        return Err(ApiError::not_found("volunteer"));
    }
    let now = app.now();
    if let Some(x) = a.verified {
        v.verified_at = if x { v.verified_at.or(Some(now)) } else { None };
    }
    if let Some(s) = a.suspended {
        v.suspended_at = if s {
            v.suspended_at.or(Some(now))
        } else {
            None
        };
        if s {
            app.store.delete_sessions_of(v.id.0).await?;
            app.tokens
                .forget(|p| matches!(p, Principal::Volunteer { id, .. } if *id == v.id));
        }
    }
    if let Some(t) = a.tier {
        v.tier = t;
    }
    app.store.update_volunteer(&v).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
    audit(
        &app,
        &who,
        "volunteer.update",
        Some(v.region_id),
        Some(v.id.to_string()),
        serde_json::json!({ "verified": a.verified, "suspended": a.suspended }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct AedQuery {
    pub region: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AedWire {
    /// Omit to create. With the id of an AED of this region the record is
    /// merged: absent or null optional fields keep their value, `""` clears.
    pub id: Option<AedId>,
    pub name: String,
    pub location: Location,
    #[schema(value_type = String)]
    pub access: AedAccess,
    /// OpenStreetMap `opening_hours`, e.g. "Mo-Fr 08:00-17:00" or "24/7".
    pub opening_hours: Option<String>,
    #[schema(value_type = String)]
    pub status: AedStatus,
    #[schema(value_type = Option<String>)]
    pub readiness: Option<Readiness>,
    pub indoor: Option<bool>,
    pub level: Option<String>,
    /// Where it hangs: `[["en", "by the main entrance"], ...]`.
    pub location_desc: Option<Vec<(String, String)>>,
    pub locked: Option<bool>,
    /// Restricted.
    pub access_code: Option<String>,
    /// Restricted.
    pub owner_contact: Option<String>,
    /// Whether it is open right now (read only).
    pub open_now: Option<bool>,
    /// Which mission holds it (read only).
    pub claimed: Option<bool>,
}

/// The region's AEDs with restricted details (operators and dispatch;
/// technicians read them for the regions they service, without the owner's
/// contact).
#[utoipa::path(get, path = "/api/v1/aeds", tag = "operator", params(AedQuery),
    responses((status = 200, body = Vec<AedWire>)), security(("bearer" = [])))]
pub async fn list_aeds(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<AedQuery>,
) -> ApiResult<Json<Vec<AedWire>>> {
    let r = app
        .region_by_slug(&q.region)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let dispatches = who.can_dispatch(r.region.id);
    if !dispatches && !who.can_service(r.region.id) {
        return Err(ApiError::forbidden());
    }
    let now = app.now();
    let reg = app.aeds();
    let mut out: Vec<AedWire> = reg
        .all(Some(r.region.id))
        .map(|a| AedWire {
            id: Some(a.id),
            name: a.name.clone(),
            location: a.position.into(),
            access: a.access,
            opening_hours: a.opening_hours.clone(),
            status: a.status,
            readiness: Some(a.readiness),
            indoor: a.details.indoor,
            level: a.details.level.clone(),
            location_desc: Some(a.details.location_desc.clone()),
            locked: a.details.locked,
            access_code: a.details.access_code.clone(),
            owner_contact: if dispatches {
                a.details.owner_contact.clone()
            } else {
                None
            },
            open_now: reg.open_state(a.id, now).map(|s| s.0),
            claimed: Some(reg.claimed_by(a.id).is_some()),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

/// Create or update an AED (operators).
///
/// An update (an `id` of an AED of this region) is a merge: an absent or
/// null optional field keeps its stored value, an empty string (or an empty
/// `location_desc`) clears it, and every detail this wire type does not carry
/// (manufacturer, pad and battery expiry, owner reminders, review flags,
/// authorised responders, source, …) is kept as stored.
#[utoipa::path(post, path = "/api/v1/aeds", tag = "operator", params(AedQuery), request_body = AedWire,
    responses((status = 200, body = AedWire), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn upsert_aed(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<AedQuery>,
    Body(w): Body<AedWire>,
) -> ApiResult<Json<AedWire>> {
    let region = region_for_operator(&app, &who, &q.region)?;
    let position = w.location.validate("location")?;
    let existing = match w.id {
        Some(id) => app.store.aed(id).await?,
        None => None,
    };
    if existing.as_ref().is_some_and(|e| e.region_id != region.id) {
        // Another region's AED is not this operator's to see or overwrite.
        return Err(ApiError::not_found("aed"));
    }
    // Absent: keep what is stored; "" clears (opt_text maps it to None).
    let merge_text = |field: &str,
                      given: Option<&str>,
                      max: usize,
                      old: Option<String>|
     -> ApiResult<Option<String>> {
        match given {
            None => Ok(old),
            Some(s) => opt_text(field, Some(s), max),
        }
    };
    let old = existing.clone();
    let mut details = old
        .as_ref()
        .map(|e| e.details.clone())
        .unwrap_or_else(|| AedDetails {
            source: Some("manual".into()),
            ..Default::default()
        });
    details.indoor = w.indoor.or(details.indoor);
    details.level = merge_text("level", w.level.as_deref(), 20, details.level.take())?;
    if let Some(d) = &w.location_desc {
        details.location_desc = d.clone();
    }
    details.locked = w.locked.or(details.locked);
    details.access_code = merge_text(
        "access_code",
        w.access_code.as_deref(),
        50,
        details.access_code.take(),
    )?;
    details.owner_contact = merge_text(
        "owner_contact",
        w.owner_contact.as_deref(),
        200,
        details.owner_contact.take(),
    )?;
    let hours = match w.opening_hours.as_deref() {
        None => old.as_ref().and_then(|e| e.opening_hours.clone()),
        Some(h) => opt_hours("opening_hours", Some(h))?,
    };
    let a = Aed {
        id: w.id.unwrap_or_default(),
        region_id: region.id,
        name: text("name", &w.name, 200)?,
        position,
        access: w.access,
        opening_hours: hours,
        // A monitored AED's readiness is its unit's to say, not the form's.
        readiness: match w.id.filter(|id| app.monitor.unit_of(*id).is_some()) {
            Some(id) => app.aeds().get(id).map(|x| x.readiness).unwrap_or_default(),
            None => w
                .readiness
                .or(old.as_ref().map(|e| e.readiness))
                .unwrap_or_default(),
        },
        status: w.status,
        details,
        updated_at: app.now(),
    };
    app.store.upsert_aed(&a).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Aed(a.id)]).await;
    audit(
        &app,
        &who,
        "aed.upsert",
        Some(region.id),
        Some(a.id.to_string()),
        serde_json::json!({ "name": a.name, "update": existing.is_some() }),
    )
    .await;
    Ok(Json(AedWire {
        id: Some(a.id),
        name: a.name.clone(),
        location: a.position.into(),
        access: a.access,
        opening_hours: a.opening_hours.clone(),
        status: a.status,
        readiness: Some(a.readiness),
        indoor: a.details.indoor,
        level: a.details.level.clone(),
        location_desc: Some(a.details.location_desc.clone()),
        locked: a.details.locked,
        access_code: a.details.access_code.clone(),
        owner_contact: a.details.owner_contact.clone(),
        open_now: None,
        claimed: None,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    pub region: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub region: Option<String>,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

/// The audit log of dispatch and admin actions (administrators; operators for their region).
#[utoipa::path(get, path = "/api/v1/audit", tag = "operator", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>)), security(("bearer" = [])))]
pub async fn audit_log(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditView>>> {
    let region = match q.region.as_deref() {
        Some(s) => Some(region_for_operator(&app, &who, s)?.id),
        None if who.is_admin() => None,
        None => return Err(ApiError::forbidden()),
    };
    let rows = app
        .store
        .audit_log(region, q.limit.unwrap_or(100).min(1_000))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditView {
                at: e.at,
                actor: e.actor,
                action: e.action,
                region: e
                    .region_id
                    .and_then(|r| app.region(r))
                    .map(|r| r.region.slug),
                target: e.target,
                details: e.details,
            })
            .collect(),
    ))
}
