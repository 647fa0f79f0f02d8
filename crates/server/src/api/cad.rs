//! Dispatch-centre (CAD) integration: OASIS CAP 1.2 / 1.1 and NENA EIDO in,
//! and each region's integration settings (mappings, signature policy, the
//! status webhook). The parsers live in `firstlink-cad`; this module only
//! decides what a parsed message does to the incidents of a region.
//!
//! Idempotency: a CAP message's key is `"<sender>|<identifier>"`, an EIDO's
//! `"eido|<$id>"`. The key (or `sha256:<hex>` of it when longer than 128
//! bytes) is the incident's `external_id`, so CAP, EIDO and the JSON API share
//! one idempotency space per region. Every message that acted is recorded in
//! `cad_messages` under its key: a repeat is answered from there without
//! acting twice, and CAP Update / Cancel find their incident through the keys
//! they reference. Everything is parsed and checked before anything is
//! written, so a refused message leaves nothing behind.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use chrono::{DateTime, Utc};
use firstlink_cad::dsig::TRUST_MAX_CERTIFICATES;
use firstlink_cad::{
    CAP_MAX_BYTES, CapError, CapMessage, CapRef, DsigError, EidoError, EidoMessage, IncidentDraft,
    ParsedCap, TrustStore, TrustedCert, VerifiedSignature, verify_cap_signature,
};
use firstlink_domain::ids::{IncidentId, RegionId};
use firstlink_domain::incident::{NewIncident, limits};
use firstlink_domain::mission::{Input, MissionError, Status};
use firstlink_store::CadMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Auth, MAX_BODY, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
pub use crate::integration::{
    self, CapSettings, EidoSettings, EventCode, IntegrationSettings, WebhookFormat, WebhookSettings,
};
use crate::missions::InputError;

pub fn routes() -> OpenApiRouter<AppState> {
    // CAP documents may be up to 256 KiB: a larger limit on this route only.
    let cap = OpenApiRouter::new()
        .routes(routes!(post_cap))
        .layer(DefaultBodyLimit::max(CAP_MAX_BYTES));
    OpenApiRouter::new()
        .merge(cap)
        .routes(routes!(post_eido))
        .routes(routes!(get_integration, put_integration))
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// The region's settings as stored (defaults when none were saved).
pub async fn load_settings(app: &App, region: RegionId) -> ApiResult<IntegrationSettings> {
    integration::load_settings(app, region)
        .await
        .map_err(|e| match e {
            integration::LoadError::Store(e) => e.into(),
            e @ integration::LoadError::Stored(_) => ApiError::internal(e.to_string()),
        })
}

/// The settings with write-only secrets removed, and the webhook's progress.
#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    pub settings: IntegrationSettings,
    /// A webhook secret is stored.
    pub webhook_secret_set: bool,
    pub webhook_status: Option<WebhookStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookStatus {
    /// Position of the last event delivered (or given up on).
    pub delivered_up_to: i64,
    /// Position of the latest mission event of any region.
    pub log_head: i64,
    pub delivered: u64,
    /// Events given up on (the receiver refused them permanently).
    pub skipped: u64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

fn operated_region(app: &App, who: &Principal, slug: &str) -> ApiResult<RegionId> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(r.region.id)
}

async fn integration_view(app: &App, region: RegionId) -> ApiResult<IntegrationView> {
    let mut settings = load_settings(app, region).await?;
    let secret_set = settings
        .webhook
        .as_ref()
        .is_some_and(|w| w.secret.as_deref().is_some_and(|s| !s.is_empty()));
    if let Some(w) = settings.webhook.as_mut() {
        w.secret = None;
    }
    let webhook_status = match (&settings.webhook, app.store.webhook_cursor(region).await?) {
        (Some(_), Some(c)) => Some(WebhookStatus {
            delivered_up_to: c.last_pos,
            log_head: app.store.event_log_head().await?,
            delivered: c.delivered,
            skipped: c.skipped,
            attempts: c.attempts,
            next_attempt_at: c.next_attempt_at,
            last_error: c.last_error,
        }),
        _ => None,
    };
    Ok(IntegrationView {
        settings,
        webhook_secret_set: secret_set,
        webhook_status,
    })
}

/// The region's CAD integration settings (secrets hidden) and webhook progress.
#[utoipa::path(get, path = "/api/v1/regions/{slug}/integration", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_integration(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<IntegrationView>> {
    let region = operated_region(&app, &who, &slug)?;
    Ok(Json(integration_view(&app, region).await?))
}

