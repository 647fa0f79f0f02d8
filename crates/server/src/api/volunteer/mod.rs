//! The volunteer API: what the phone app calls. This file holds sign-up,
//! sessions, the profile, availability and push devices; [`positions`] the
//! location reports, [`missions`] alerts, missions, answers and surveys.

mod missions;
mod positions;

pub use missions::*;
pub use positions::*;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::{AcceptReply, AlertState, Input, Mission, Progress, Role, Status};
use firstlink_domain::volunteer::{MIN_AGE, QuietHours, Tier, age_on};
use firstlink_store::{
    Device, NewOutbox, OutboxMessage, Recipient, Session, SessionKind, Volunteer,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::types::{Location, opt_text, text};
use super::{AppState, Auth, Body, ClientIp};
use crate::app::App;
use crate::auth::{Principal, hash_password, random_secret, sha256_hex, verify_password};
use crate::error::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify))
        .routes(routes!(resend_code))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(set_availability))
        .routes(routes!(post_position, forget_position))
        .routes(routes!(post_positions))
        .routes(routes!(add_device, list_devices))
        .routes(routes!(delete_device))
        .routes(routes!(vapid_key))
        .routes(routes!(current_alert))
        .routes(routes!(my_missions))
        .routes(routes!(get_mission))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(report_status))
        .routes(routes!(leave))
        .routes(routes!(survey))
        .routes(routes!(route))
}

fn volunteer_of(who: &Principal) -> ApiResult<(VolunteerId, RegionId)> {
    match who {
        Principal::Volunteer { id, region } => Ok((*id, *region)),
        _ => Err(ApiError::forbidden()),
    }
}

async fn load_me(app: &App, who: &Principal) -> ApiResult<Volunteer> {
    let (id, _) = volunteer_of(who)?;
    app.store
        .volunteer(id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// e.g. "BLS/AED", "first aid with CPR".
    pub kind: String,
    pub date: NaiveDate,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The region's slug.
    pub region: String,
    pub name: String,
    /// E.164, e.g. +4512345678. A phone or an e-mail is required.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// At least 10 characters.
    pub password: String,
    /// Language of notifications: en, sv, da, nb, fi or de.
    pub language: String,
    pub languages: Option<Vec<String>>,
    pub birth_date: NaiveDate,
    /// `public_only` (default) or `including_homes`.
    #[schema(value_type = Option<String>)]
    pub tier: Option<Tier>,
    pub training: Option<Training>,
    /// Must be true: consent to the privacy terms (position kept only as the latest, deleted after 72 h).
    pub consent: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub volunteer_id: VolunteerId,
    /// `sms` or `email`: where the verification code went.
    pub verify_via: String,
}

const LANGS: [&str; 6] = ["en", "sv", "da", "nb", "fi", "de"];

fn phone(s: Option<&str>) -> ApiResult<Option<String>> {
    let Some(p) = s.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let compact: String = p.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let digits = compact.strip_prefix('+').ok_or_else(|| {
        ApiError::field("phone", "must be in international form, e.g. +4512345678")
    })?;
    if !(6..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::field(
            "phone",
            "must be + followed by 6 to 15 digits",
        ));
    }
    Ok(Some(compact))
}

fn email(s: Option<&str>) -> ApiResult<Option<String>> {
    let Some(e) = s.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ApiError::field("email", "is not an e-mail address"));
    }
    Ok(Some(e.to_lowercase()))
}

fn language(field: &str, s: &str) -> ApiResult<String> {
    let l = s.trim().to_lowercase();
    let primary = l.split(['-', '_']).next().unwrap_or("");
    let primary = if primary == "no" || primary == "nn" {
        "nb"
    } else {
        primary
    };
    if LANGS.contains(&primary) {
        Ok(primary.to_string())
    } else {
        Err(ApiError::field(
            field,
            format!("must be one of {}", LANGS.join(", ")),
        ))
    }
}

fn languages(v: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let v = v.unwrap_or_default();
    if v.len() > 20 {
        return Err(ApiError::field("languages", "at most 20"));
    }
    v.iter()
        .enumerate()
        .map(|(i, l)| {
            opt_text(&format!("languages[{i}]"), Some(l), 35).map(|o| o.unwrap_or_default())
        })
        .collect()
}

