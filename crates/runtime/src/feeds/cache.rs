//! Fetching feeds and keeping each result for [`CACHE_TTL`] (a failure for
//! [`ERROR_TTL`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::Url;

use super::reader::parse_feed;
use super::{CACHE_TTL, ERROR_TTL, FETCH_TIMEOUT, FeedError, MAX_FEED_BYTES, ParsedFeed};

struct Cached {
    at: Instant,
    result: Result<Arc<ParsedFeed>, FeedError>,
}

fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static C: OnceLock<Mutex<HashMap<String, Cached>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn client() -> Option<&'static reqwest::Client> {
    static C: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!(
                "firstlink/",
                env!("CARGO_PKG_VERSION"),
                " (feed reader)"
            ))
            .build()
            .map_err(|e| tracing::error!(error = %e, "feed client"))
            .ok()
    })
    .as_ref()
}

async fn download(url: &Url) -> Result<Vec<u8>, FeedError> {
    let client = client().ok_or_else(|| FeedError::Fetch("no HTTP client".into()))?;
    let mut resp = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
        .send()
        .await
        .map_err(|e| FeedError::Fetch(if e.is_timeout() { "timed out".into() } else { "connection failed".into() }))?;
    if !resp.status().is_success() {
        return Err(FeedError::Status(resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_FEED_BYTES as u64)
    {
        return Err(FeedError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        FeedError::Fetch(if e.is_timeout() {
            "timed out".into()
        } else {
            "connection broken".into()
        })
    })? {
        if body.len() + chunk.len() > MAX_FEED_BYTES {
            return Err(FeedError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The feed at `url`, from the cache when fresh enough.
pub async fn fetch(url: &str) -> Result<Arc<ParsedFeed>, FeedError> {
    {
        let c = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(x) = c.get(url) {
            let ttl = if x.result.is_ok() {
                CACHE_TTL
            } else {
                ERROR_TTL
            };
            if x.at.elapsed() < ttl {
                return x.result.clone();
            }
        }
    }
    let result = match Url::parse(url) {
        Ok(u) => download(&u)
            .await
            .and_then(|b| parse_feed(&b, Some(&u)))
            .map(Arc::new),
        Err(_) => Err(FeedError::Fetch("invalid URL".into())),
    };
    if let Err(e) = &result {
        tracing::warn!(feed = %url, error = %e, "feed unavailable");
    }
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.len() > 1_000 {
        c.retain(|_, x| x.at.elapsed() < CACHE_TTL);
    }
    c.insert(
        url.to_string(),
        Cached {
            at: Instant::now(),
            result: result.clone(),
        },
    );
    result
}

/// Drops the cached copy of `url` (after its settings changed).
pub fn forget(url: &str) {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(url);
}