fn check_list(field: &str, v: &[String]) -> ApiResult<()> {
    if v.len() > 100 {
        return Err(ApiError::field(field, "at most 100 entries"));
    }
    for (i, s) in v.iter().enumerate() {
        super::types::text(&format!("{field}[{i}]"), s, 200)?;
    }
    Ok(())
}

fn validate_settings(s: &mut IntegrationSettings, previous: &IntegrationSettings) -> ApiResult<()> {
    check_list("cap.events", &s.cap.events)?;
    check_list("cap.categories", &s.cap.categories)?;
    check_list("eido.incident_types", &s.eido.incident_types)?;
    check_list("eido.internal_codes", &s.eido.internal_codes)?;
    if s.cap.event_codes.len() > 100 {
        return Err(ApiError::field("cap.event_codes", "at most 100 entries"));
    }
    for (i, c) in s.cap.event_codes.iter().enumerate() {
        super::types::text(&format!("cap.event_codes[{i}].name"), &c.name, 200)?;
        super::types::text(&format!("cap.event_codes[{i}].value"), &c.value, 200)?;
    }
    if s.cap.trusted_certificates.len() > TRUST_MAX_CERTIFICATES {
        return Err(ApiError::field(
            "cap.trusted_certificates",
            format!("at most {TRUST_MAX_CERTIFICATES} certificates"),
        ));
    }
    for (i, pem) in s.cap.trusted_certificates.iter().enumerate() {
        TrustedCert::from_pem(pem).map_err(|e| ApiError {
            field: Some(format!("cap.trusted_certificates[{i}]")),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_certificate",
                e.to_string(),
            )
        })?;
    }
    if s.cap.require_signature && s.cap.trusted_certificates.is_empty() {
        return Err(ApiError::field(
            "cap.trusted_certificates",
            "require_signature needs at least one trusted certificate (the dispatch centre's, PEM)",
        ));
    }
    if let Some(w) = s.webhook.as_mut() {
        let url = super::types::text("webhook.url", &w.url, 2_000)?;
        let ok = url.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
        });
        if !ok || url.chars().any(char::is_whitespace) {
            return Err(ApiError::field(
                "webhook.url",
                "must be an absolute http(s) URL",
            ));
        }
        w.url = url;
        if w.secret.as_deref().is_none_or(str::is_empty) {
            w.secret = previous.webhook.as_ref().and_then(|p| p.secret.clone());
        }
        match w.secret.as_deref() {
            None => {
                return Err(ApiError::field(
                    "webhook.secret",
                    "a webhook needs a secret (at least 16 characters)",
                ));
            }
            Some(sec) if sec.chars().count() < 16 || sec.len() > 512 => {
                return Err(ApiError::field(
                    "webhook.secret",
                    "must be 16 to 512 characters",
                ));
            }
            Some(_) => {}
        }
        if !(10..=3_600_000).contains(&w.retry_initial_ms) {
            return Err(ApiError::field(
                "webhook.retry_initial_ms",
                "must be 10..=3600000",
            ));
        }
        if w.retry_max_ms < w.retry_initial_ms || w.retry_max_ms > 3_600_000 {
            return Err(ApiError::field(
                "webhook.retry_max_ms",
                "must be at least retry_initial_ms and at most 3600000",
            ));
        }
        if !(100..=60_000).contains(&w.timeout_ms) {
            return Err(ApiError::field("webhook.timeout_ms", "must be 100..=60000"));
        }
    }
    Ok(())
}