fn training(
    t: Option<Training>,
    today: NaiveDate,
) -> ApiResult<(Option<String>, Option<NaiveDate>)> {
    match t {
        None => Ok((None, None)),
        Some(t) => {
            if t.date > today {
                return Err(ApiError::field("training.date", "is in the future"));
            }
            Ok((Some(text("training.kind", &t.kind, 100)?), Some(t.date)))
        }
    }
}

async fn send_code(app: &App, v: &Volunteer) -> ApiResult<String> {
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let hash = sha256_hex(&format!("{}:{code}", v.id));
    app.store
        .set_verification(v.id, &hash, app.now() + Duration::minutes(15))
        .await?;
    let (recipient, via) = match (&v.phone, &v.email) {
        (Some(p), _) => (Recipient::Sms { phone: p.clone() }, "sms"),
        (None, Some(e)) => (Recipient::Email { address: e.clone() }, "email"),
        (None, None) => return Err(ApiError::field("phone", "a phone or an e-mail is required")),
    };
    let n = rand::random::<u32>();
    app.store
        .enqueue(&[NewOutbox {
            dedupe_key: format!("verify:{}:{n}", v.id),
            volunteer: Some(v.id),
            incident: None,
            recipient: Some(recipient),
            message: OutboxMessage {
                id: format!("verify-{}-{n}", v.id),
                kind: "verification".into(),
                incident: None,
                data: serde_json::json!({ "code": code }),
                urgent: true,
                ttl_seconds: 15 * 60,
            },
            not_before: app.now(),
        }])
        .await?;
    app.outbox.wake();
    Ok(via.to_string())
}

/// Sign up as a volunteer. A verification code goes to the phone (SMS) or e-mail.
#[utoipa::path(post, path = "/api/v1/volunteers/signup", tag = "volunteer", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 429)))]
pub async fn signup(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<SignupRequest>,
) -> ApiResult<(StatusCode, Json<SignupResponse>)> {
    ip.limit(&app)?;
    let region = app
        .region_by_slug(r.region.trim())
        .ok_or_else(|| ApiError::field("region", "no such region"))?;
    let today = app.now().with_timezone(&region.tz).date_naive();
    let name = text("name", &r.name, 100)?;
    let (phone, email) = (phone(r.phone.as_deref())?, email(r.email.as_deref())?);
    if phone.is_none() && email.is_none() {
        return Err(ApiError::field("phone", "a phone or an e-mail is required"));
    }
    if r.password.chars().count() < 10 || r.password.len() > 256 {
        return Err(ApiError::field("password", "must be 10 to 256 characters"));
    }
    if age_on(r.birth_date, today) < MIN_AGE {
        return Err(ApiError::field(
            "birth_date",
            "volunteers must be 18 or older",
        ));
    }
    if !r.consent {
        return Err(ApiError::field(
            "consent",
            "consent to the privacy terms is required",
        ));
    }
    let (training_kind, training_date) = training(r.training, today)?;
    let pw = r.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(ApiError::internal)??;
    let now = app.now();
    let v = Volunteer {
        id: VolunteerId::new(),
        region_id: region.region.id,
        name,
        phone,
        email,
        password_hash,
        language: language("language", &r.language)?,
        languages: languages(r.languages)?,
        birth_date: r.birth_date,
        tier: r.tier.unwrap_or_default(),
        training_kind,
        training_date,
        consent_at: Some(now),
        verified_at: None,
        suspended_at: None,
        available: false,
        quiet: None,
        created_at: now,
    };
    app.store.create_volunteer(&v).await.map_err(|e| match e {
        firstlink_store::StoreError::Conflict(what) => ApiError::conflict(
            "already_registered",
            format!("this {what} is already registered; sign in instead"),
        ),
        other => other.into(),
    })?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
    let via = send_code(&app, &v).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            volunteer_id: v.id,
            verify_via: via,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub volunteer_id: VolunteerId,
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Bearer token for the volunteer API.
    pub token: String,
    pub volunteer_id: VolunteerId,
    pub expires_at: DateTime<Utc>,
}

