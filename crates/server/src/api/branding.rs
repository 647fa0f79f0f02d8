//! A region's own brand in the volunteer app and the console header: its
//! display name, two colours and a logo, so that the same server runs an
//! SMSlivräddare-like and a Hjerteløber-like service under their own names.
//!
//! Colours are `#rrggbb`. Both carry text, so both must reach WCAG AA contrast
//! (4.5:1) against the app's light backgrounds: the primary colour is the
//! background of buttons and the header band with white text on it, the
//! accent colour is used for the brand name and links on white. A colour
//! below that is refused (`low_contrast`), never silently changed.
//!
//! The logo is uploaded as raw bytes (`PUT …/branding/logo`), at most
//! [`LOGO_MAX_BYTES`], and must be PNG or WebP by its magic bytes (SVG and
//! everything else is refused: an SVG can carry script). It is served inline
//! as a `data:` URL in the branding JSON, so no extra request needs a token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use firstlink_domain::ids::RegionId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::types::opt_text;
use super::{AppState, Auth, Body, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_branding, put_branding))
        .routes(routes!(put_logo, delete_logo))
        .routes(routes!(my_branding))
}

/// Largest logo accepted.
pub const LOGO_MAX_BYTES: usize = 64 * 1024;
/// Minimum contrast of both colours against white and the app background.
pub const MIN_CONTRAST: f64 = 4.5;
/// firstlink's own colours, used when a region sets none.
pub const DEFAULT_PRIMARY: &str = "#0b57d0";
pub const DEFAULT_ACCENT: &str = "#b3261e";
/// The light backgrounds text in the brand colours is drawn on.
const BACKGROUNDS: [&str; 2] = ["#ffffff", "#f6f7f9"];

fn key(region: RegionId) -> String {
    format!("region.branding.{region}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stored {
    display_name: Option<String>,
    primary_color: Option<String>,
    accent_color: Option<String>,
    logo_mime: Option<String>,
    logo_b64: Option<String>,
}

/// The brand as the app and the console draw it (defaults filled in).
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandingView {
    /// The region's slug.
    pub region: String,
    /// The service's name in this region (the region's name unless set).
    pub display_name: String,
    /// `#rrggbb`: buttons and the header band, with white text.
    pub primary_color: String,
    /// `#rrggbb`: the brand name and links, on white.
    pub accent_color: String,
    /// The logo as a `data:image/png;base64,…` or `data:image/webp;base64,…` URL.
    pub logo: Option<String>,
    /// Whether the region set its own name, colours or logo.
    pub custom: bool,
}

/// The brand's name and colours; null or absent resets a value to the default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingUpdate {
    /// At most 60 characters.
    pub display_name: Option<String>,
    /// `#rrggbb`, contrast at least 4.5:1 with white text.
    pub primary_color: Option<String>,
    /// `#rrggbb`, contrast at least 4.5:1 on white.
    pub accent_color: Option<String>,
}

fn rgb(hex: &str) -> Option<[u8; 3]> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([p(0)?, p(2)?, p(4)?])
}

fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// WCAG 2 contrast ratio of two `#rrggbb` colours (1 to 21).
pub fn contrast(a: &str, b: &str) -> Option<f64> {
    let (la, lb) = (luminance(rgb(a)?), luminance(rgb(b)?));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    Some((hi + 0.05) / (lo + 0.05))
}

/// A `#rrggbb` colour readable on (or under white text against) the app's backgrounds.
pub fn check_color(field: &str, s: Option<&str>) -> ApiResult<Option<String>> {
    let Some(c) = s.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let c = c.to_ascii_lowercase();
    if rgb(&c).is_none() {
        return Err(ApiError::field(
            field,
            "must be a colour as #rrggbb, e.g. #c8102e",
        ));
    }
    let worst = BACKGROUNDS
        .iter()
        .filter_map(|bg| contrast(&c, bg))
        .fold(f64::INFINITY, f64::min);
    if worst < MIN_CONTRAST {
        return Err(ApiError {
            field: Some(field.into()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "low_contrast",
                format!(
                    "contrast with white is only {:.1}:1; choose a darker colour (at least {MIN_CONTRAST}:1)",
                    (worst * 10.0).floor() / 10.0
                ),
            )
        });
    }
    Ok(Some(c))
}