/// Replace the region's CAD integration settings.
///
/// Turning the webhook on starts its feed at the current end of the event
/// log: events from before are not replayed. Changing the URL or secret of an
/// existing webhook keeps its position.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/integration", tag = "operator", params(("slug" = String, Path)),
    request_body = IntegrationSettings,
    responses((status = 200, body = IntegrationView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_integration(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    super::Body(mut s): super::Body<IntegrationSettings>,
) -> ApiResult<Json<IntegrationView>> {
    let region = operated_region(&app, &who, &slug)?;
    let previous = load_settings(&app, region).await?;
    validate_settings(&mut s, &previous)?;
    if s.webhook.is_some() && previous.webhook.is_none() {
        crate::webhooks::start_feed_at_head(&app, region).await?;
    }
    let v = serde_json::to_value(&s).map_err(ApiError::internal)?;
    app.store.set_integration(region, &v, app.now()).await?;
    let mut details = v.clone();
    if let Some(w) = details.get_mut("webhook").and_then(|w| w.as_object_mut()) {
        w.insert(
            "secret".into(),
            serde_json::Value::String("(hidden)".into()),
        );
    }
    audit(
        &app,
        &who,
        "region.integration",
        Some(region),
        Some(slug),
        details,
    )
    .await;
    Ok(Json(integration_view(&app, region).await?))
}

// ---------------------------------------------------------------------------
// Shared plumbing
// ---------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct RegionQuery {
    /// Only for operators who can act on several regions: the region's slug.
    pub region: Option<String>,
}

/// What a CAP or EIDO message did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CadOutcome {
    /// The incident the message created or acted on.
    pub id: IncidentId,
    /// True only when this message created the incident.
    pub created: bool,
    /// `created`, `existing` (the same alert again), `updated`, `cancelled`,
    /// `already_cancelled`, `already_over` or `duplicate` (this very message
    /// was already applied).
    pub outcome: String,
    /// The message's idempotency key.
    pub key: String,
    /// The incident's `external_id` (shared with the JSON API).
    pub external_id: String,
    /// Other incidents a Cancel referencing several messages also cancelled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<IncidentId>,
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
            return Err(ApiError::field(
                "region",
                "name the region (its slug) in ?region=",
            ));
        }
        (Principal::Volunteer { .. }, None) => return Err(ApiError::forbidden()),
    };
    if !who.can_dispatch(region) {
        return Err(ApiError::forbidden());
    }
    Ok(region)
}

/// The incident `external_id` for a message key: the key itself, or
/// `sha256:<hex>` of it when it is longer than the external id limit.
pub fn external_id_for(key: &str) -> String {
    if key.len() <= limits::EXTERNAL_ID_MAX {
        key.to_string()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

fn media_type(req: &Request) -> String {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

async fn read_body(req: Request, app: &AppState, max: usize) -> ApiResult<Bytes> {
    Bytes::from_request(req, app).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body may be at most {max} bytes"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "could not read the request body",
            )
        }
    })
}

