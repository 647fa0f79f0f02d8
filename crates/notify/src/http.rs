//! Shared HTTP helpers.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{ConfigError, SendError};

/// Builds a reqwest client. `http2_only` forces HTTP/2 (prior knowledge on
/// `http://`, ALPN `h2` on `https://`), as APNs requires.
pub(crate) fn client(timeout: Duration, http2_only: bool) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("firstlink-notify/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    builder
        .build()
        .map_err(|e| ConfigError::HttpClient(e.to_string()))
}

/// Parses and checks an http(s) base URL from the configuration.
pub(crate) fn config_url(field: &'static str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|e| ConfigError::invalid(field, e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(ConfigError::invalid(field, "must be an http(s) URL")),
    }
}

/// `scheme://host[:port]` of a URL, e.g. the VAPID audience.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The `Retry-After` header, if present and parseable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    crate::time::parse_retry_after(value, crate::time::unix_now())
}

/// Maps a transport-level reqwest error (no response) to a [`SendError`].
pub(crate) fn transport_error(what: &str, err: &reqwest::Error) -> SendError {
    if err.is_builder() {
        // Malformed URL or header built from recipient data.
        SendError::permanent(format!("{what}: invalid request: {}", without_url(err)))
    } else if err.is_timeout() {
        SendError::transient(format!("{what}: timed out"))
    } else {
        SendError::transient(format!("{what}: {}", without_url(err)))
    }
}

/// reqwest's error text includes the URL, which can carry tokens (APNs device
/// tokens, webhook URLs with keys): log the error kind only.
fn without_url(err: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    if chain.is_empty() {
        if err.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        }
    } else {
        chain.join(": ")
    }
}

/// Reads a response body for diagnostics, capped to a few KiB.
pub(crate) async fn body_text(resp: reqwest::Response) -> String {
    match resp.bytes().await {
        Ok(bytes) => {
            let cut = &bytes[..bytes.len().min(4096)];
            String::from_utf8_lossy(cut).into_owned()
        }
        Err(_) => String::new(),
    }
}

/// Collapses whitespace and truncates provider text for error reasons.
pub(crate) fn short(text: &str) -> String {
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > 300 {
        let mut s: String = collapsed.chars().take(300).collect();
        s.push('…');
        s
    } else {
        collapsed
    }
}

/// Lowercase hex encoding.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}
