//! News and training feeds of a region (RSS 2.0 and Atom 1.0): the settings,
//! the reader ([`reader`]) and the cache of fetched feeds ([`cache`]).
//! The HTTP side lives in `firstlink_server::api::feeds`.
//!
//!
//! Operators set up to [`MAX_FEEDS`] feed URLs per region
//! (`GET/PUT /api/v1/regions/{slug}/feeds`). The server fetches them itself
//! (time-out, at most [`MAX_FEED_BYTES`], at most three redirects), keeps
//! each result for [`CACHE_TTL`] (a failure for [`ERROR_TTL`]), and gives the
//! region's signed-in volunteers the items as plain text
//! (`GET /api/v1/me/news`). A feed that fails is reported as unavailable and
//! leaves the others alone.
//!
//! The parser is a small streaming reader on quick-xml that refuses any
//! `DOCTYPE` (so no DTD, no entity declarations or expansion, nothing
//! fetched), entity references other than the five predefined ones and
//! character references, nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_ELEMENTS`] elements and encodings other than UTF-8 / US-ASCII. HTML
//! in titles and summaries is reduced to text: tags are stripped, never
//! passed on. Links are kept only when they are absolute `http(s)` URLs.

mod cache;
mod reader;

use std::time::Duration;

use chrono::{DateTime, Utc};
use firstlink_domain::ids::RegionId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;

pub use cache::{fetch, forget};
pub use reader::{parse_feed, plain_text};

/// At most this many feeds per region.
pub const MAX_FEEDS: usize = 10;
/// A feed document larger than this is refused.
pub const MAX_FEED_BYTES: usize = 1024 * 1024;
/// Elements nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;
/// Documents with more elements than this are refused.
pub const MAX_ELEMENTS: usize = 50_000;
/// Items kept per feed (the first ones in the document, usually the newest).
pub const MAX_ITEMS_PER_FEED: usize = 30;
/// Items served to the app, newest first.
pub const MAX_ITEMS: usize = 60;
/// How long a fetched feed is served from memory.
pub const CACHE_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a failure is remembered before the feed is tried again.
pub const ERROR_TTL: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TITLE: usize = 300;
const MAX_SUMMARY: usize = 600;
/// Text collected per element before the rest is dropped.
const MAX_TEXT: usize = 64 * 1024;

pub fn settings_key(region: RegionId) -> String {
    format!("region.feeds.{region}")
}

/// What a feed carries, for the app's grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    News,
    Training,
}

/// One configured feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// An absolute http(s) URL of an RSS 2.0 or Atom feed.
    pub url: String,
    /// `news` or `training`.
    pub kind: FeedKind,
    /// Shown above its items; the feed's own title when absent.
    #[serde(default)]
    pub label: Option<String>,
}

/// A region's feeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    pub feeds: Vec<FeedConfig>,
}

/// One news or training item, text only.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FeedItem {
    pub title: String,
    /// Absolute http(s) link to the full article, if the feed gave one.
    pub link: Option<String>,
    /// Plain text (HTML tags removed), shortened.
    pub summary: Option<String>,
    pub published: Option<DateTime<Utc>>,
}

/// A parsed feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<FeedItem>,
}

/// Why a feed could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("the feed is larger than {MAX_FEED_BYTES} bytes")]
    TooLarge,
    #[error("document type declarations (DOCTYPE) are not allowed")]
    Doctype,
    #[error("unknown entity reference")]
    UnknownEntity,
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("unsupported character encoding")]
    Encoding,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    #[error("not an RSS 2.0 or Atom feed")]
    NotAFeed,
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("could not fetch the feed: {0}")]
    Fetch(String),
}

/// Why a region's stored feed settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] firstlink_store::StoreError),
    #[error("stored feed settings: {0}")]
    Stored(serde_json::Error),
}

/// The region's feeds as stored (none when none were saved).
pub async fn settings(app: &App, region: RegionId) -> Result<FeedSettings, LoadError> {
    match app.store.setting(&settings_key(region)).await? {
        None => Ok(FeedSettings::default()),
        Some(s) => serde_json::from_str(&s).map_err(LoadError::Stored),
    }
}