fn record(
    region: RegionId,
    key: &str,
    incident: IncidentId,
    kind: &str,
    source_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CadMessage {
    CadMessage {
        region_id: region,
        key: key.to_string(),
        incident,
        kind: kind.into(),
        source_at,
        received_at: now,
    }
}

fn answer(o: CadOutcome) -> (StatusCode, Json<CadOutcome>) {
    (
        if o.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(o),
    )
}

async fn external_of(app: &Arc<App>, id: IncidentId) -> String {
    match app.missions.get(app, id).await {
        Ok((_, m)) => m.incident.external_id,
        Err(_) => String::new(),
    }
}

async fn duplicate(app: &Arc<App>, m: CadMessage) -> CadOutcome {
    CadOutcome {
        id: m.incident,
        created: false,
        outcome: "duplicate".into(),
        external_id: external_of(app, m.incident).await,
        key: m.key,
        also: vec![],
    }
}

/// Stores a draft as a new incident (idempotent on its key) and records the message.
async fn create_from(
    app: &Arc<App>,
    who: &Principal,
    region: RegionId,
    draft: IncidentDraft,
    kind: &str,
    source: &str,
) -> ApiResult<CadOutcome> {
    let mut inc: NewIncident = draft.incident;
    inc.external_id = external_id_for(&draft.key);
    let external = inc.external_id.clone();
    let (id, created) = app.missions.create(app, region, inc).await?;
    app.store
        .record_cad_message(&record(
            region,
            &draft.key,
            id,
            kind,
            draft.updated_at,
            app.now(),
        ))
        .await?;
    if created {
        audit(
            app,
            who,
            "incident.create",
            Some(region),
            Some(id.to_string()),
            serde_json::json!({ "external_id": external, "source": source }),
        )
        .await;
        tracing::info!(incident.id = %id, incident.external_id = %external, source, "incident received");
    }
    Ok(CadOutcome {
        id,
        created,
        outcome: if created { "created" } else { "existing" }.into(),
        key: draft.key,
        external_id: external,
        also: vec![],
    })
}

/// The update a newer draft of an incident asks for.
fn update_input(inc: &NewIncident, now: DateTime<Utc>) -> Input {
    // The draft's ETA counts from the report; the engine's from now.
    let ems_eta_seconds = inc.ems_eta_seconds.map(|s| {
        let at = inc.reported_at + chrono::Duration::seconds(i64::from(s));
        (at - now)
            .num_seconds()
            .clamp(0, i64::from(limits::EMS_ETA_MAX_S)) as u32
    });
    Input::Update {
        location: Some(inc.location),
        address: Some(inc.address.clone()),
        ems_eta_seconds,
        notes: inc.notes.clone(),
    }
}

/// Applies a newer draft to an existing incident, refusing one older than
/// what was already applied.
async fn apply_update(
    app: &Arc<App>,
    who: &Principal,
    region: RegionId,
    id: IncidentId,
    draft: &IncidentDraft,
    kind: &str,
    source: &str,
) -> ApiResult<CadOutcome> {
    if let Some(latest) = app.store.cad_latest(id).await?
        && draft.updated_at < latest
    {
        return Err(ApiError::conflict(
            "stale_update",
            format!(
                "this message (sent {}) is older than the last one applied to the incident ({latest})",
                draft.updated_at.to_rfc3339()
            ),
        ));
    }
    let now = app.now();
    app.missions
        .input(app, id, update_input(&draft.incident, now))
        .await?;
    app.store
        .record_cad_message(&record(region, &draft.key, id, kind, draft.updated_at, now))
        .await?;
    audit(
        app,
        who,
        "incident.update",
        Some(region),
        Some(id.to_string()),
        serde_json::json!({ "key": draft.key, "source": source }),
    )
    .await;
    Ok(CadOutcome {
        id,
        created: false,
        outcome: "updated".into(),
        key: draft.key.clone(),
        external_id: external_of(app, id).await,
        also: vec![],
    })
}

// ---------------------------------------------------------------------------
// CAP
// ---------------------------------------------------------------------------

/// The API error for a refused CAP document.
pub fn cap_refusal(e: &CapError, mapping_empty: bool) -> ApiError {
    use CapError::*;
    let (status, code) = match e {
        TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        DoctypeNotAllowed
        | UnknownEntity { .. }
        | InvalidCharRef { .. }
        | TooDeep { .. }
        | TooManyElements { .. }
        | UnsupportedEncoding { .. }
        | InvalidEncoding { .. }
        | Malformed { .. } => (StatusCode::BAD_REQUEST, "malformed_xml"),
        NotCap { .. } | UnsupportedVersion { .. } => (StatusCode::BAD_REQUEST, "not_cap"),
        NotAnIncident { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_an_incident"),
        NoInfo => (StatusCode::UNPROCESSABLE_ENTITY, "no_info"),
        NotCardiacArrest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_cardiac_arrest"),
        NoLocation => (StatusCode::UNPROCESSABLE_ENTITY, "no_location"),
        _ => (StatusCode::BAD_REQUEST, "invalid_cap"),
    };
    let mut message = e.to_string();
    if matches!(e, NotCardiacArrest { .. }) && mapping_empty {
        message.push_str("; the region has no CAP event mapping configured yet");
    }
    let field = match e {
        MissingElement { parent, element } | DuplicateElement { parent, element } => {
            Some(format!("{parent}/{element}"))
        }
        UnexpectedElement { parent, element } => Some(format!("{parent}/{element}")),
        EmptyElement { element }
        | InvalidIdentifier { element, .. }
        | InvalidValue { element, .. }
        | InvalidDateTime { element, .. }
        | TooLong { element, .. }
        | InvalidGeometry { element, .. } => Some((*element).to_string()),
        EmptyReferences | InvalidReference { .. } | MissingReferences { .. } => {
            Some("references".into())
        }
        InvalidParameter { name, .. } => Some(format!("parameter/{name}")),
        _ => None,
    };
    ApiError {
        field,
        ..ApiError::new(status, code, message)
    }
}

/// Incidents the referenced messages created or acted on, most recent reference first.
async fn referenced(app: &App, region: RegionId, refs: &[CapRef]) -> ApiResult<Vec<IncidentId>> {
    let mut out = Vec::new();
    for r in refs.iter().rev() {
        let key = r.key();
        let id = match app.store.cad_message(region, &key).await? {
            Some(m) => Some(m.incident),
            None => {
                app.store
                    .incident_by_external_id(region, &external_id_for(&key))
                    .await?
            }
        };
        if let Some(id) = id
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Receive a CAP 1.2 (or 1.1) alert.
///
/// `Content-Type: application/cap+xml` (`application/xml` and `text/xml` are
/// accepted too), at most 256 KiB. Alert creates an incident (201; the same
/// message again: 200 `duplicate`); Update changes the incident of the message
/// it references (or creates one when none is known); Cancel cancels it.
/// The region's signature policy (XML-DSig, see `check_signature`) applies,
/// and an Alert or Update whose every `info/expires` is past is refused
/// (`cap_expired`) unless `cap.accept_expired`. Refusals: see docs/api-errors.md.
#[utoipa::path(post, path = "/api/v1/cap", tag = "dispatch", params(RegionQuery),
    request_body(content = String, content_type = "application/cap+xml"),
    responses((status = 201, body = CadOutcome), (status = 200, body = CadOutcome),
              (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_cap(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<CadOutcome>)> {
    let region = acting_region(&app, &who, q.region.as_deref())?;
    if !matches!(
        media_type(&req).as_str(),
        "application/cap+xml" | "application/xml" | "text/xml"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/cap+xml",
        ));
    }
    let bytes = read_body(req, &app, CAP_MAX_BYTES).await?;
    let settings = load_settings(&app, region).await?;
    let mapping = settings.cap.mapping();
    let parsed = firstlink_cad::parse_cap(&bytes, &mapping).map_err(|e| {
        cap_refusal(
            &e,
            mapping.events.is_empty() && mapping.event_codes.is_empty(),
        )
    })?;
    if let Some(v) = check_signature(&settings.cap, &bytes)? {
        tracing::debug!(region = %region, signer = %v.subject, method = v.method.name(), "CAP signature verified");
    }
    // A Cancel is never stale; a repeat of an applied message answers `duplicate`.
    if !settings.cap.accept_expired
        && !matches!(parsed.message, CapMessage::Cancel { .. })
        && let Some(expires) = parsed.expires
        && expires <= app.now()
        && app.store.cad_message(region, &parsed.key).await?.is_none()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cap_expired",
            format!(
                "the alert expired at {} (the latest info/expires)",
                expires.to_rfc3339()
            ),
        ));
    }
    Ok(answer(apply_cap(&app, &who, region, parsed).await?))
}

/// The region's signature policy, applied to the very bytes that were parsed.
///
/// Signatures required: an unsigned alert is refused (`signature_required`),
/// a signed one must verify. Not required: a signature is still verified when
/// the region has trusted certificates, and the alert refused when it fails —
/// a broken signature is never waved through when it could be checked. With
/// no trusted certificates, signatures are not looked at.
fn check_signature(cap: &CapSettings, bytes: &[u8]) -> ApiResult<Option<VerifiedSignature>> {
    if !cap.require_signature && cap.trusted_certificates.is_empty() {
        return Ok(None);
    }
    let trust = match TrustStore::from_pem(&cap.trusted_certificates) {
        Ok(t) => t,
        Err((i, e)) => {
            // Checked when the settings were saved; only a rule tightened since can get here.
            tracing::warn!(certificate = i, error = %e, "a stored trusted certificate is not usable");
            return Err(ApiError {
                field: Some(format!("cap.trusted_certificates[{i}]")),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "signature_unverifiable",
                    format!(
                        "the region's trusted certificate {i} is not usable ({e}); an operator must replace it"
                    ),
                )
            });
        }
    };
    match verify_cap_signature(bytes, &trust) {
        Ok(v) => Ok(Some(v)),
        Err(DsigError::Unsigned) if !cap.require_signature => Ok(None),
        Err(DsigError::Unsigned) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signature_required",
            "this region only accepts signed CAP alerts (an enveloped XML signature)",
        )),
        Err(e) => {
            let mut message = e.to_string();
            if e == DsigError::NoTrustedCertificates {
                message.push_str("; an operator must add the dispatch centre's certificate to cap.trusted_certificates");
            }
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                message,
            ))
        }
    }
}

