//! Signed webhooks to integrators.
//!
//! The body is JSON `{id, title, body, data, sent_at}`; the headers carry
//! `Idempotency-Key: <id>` and
//! `Firstlink-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Sha256;

use crate::http::{body_text, hex, retry_after, short, transport_error};
use crate::{Message, SendError};

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "Firstlink-Signature";

pub(crate) struct Webhook {
    client: reqwest::Client,
}

/// HMAC-SHA256 over `"<t>.<body>"` (HMAC accepts keys of any length, so
/// `None` does not happen in practice).
fn mac(secret: &str, t: u64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// The `Firstlink-Signature` value for `body` signed at Unix time `t`.
pub(crate) fn signature_header(secret: &str, t: u64, body: &[u8]) -> Option<String> {
    let m = mac(secret, t, body)?;
    Some(format!("t={t},v1={}", hex(&m.finalize().into_bytes())))
}

/// Checks a `Firstlink-Signature` header for a raw request `body`.
///
/// `now` is the receiver's current Unix time in seconds; the signature's
/// timestamp must be within `tolerance` of it (replay protection). Several
/// `v1=` entries are allowed (secret rotation); any valid one suffices. The
/// comparison is constant-time.
pub fn verify_webhook_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> bool {
    let mut t: Option<u64> = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => match v.parse() {
                Ok(parsed) if t.is_none() => t = Some(parsed),
                _ => return false,
            },
            "v1" => candidates.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now.abs_diff(t) > tolerance.as_secs() {
        return false;
    }
    candidates.into_iter().any(|candidate| {
        let Some(sig) = unhex(candidate) else {
            return false;
        };
        mac(secret, t, body).is_some_and(|m| m.verify_slice(&sig).is_ok())
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Webhook {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Webhook { client }
    }

    pub(crate) async fn send(
        &self,
        url: &str,
        secret: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => return Err(SendError::permanent("webhook URL is not an http(s) URL")),
        }
        if secret.is_empty() {
            return Err(SendError::permanent("webhook secret is empty"));
        }
        let now = crate::time::unix_now();
        let body = json!({
            "id": msg.id,
            "title": msg.title,
            "body": msg.body,
            "data": msg.data,
            "sent_at": crate::time::rfc3339(now),
        })
        .to_string();
        let signature = signature_header(secret, now, body.as_bytes())
            .ok_or_else(|| SendError::permanent("webhook secret unusable"))?;
        let resp = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &msg.id)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("webhook", &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(None);
        }
        let retry = retry_after(resp.headers());
        let reason = format!("webhook {status}: {}", short(&body_text(resp).await));
        Err(if status == StatusCode::GONE {
            SendError::Permanent { reason }
        } else {
            SendError::Transient {
                reason,
                retry_after: retry,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let h = signature_header("s3cret", 1_700_000_000, b"{\"a\":1}").unwrap();
        // Independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            h,
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        let tol = Duration::from_secs(300);
        assert!(verify_webhook_signature(
            "s3cret",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            tol
        ));
        assert!(!verify_webhook_signature(
            "s3cret",
            &h,
            b"{\"a\":2}",
            1_700_000_100,
            tol
        ));
        assert!(!verify_webhook_signature(
            "other",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            tol
        ));
        assert!(!verify_webhook_signature(
            "s3cret",
            &h,
            b"{\"a\":1}",
            1_700_000_301,
            tol
        ));
        assert!(!verify_webhook_signature("s3cret", "garbage", b"", 0, tol));
        assert!(!verify_webhook_signature(
            "s3cret",
            "t=1,v1=zz",
            b"",
            1,
            tol
        ));
        // A rotated-out signature next to a valid one still verifies.
        let rotated = format!("{h},v1={}", "00".repeat(32));
        assert!(verify_webhook_signature(
            "s3cret",
            &rotated,
            b"{\"a\":1}",
            1_700_000_000,
            tol
        ));
    }
}