/// The image type of a logo by its magic bytes: PNG or WebP, else `None`.
pub fn sniff_logo(b: &[u8]) -> Option<&'static str> {
    if b.len() >= 24 && b.starts_with(b"\x89PNG\r\n\x1a\n") && &b[12..16] == b"IHDR" {
        let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        return ((1..=4096).contains(&w) && (1..=4096).contains(&h)).then_some("image/png");
    }
    if b.len() >= 16
        && &b[0..4] == b"RIFF"
        && &b[8..12] == b"WEBP"
        && matches!(&b[12..16], b"VP8 " | b"VP8L" | b"VP8X")
    {
        return Some("image/webp");
    }
    None
}

async fn load(app: &App, region: RegionId) -> ApiResult<Stored> {
    match app.store.setting(&key(region)).await? {
        None => Ok(Stored::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ApiError::internal(format!("stored branding: {e}"))),
    }
}

async fn save(app: &App, region: RegionId, s: &Stored) -> ApiResult<()> {
    let json = serde_json::to_string(s).map_err(ApiError::internal)?;
    Ok(app.store.set_setting(&key(region), &json).await?)
}

/// The region's brand with defaults filled in.
pub async fn view(app: &App, region: RegionId) -> ApiResult<BrandingView> {
    let rt = app
        .region(region)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let s = load(app, region).await?;
    let custom = s.display_name.is_some()
        || s.primary_color.is_some()
        || s.accent_color.is_some()
        || s.logo_b64.is_some();
    Ok(BrandingView {
        region: rt.region.slug.clone(),
        display_name: s.display_name.unwrap_or(rt.region.name),
        primary_color: s.primary_color.unwrap_or_else(|| DEFAULT_PRIMARY.into()),
        accent_color: s.accent_color.unwrap_or_else(|| DEFAULT_ACCENT.into()),
        logo: match (s.logo_mime, s.logo_b64) {
            (Some(m), Some(b)) => Some(format!("data:{m};base64,{b}")),
            _ => None,
        },
        custom,
    })
}

fn region_for(app: &App, who: &Principal, slug: &str, write: bool) -> ApiResult<RegionId> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let id = r.region.id;
    let ok = if write {
        who.can_operate(id)
    } else {
        who.can_dispatch(id) || who.can_service(id)
    };
    if !ok {
        return Err(ApiError::forbidden());
    }
    Ok(id)
}

/// The region's brand (anyone working in the region: the console header).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/branding", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = BrandingView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_branding(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<BrandingView>> {
    let region = region_for(&app, &who, &slug, false)?;
    Ok(Json(view(&app, region).await?))
}

