//! News and training feeds of a region: the operators' settings
//! (`GET/PUT /api/v1/regions/{slug}/feeds`) and the volunteers' news
//! (`GET /api/v1/me/news`). Reading and caching the feeds is
//! [`firstlink_runtime::feeds`].

use axum::Json;
use axum::extract::{Path, State};
use reqwest::Url;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::types::opt_text;
use super::{AppState, Auth, Body, audit};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::feeds::{self, settings_key};
pub use crate::feeds::{
    CACHE_TTL, ERROR_TTL, FeedConfig, FeedError, FeedItem, FeedKind, FeedSettings, MAX_DEPTH,
    MAX_ELEMENTS, MAX_FEED_BYTES, MAX_FEEDS, MAX_ITEMS, MAX_ITEMS_PER_FEED, ParsedFeed, fetch,
    forget, parse_feed, plain_text,
};
use firstlink_domain::ids::RegionId;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_feeds, put_feeds))
        .routes(routes!(my_news))
}

pub async fn settings(app: &App, region: RegionId) -> ApiResult<FeedSettings> {
    feeds::settings(app, region).await.map_err(|e| match e {
        feeds::LoadError::Store(e) => e.into(),
        e @ feeds::LoadError::Stored(_) => ApiError::internal(e.to_string()),
    })
}

/// Checks a feed URL: absolute http(s), a host, no credentials, at most 2,000 characters.
pub fn check_url(field: &str, s: &str) -> ApiResult<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2_000 {
        return Err(ApiError::field(
            field,
            "must be an http(s) URL of at most 2000 characters",
        ));
    }
    let u = Url::parse(s).map_err(|_| ApiError::field(field, "is not a valid URL"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(ApiError::field(
            field,
            "must start with https:// or http://",
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::field(field, "must name a host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(ApiError::field(
            field,
            "must not contain a user name or password",
        ));
    }
    Ok(u.to_string())
}

fn check_settings(s: FeedSettings) -> ApiResult<FeedSettings> {
    if s.feeds.len() > MAX_FEEDS {
        return Err(ApiError::field(
            "feeds",
            format!("at most {MAX_FEEDS} feeds"),
        ));
    }
    let mut out = Vec::with_capacity(s.feeds.len());
    for (i, f) in s.feeds.into_iter().enumerate() {
        let url = check_url(&format!("feeds[{i}].url"), &f.url)?;
        if out.iter().any(|o: &FeedConfig| o.url == url) {
            return Err(ApiError::field(
                format!("feeds[{i}].url"),
                "this feed is listed twice",
            ));
        }
        let label = opt_text(&format!("feeds[{i}].label"), f.label.as_deref(), 80)?;
        out.push(FeedConfig {
            url,
            kind: f.kind,
            label,
        });
    }
    Ok(FeedSettings { feeds: out })
}

fn region_of(app: &App, who: &Principal, slug: &str, write: bool) -> ApiResult<RegionId> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let ok = if write {
        who.can_operate(r.region.id)
    } else {
        who.can_operate(r.region.id) || who.can_dispatch(r.region.id)
    };
    if !ok || matches!(who, Principal::Dispatch { .. }) {
        return Err(ApiError::forbidden());
    }
    Ok(r.region.id)
}

/// The region's news and training feeds (operators; dispatchers read).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/feeds", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = FeedSettings), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_feeds(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<FeedSettings>> {
    let region = region_of(&app, &who, &slug, false)?;
    Ok(Json(settings(&app, region).await?))
}

/// Replace the region's feeds (operators): up to 10 RSS 2.0 or Atom URLs.
#[utoipa::path(put, path = "/api/v1/regions/{slug}/feeds", tag = "operator", params(("slug" = String, Path)), request_body = FeedSettings,
    responses((status = 200, body = FeedSettings), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_feeds(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(s): Body<FeedSettings>,
) -> ApiResult<Json<FeedSettings>> {
    let region = region_of(&app, &who, &slug, true)?;
    let s = check_settings(s)?;
    let json = serde_json::to_string(&s).map_err(ApiError::internal)?;
    app.store.set_setting(&settings_key(region), &json).await?;
    for f in &s.feeds {
        forget(&f.url);
    }
    audit(
        &app,
        &who,
        "region.feeds",
        Some(region),
        Some(slug),
        serde_json::json!({ "feeds": s.feeds.len() }),
    )
    .await;
    Ok(Json(s))
}

/// One item with the feed it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewsItem {
    /// The feed's label (or its own title).
    pub feed: String,
    /// `news` or `training`.
    pub kind: FeedKind,
    #[serde(flatten)]
    pub item: FeedItem,
}

/// How each configured feed fared (no URLs, no error details).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedStatus {
    pub feed: String,
    pub kind: FeedKind,
    /// False when the feed could not be fetched or read just now.
    pub ok: bool,
    pub items: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct News {
    /// Newest first; items without a date last.
    pub items: Vec<NewsItem>,
    pub feeds: Vec<FeedStatus>,
}

/// News and training items from the volunteer's region's feeds (text only).
#[utoipa::path(get, path = "/api/v1/me/news", tag = "volunteer",
    responses((status = 200, body = News), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn my_news(State(app): State<AppState>, Auth(who): Auth) -> ApiResult<Json<News>> {
    let Principal::Volunteer { region, .. } = who else {
        return Err(ApiError::forbidden());
    };
    let s = settings(&app, region).await?;
    let results = futures_util::future::join_all(s.feeds.iter().map(|f| fetch(&f.url))).await;
    let mut items = Vec::new();
    let mut feeds = Vec::new();
    for (f, r) in s.feeds.iter().zip(results) {
        let fallback = || {
            Url::parse(&f.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        };
        match r {
            Ok(p) => {
                let name = f
                    .label
                    .clone()
                    .or_else(|| p.title.clone())
                    .unwrap_or_else(fallback);
                feeds.push(FeedStatus {
                    feed: name.clone(),
                    kind: f.kind,
                    ok: true,
                    items: p.items.len(),
                });
                items.extend(p.items.iter().map(|i| NewsItem {
                    feed: name.clone(),
                    kind: f.kind,
                    item: i.clone(),
                }));
            }
            Err(_) => feeds.push(FeedStatus {
                feed: f.label.clone().unwrap_or_else(fallback),
                kind: f.kind,
                ok: false,
                items: 0,
            }),
        }
    }
    // Newest first, undated last; stable, so undated items keep the feed's order.
    items.sort_by_key(|i| std::cmp::Reverse(i.item.published));
    items.truncate(MAX_ITEMS);
    Ok(Json(News { items, feeds }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("u", "https://example.org/feed.xml").is_ok());
        assert!(check_url("u", "http://127.0.0.1:8080/rss").is_ok());
        for bad in [
            "",
            "ftp://example.org/x",
            "javascript:alert(1)",
            "https://user:pw@example.org/",
            "/relative",
            "https://",
        ] {
            assert!(check_url("u", bad).is_err(), "{bad}");
        }
    }
}