async fn apply_cap(
    app: &Arc<App>,
    who: &Principal,
    region: RegionId,
    p: ParsedCap,
) -> ApiResult<CadOutcome> {
    let key = p.key.clone();
    if let Some(m) = app.store.cad_message(region, &key).await? {
        return Ok(duplicate(app, m).await);
    }
    match p.message {
        CapMessage::Alert(d) => create_from(app, who, region, d, "alert", "cap").await,
        CapMessage::Update { references, draft } => {
            match referenced(app, region, &references).await?.first() {
                // The original never reached us: the update stands on its own.
                None => create_from(app, who, region, draft, "update", "cap").await,
                Some(&id) => apply_update(app, who, region, id, &draft, "update", "cap").await,
            }
        }
        CapMessage::Cancel { references, reason } => {
            let ids = referenced(app, region, &references).await?;
            let Some(&first) = ids.first() else {
                let refs: Vec<String> = references.iter().map(CapRef::key).collect();
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_reference",
                    format!(
                        "none of the referenced messages ({}) is a known incident of this region",
                        refs.join(" ")
                    ),
                ));
            };
            let mut outcome = String::new();
            for &id in &ids {
                let o = match app
                    .missions
                    .input(
                        app,
                        id,
                        Input::Cancel {
                            reason: reason.clone(),
                        },
                    )
                    .await
                {
                    Ok(_) => "cancelled",
                    Err(InputError::Mission(MissionError::NotActive)) => {
                        match app.missions.get(app, id).await {
                            Ok((_, m)) if m.status == Status::Cancelled => "already_cancelled",
                            Ok(_) => "already_over",
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                };
                if id == first {
                    outcome = o.into();
                }
                if o == "cancelled" {
                    audit(
                        app,
                        who,
                        "incident.cancel",
                        Some(region),
                        Some(id.to_string()),
                        serde_json::json!({ "key": key, "source": "cap" }),
                    )
                    .await;
                }
            }
            app.store
                .record_cad_message(&record(region, &key, first, "cancel", p.sent, app.now()))
                .await?;
            Ok(CadOutcome {
                id: first,
                created: false,
                outcome,
                external_id: external_of(app, first).await,
                key,
                also: ids[1..].to_vec(),
            })
        }
    }
}