async fn new_session(app: &App, id: VolunteerId) -> ApiResult<TokenResponse> {
    let token = format!("flv_{}", random_secret());
    let now = app.now();
    let expires_at = now + Duration::days(i64::from(app.config.volunteer_session_days));
    app.store
        .create_session(&Session {
            token_hash: sha256_hex(&token),
            kind: SessionKind::Volunteer,
            subject: id.0,
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(TokenResponse {
        token,
        volunteer_id: id,
        expires_at,
    })
}

/// Confirm the phone or e-mail with the code sent at sign-up; returns a session.
#[utoipa::path(post, path = "/api/v1/volunteers/verify", tag = "volunteer", request_body = VerifyRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = crate::error::ErrorBody), (status = 429)))]
pub async fn verify(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<VerifyRequest>,
) -> ApiResult<Json<TokenResponse>> {
    ip.limit(&app)?;
    let wrong = || {
        ApiError::field(
            "code",
            "the code is wrong or has expired; ask for a new one",
        )
    };
    let (hash, expires, attempts) = app
        .store
        .verification_attempt(r.volunteer_id)
        .await?
        .ok_or_else(wrong)?;
    if attempts > 5
        || expires < app.now()
        || sha256_hex(&format!("{}:{}", r.volunteer_id, r.code.trim())) != hash
    {
        return Err(wrong());
    }
    let mut v = app
        .store
        .volunteer(r.volunteer_id)
        .await?
        .ok_or_else(wrong)?;
    v.verified_at.get_or_insert(app.now());
    app.store.update_volunteer(&v).await?;
    app.store.clear_verification(v.id).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
    Ok(Json(new_session(&app, v.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    pub volunteer_id: VolunteerId,
}

/// Send a new verification code.
#[utoipa::path(post, path = "/api/v1/volunteers/resend-code", tag = "volunteer", request_body = ResendRequest,
    responses((status = 202), (status = 429)))]
pub async fn resend_code(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<ResendRequest>,
) -> ApiResult<StatusCode> {
    ip.limit(&app)?;
    if let Some(v) = app.store.volunteer(r.volunteer_id).await?
        && v.verified_at.is_none()
    {
        send_code(&app, &v).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub region: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

/// Sign in with phone or e-mail and password.
#[utoipa::path(post, path = "/api/v1/volunteers/login", tag = "volunteer", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody), (status = 429)))]
pub async fn login(
    State(app): State<AppState>,
    ip: ClientIp,
    Body(r): Body<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    ip.limit(&app)?;
    let bad = || ApiError::unauthorized("wrong phone, e-mail or password");
    let region = app.region_by_slug(r.region.trim()).ok_or_else(bad)?;
    let (p, e) = (phone(r.phone.as_deref())?, email(r.email.as_deref())?);
    let v = app
        .store
        .volunteer_by_contact(region.region.id, p.as_deref(), e.as_deref())
        .await?;
    let phc = v
        .as_ref()
        .map(|v| v.password_hash.clone())
        .unwrap_or_default();
    let pw = r.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
        .await
        .map_err(ApiError::internal)?;
    let v = v.filter(|_| ok).ok_or_else(bad)?;
    if v.suspended_at.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "suspended",
            "this account is suspended; contact your region",
        ));
    }
    if v.verified_at.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_verified",
            "confirm your phone or e-mail first",
        ));
    }
    Ok(Json(new_session(&app, v.id).await?))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/me/logout", tag = "volunteer", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(app): State<AppState>,
    Auth(who): Auth,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    volunteer_of(&who)?;
    if let Some(t) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.split_once(' '))
    {
        let h = sha256_hex(t.1.trim());
        app.store.delete_session(&h).await?;
        app.tokens.forget(|p| *p == who);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The volunteer's profile.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    pub id: VolunteerId,
    pub region: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: String,
    pub languages: Vec<String>,
    pub birth_date: NaiveDate,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub training_kind: Option<String>,
    pub training_date: Option<NaiveDate>,
    pub verified: bool,
    pub suspended: bool,
    pub available: bool,
    pub quiet_hours: Option<QuietHoursWire>,
    /// True when firstlink would alert this volunteer right now (position aside).
    pub eligible: bool,
    /// Latest position firstlink holds, if any.
    pub position: Option<super::types::Fix>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursWire {
    /// "HH:MM" local time.
    pub start: String,
    pub end: String,
}

fn profile(app: &App, v: &Volunteer) -> Profile {
    let position = app.index().position(v.id).and_then(|(p, at)| {
        Some(super::types::Fix {
            lat: p.lat,
            lon: p.lon,
            at: DateTime::from_timestamp(i64::from(at), 0)?,
        })
    });
    Profile {
        id: v.id,
        region: app
            .region(v.region_id)
            .map(|r| r.region.slug)
            .unwrap_or_default(),
        name: v.name.clone(),
        phone: v.phone.clone(),
        email: v.email.clone(),
        language: v.language.clone(),
        languages: v.languages.clone(),
        birth_date: v.birth_date,
        tier: v.tier,
        training_kind: v.training_kind.clone(),
        training_date: v.training_date,
        verified: v.verified_at.is_some(),
        suspended: v.suspended_at.is_some(),
        available: v.available,
        quiet_hours: v.quiet.map(|q| QuietHoursWire {
            start: QuietHours::format_hhmm(q.start_min),
            end: QuietHours::format_hhmm(q.end_min),
        }),
        eligible: app.flags_of(v).eligible,
        position,
    }
}

/// The signed-in volunteer's profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "volunteer", responses((status = 200, body = Profile)), security(("bearer" = [])))]
pub async fn me(State(app): State<AppState>, Auth(who): Auth) -> ApiResult<Json<Profile>> {
    let v = load_me(&app, &who).await?;
    Ok(Json(profile(&app, &v)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub language: Option<String>,
    pub languages: Option<Vec<String>>,
    #[schema(value_type = Option<String>)]
    pub tier: Option<Tier>,
    pub training: Option<Training>,
    pub password: Option<String>,
}

/// Change the profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = "volunteer", request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_me(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(u): Body<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    let mut v = load_me(&app, &who).await?;
    if let Some(n) = u.name {
        v.name = text("name", &n, 100)?;
    }
    if let Some(l) = u.language {
        v.language = language("language", &l)?;
    }
    if u.languages.is_some() {
        v.languages = languages(u.languages)?;
    }
    if let Some(t) = u.tier {
        v.tier = t;
    }
    if u.training.is_some() {
        let (k, d) = training(u.training, app.now().date_naive())?;
        v.training_kind = k;
        v.training_date = d;
    }
    if let Some(pw) = u.password {
        if pw.chars().count() < 10 || pw.len() > 256 {
            return Err(ApiError::field("password", "must be 10 to 256 characters"));
        }
        v.password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(ApiError::internal)??;
    }
    app.store.update_volunteer(&v).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
    Ok(Json(profile(&app, &v)))
}

/// Delete the account and everything firstlink holds about the volunteer.
#[utoipa::path(delete, path = "/api/v1/me", tag = "volunteer", responses((status = 204)), security(("bearer" = [])))]
pub async fn delete_me(State(app): State<AppState>, Auth(who): Auth) -> ApiResult<StatusCode> {
    let (id, _) = volunteer_of(&who)?;
    if app.index().is_busy(id) {
        return Err(ApiError::conflict(
            "on_mission",
            "leave your current mission first",
        ));
    }
    app.store.delete_volunteer(id).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(id)]).await;
    app.tokens.forget(|p| *p == who);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Whether to receive alerts at all.
    pub available: bool,
    /// A daily do-not-disturb period in the region's local time; null for none.
    pub quiet_hours: Option<QuietHoursWire>,
}