/// Set the region's display name and colours (operators). The logo is kept.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/branding", tag = "operator", params(("slug" = String, Path)), request_body = BrandingUpdate,
    responses((status = 200, body = BrandingView), (status = 400, body = crate::error::ErrorBody, description = "`invalid_field` or `low_contrast`"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_branding(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(u): Body<BrandingUpdate>,
) -> ApiResult<Json<BrandingView>> {
    let region = region_for(&app, &who, &slug, true)?;
    let display_name = opt_text("display_name", u.display_name.as_deref(), 60)?;
    let primary_color = check_color("primary_color", u.primary_color.as_deref())?;
    let accent_color = check_color("accent_color", u.accent_color.as_deref())?;
    let mut s = load(&app, region).await?;
    s.display_name = display_name;
    s.primary_color = primary_color;
    s.accent_color = accent_color;
    save(&app, region, &s).await?;
    audit(&app, &who, "region.branding", Some(region), Some(slug), serde_json::json!({ "display_name": s.display_name, "primary_color": s.primary_color, "accent_color": s.accent_color })).await;
    Ok(Json(view(&app, region).await?))
}

/// Upload the region's logo (operators): the raw bytes of a PNG or WebP image,
/// at most 64 KiB. SVG and other types are refused.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/branding/logo", tag = "operator", params(("slug" = String, Path)),
    request_body(content = String, content_type = "image/png", description = "PNG or WebP bytes (Content-Type image/png or image/webp), at most 64 KiB"),
    responses((status = 200, body = BrandingView), (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody, description = "`unsupported_image`"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_logo(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Json<BrandingView>> {
    let region = region_for(&app, &who, &slug, true)?;
    let bytes = axum::body::to_bytes(body, LOGO_MAX_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the logo may be at most {} KiB", LOGO_MAX_BYTES / 1024),
            )
        })?;
    let mime = sniff_logo(&bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image",
            "the logo must be a PNG or WebP image (SVG is not accepted)",
        )
    })?;
    let mut s = load(&app, region).await?;
    s.logo_mime = Some(mime.into());
    s.logo_b64 = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
    save(&app, region, &s).await?;
    audit(
        &app,
        &who,
        "region.logo",
        Some(region),
        Some(slug),
        serde_json::json!({ "type": mime, "bytes": bytes.len() }),
    )
    .await;
    Ok(Json(view(&app, region).await?))
}

/// Remove the region's logo (operators).
#[utoipa::path(delete, path = "/api/v1/regions/{slug}/branding/logo", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = BrandingView), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_logo(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<BrandingView>> {
    let region = region_for(&app, &who, &slug, true)?;
    let mut s = load(&app, region).await?;
    s.logo_mime = None;
    s.logo_b64 = None;
    save(&app, region, &s).await?;
    audit(
        &app,
        &who,
        "region.logo",
        Some(region),
        Some(slug),
        serde_json::json!({ "removed": true }),
    )
    .await;
    Ok(Json(view(&app, region).await?))
}

/// The brand of the volunteer's region, for the app.
#[utoipa::path(get, path = "/api/v1/me/branding", tag = "volunteer",
    responses((status = 200, body = BrandingView), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn my_branding(
    State(app): State<AppState>,
    Auth(who): Auth,
) -> ApiResult<Json<BrandingView>> {
    let Principal::Volunteer { region, .. } = who else {
        return Err(ApiError::forbidden());
    };
    Ok(Json(view(&app, region).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_is_wcag() {
        assert!((contrast("#000000", "#ffffff").unwrap() - 21.0).abs() < 1e-9);
        assert!((contrast("#ffffff", "#ffffff").unwrap() - 1.0).abs() < 1e-9);
        assert!(check_color("c", Some("#C8102E")).unwrap().as_deref() == Some("#c8102e"));
        assert!(
            check_color("c", Some(DEFAULT_PRIMARY)).is_ok()
                && check_color("c", Some(DEFAULT_ACCENT)).is_ok()
        );
        assert_eq!(
            check_color("c", Some("#ffd700")).unwrap_err().code,
            "low_contrast"
        );
        assert_eq!(
            check_color("c", Some("red")).unwrap_err().code,
            "invalid_field"
        );
        assert_eq!(
            check_color("c", Some("#12345g")).unwrap_err().code,
            "invalid_field"
        );
        assert_eq!(check_color("c", None).unwrap(), None);
    }

    #[test]
    fn logos_are_sniffed() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 0, 64, 0, 0, 0, 32, 8, 6, 0, 0, 0]);
        assert_eq!(sniff_logo(&png), Some("image/png"));
        assert_eq!(
            sniff_logo(b"RIFF\x10\0\0\0WEBPVP8 \0\0\0\0"),
            Some("image/webp")
        );
        assert_eq!(
            sniff_logo(
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"
            ),
            None
        );
        assert_eq!(sniff_logo(b"GIF89a......................"), None);
        assert_eq!(sniff_logo(b""), None);
    }
}