// ---------------------------------------------------------------------------
// EIDO
// ---------------------------------------------------------------------------

/// The API error for a refused EIDO document.
pub fn eido_refusal(e: &EidoError) -> ApiError {
    use EidoError::*;
    let (status, code, field) = match e {
        TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        Json { .. } => (StatusCode::BAD_REQUEST, "invalid_json", None),
        Missing { path }
        | WrongType { path, .. }
        | InvalidValue { path, .. }
        | TooLong { path, .. } => (StatusCode::BAD_REQUEST, "invalid_eido", Some(path.clone())),
        InvalidLocation { path, .. } => {
            (StatusCode::BAD_REQUEST, "invalid_eido", Some(path.clone()))
        }
        NotCardiacArrest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_cardiac_arrest", None),
        NoGeodeticLocation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "no_location", None),
        NotNewer { .. } => (StatusCode::CONFLICT, "stale_update", None),
    };
    ApiError {
        field,
        ..ApiError::new(status, code, e.to_string())
    }
}

/// Receive a NENA EIDO (NENA-STA-021, JSON, `eidoVersion` 1.0).
///
/// `Content-Type: application/json`. An EIDO carries the whole incident each
/// time: the first for an `$id` creates the incident (201); one with a later
/// `lastUpdateTimeStamp` updates it; the same one again answers 200
/// `duplicate`; an older one 409 `stale_update`.
#[utoipa::path(post, path = "/api/v1/eido", tag = "dispatch", params(RegionQuery),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, body = CadOutcome), (status = 200, body = CadOutcome),
              (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_eido(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RegionQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<CadOutcome>)> {
    let region = acting_region(&app, &who, q.region.as_deref())?;
    let mt = media_type(&req);
    if !(mt == "application/json" || (mt.starts_with("application/") && mt.ends_with("+json"))) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ));
    }
    let bytes = read_body(req, &app, MAX_BODY).await?;
    let settings = load_settings(&app, region).await?;
    let draft = match firstlink_cad::parse_eido(&bytes, &settings.eido.mapping()) {
        Ok(EidoMessage::Incident(d) | EidoMessage::Update(d)) => d,
        Err(e) => return Err(eido_refusal(&e)),
    };
    let known = app.store.cad_message(region, &draft.key).await?;
    let o = match known {
        None => create_from(&app, &who, region, draft, "eido", "eido").await?,
        Some(m) if draft.updated_at == m.source_at => duplicate(&app, m).await,
        Some(m) if draft.updated_at < m.source_at => {
            return Err(eido_refusal(&EidoError::NotNewer {
                last_update: draft.updated_at,
                known: m.source_at,
            }));
        }
        Some(m) => apply_update(&app, &who, region, m.incident, &draft, "eido", "eido").await?,
    };
    Ok(answer(o))
}