/// Turn alerts on or off and set the do-not-disturb period.
#[utoipa::path(put, path = "/api/v1/me/availability", tag = "volunteer", request_body = Availability,
    responses((status = 200, body = Profile), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_availability(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(a): Body<Availability>,
) -> ApiResult<Json<Profile>> {
    let mut v = load_me(&app, &who).await?;
    v.available = a.available;
    v.quiet = match a.quiet_hours {
        None => None,
        Some(q) => {
            let s = QuietHours::parse_hhmm(&q.start)
                .ok_or_else(|| ApiError::field("quiet_hours.start", "must be HH:MM"))?;
            let e = QuietHours::parse_hhmm(&q.end)
                .ok_or_else(|| ApiError::field("quiet_hours.end", "must be HH:MM"))?;
            Some(
                QuietHours::new(s, e)
                    .ok_or_else(|| ApiError::field("quiet_hours.end", "must differ from start"))?,
            )
        }
    };
    app.store.update_volunteer(&v).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
    Ok(Json(profile(&app, &v)))
}

/// A push endpoint of one of the volunteer's devices.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceRequest {
    /// A browser PushSubscription (`endpoint`, `keys.p256dh`, `keys.auth`).
    WebPush {
        endpoint: String,
        keys: WebPushKeys,
    },
    Fcm {
        token: String,
    },
    Apns {
        device_token: String,
    },
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

fn b64url(field: &str, s: &str, min: usize, max: usize) -> ApiResult<String> {
    let s = s.trim();
    if s.len() < min
        || s.len() > max
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
    {
        return Err(ApiError::field(field, "must be base64url"));
    }
    Ok(s.to_string())
}

fn device_view(d: &Device) -> DeviceView {
    let channel = match d.recipient {
        Recipient::WebPush { .. } => "web_push",
        Recipient::Fcm { .. } => "fcm",
        Recipient::Apns { .. } => "apns",
        Recipient::Sms { .. } => "sms",
        Recipient::Email { .. } => "email",
        Recipient::Webhook { .. } => "webhook",
        Recipient::Demo => "demo",
    };
    DeviceView {
        id: d.id,
        channel: channel.into(),
        created_at: d.created_at,
    }
}

/// Register a device for push notifications.
#[utoipa::path(post, path = "/api/v1/me/devices", tag = "volunteer", request_body = DeviceRequest,
    responses((status = 201, body = DeviceView), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_device(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(r): Body<DeviceRequest>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let (id, _) = volunteer_of(&who)?;
    let recipient = match r {
        DeviceRequest::WebPush { endpoint, keys } => {
            let ok = (endpoint.starts_with("https://") || endpoint.starts_with("http://"))
                && endpoint.len() <= 2_048;
            if !ok {
                return Err(ApiError::field(
                    "endpoint",
                    "must be an http(s) URL of at most 2048 characters",
                ));
            }
            Recipient::WebPush {
                endpoint,
                p256dh: b64url("keys.p256dh", &keys.p256dh, 80, 100)?,
                auth: b64url("keys.auth", &keys.auth, 16, 32)?,
            }
        }
        DeviceRequest::Fcm { token } => Recipient::Fcm {
            token: text("token", &token, 4_096)?,
        },
        DeviceRequest::Apns { device_token } => {
            if device_token.len() < 32
                || device_token.len() > 200
                || !device_token.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(ApiError::field("device_token", "must be hexadecimal"));
            }
            Recipient::Apns { device_token }
        }
    };
    if app.store.devices(id).await?.len() >= 10 {
        return Err(ApiError::conflict(
            "too_many_devices",
            "at most 10 devices; remove one first",
        ));
    }
    let d = Device {
        id: Uuid::now_v7(),
        volunteer: id,
        recipient,
        created_at: app.now(),
    };
    app.store.add_device(&d).await?;
    Ok((StatusCode::CREATED, Json(device_view(&d))))
}

/// The registered devices.
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "volunteer", responses((status = 200, body = Vec<DeviceView>)), security(("bearer" = [])))]
pub async fn list_devices(
    State(app): State<AppState>,
    Auth(who): Auth,
) -> ApiResult<Json<Vec<DeviceView>>> {
    let (id, _) = volunteer_of(&who)?;
    Ok(Json(
        app.store
            .devices(id)
            .await?
            .iter()
            .map(device_view)
            .collect(),
    ))
}

/// Remove a device.
#[utoipa::path(delete, path = "/api/v1/me/devices/{id}", tag = "volunteer", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn delete_device(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(dev): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let (id, _) = volunteer_of(&who)?;
    if app.store.delete_device(id, dev).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("device"))
    }
}

#[derive(Serialize, ToSchema)]
pub struct VapidKey {
    /// `applicationServerKey` for `PushManager.subscribe`.
    pub public_key: Option<String>,
}

/// The Web Push public key of this server.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "volunteer", responses((status = 200, body = VapidKey)), security(("bearer" = [])))]
pub async fn vapid_key(State(app): State<AppState>, Auth(_): Auth) -> Json<VapidKey> {
    Json(VapidKey {
        public_key: app.outbox.notifier().vapid_public_key(),
    })
}
