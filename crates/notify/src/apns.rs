//! Apple Push Notification service, token-based (ES256 provider JWT) over HTTP/2.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::http::{body_text, config_url, retry_after, short, transport_error};
use crate::{ApnsConfig, ConfigError, Message, SendError, Urgency};

/// Apple rejects provider tokens older than an hour and throttles refreshes
/// more often than every 20 minutes.
const TOKEN_REFRESH: Duration = Duration::from_secs(50 * 60);

pub(crate) struct Apns {
    client: reqwest::Client,
    key: SigningKey,
    team_id: String,
    key_id: String,
    topic: String,
    base_url: String,
    critical_alerts: bool,
    token: Mutex<Option<(String, Instant)>>,
}

impl Apns {
    pub(crate) fn new(config: ApnsConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        let key = crate::jwt::p256_from_pkcs8_pem(
            "apns.private_key_pem",
            config.private_key_pem.expose(),
        )?;
        config_url("apns.base_url", &config.base_url)?;
        for (field, value) in [
            ("apns.team_id", &config.team_id),
            ("apns.key_id", &config.key_id),
            ("apns.topic", &config.topic),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::invalid(field, "must not be empty"));
            }
        }
        Ok(Apns {
            client,
            key,
            team_id: config.team_id.trim().to_owned(),
            key_id: config.key_id.trim().to_owned(),
            topic: config.topic.trim().to_owned(),
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            critical_alerts: config.critical_alerts,
            token: Mutex::new(None),
        })
    }

    fn provider_token(&self) -> String {
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, made)) = cached.as_ref()
            && made.elapsed() < TOKEN_REFRESH
        {
            return token.clone();
        }
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let claims = json!({"iss": self.team_id, "iat": crate::time::unix_now()});
        let token = crate::jwt::es256(&header, &claims, &self.key);
        *cached = Some((token.clone(), Instant::now()));
        token
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(crate) async fn send(
        &self,
        device_token: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        let device_token = device_token.trim();
        if device_token.is_empty()
            || device_token.len() > 200
            || !device_token.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(SendError::permanent("APNs device token is not hex"));
        }
        let high = msg.urgency == Urgency::High;
        let resp = self
            .client
            .post(format!("{}/3/device/{device_token}", self.base_url))
            .header("authorization", format!("bearer {}", self.provider_token()))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", if high { "10" } else { "5" })
            .header("apns-expiration", expiration(msg.ttl_seconds).to_string())
            .header("apns-collapse-id", collapse_id(&msg.id))
            .json(&payload(msg, self.critical_alerts))
            .send()
            .await
            .map_err(|e| transport_error("apns", &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp
                .headers()
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned));
        }
        let retry = retry_after(resp.headers());
        let text = body_text(resp).await;
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let apns_reason = parsed["reason"].as_str().unwrap_or_default();
        let reason = format!(
            "apns {status}: {}",
            short(if apns_reason.is_empty() {
                &text
            } else {
                apns_reason
            })
        );
        Err(match (status, apns_reason) {
            (StatusCode::GONE, _)
            | (_, "BadDeviceToken" | "Unregistered" | "DeviceTokenNotForTopic" | "ExpiredToken") => {
                SendError::Permanent { reason }
            }
            (_, "ExpiredProviderToken" | "InvalidProviderToken") => {
                self.forget_token();
                SendError::Transient {
                    reason,
                    retry_after: retry,
                }
            }
            (StatusCode::PAYLOAD_TOO_LARGE, _) => SendError::InvalidMessage { reason },
            (StatusCode::BAD_REQUEST, _) => SendError::InvalidMessage { reason },
            _ => SendError::Transient {
                reason,
                retry_after: retry,
            },
        })
    }
}

/// `apns-expiration`: 0 means "try once, do not store"; otherwise a Unix time.
pub(crate) fn expiration(ttl_seconds: u32) -> u64 {
    if ttl_seconds == 0 {
        0
    } else {
        crate::time::unix_now() + u64::from(ttl_seconds)
    }
}

/// `apns-collapse-id` must not exceed 64 bytes: longer ids are replaced by a
/// stable hash.
pub(crate) fn collapse_id(id: &str) -> String {
    if id.len() <= 64 {
        id.to_owned()
    } else {
        URL_SAFE_NO_PAD.encode(Sha256::digest(id.as_bytes()))
    }
}

/// The APNs JSON payload.
pub(crate) fn payload(msg: &Message, critical_alerts: bool) -> Value {
    let high = msg.urgency == Urgency::High;
    let mut aps = json!({
        "alert": {"title": msg.title, "body": msg.body},
        "sound": "default",
        "interruption-level": if high { "time-sensitive" } else { "active" },
    });
    if high && critical_alerts {
        aps["interruption-level"] = json!("critical");
        aps["sound"] = json!({"critical": 1, "name": "default", "volume": 1.0});
    }
    json!({"aps": aps, "id": msg.id, "data": msg.data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_id_is_bounded() {
        assert_eq!(collapse_id("alert-1"), "alert-1");
        let long = "x".repeat(100);
        assert_eq!(collapse_id(&long).len(), 43);
    }
}
