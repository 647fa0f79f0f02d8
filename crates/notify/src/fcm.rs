//! Firebase Cloud Messaging HTTP v1 with the OAuth2 service-account flow
//! (RFC 7523 JWT bearer assertion).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::http::{body_text, config_url, retry_after, short, transport_error};
use crate::jwt::RsaKey;
use crate::{ConfigError, FcmConfig, Message, SendError, Urgency};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE_URLENCODED: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// Assertion lifetime; Google accepts at most one hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Refresh the access token this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

pub(crate) struct Fcm {
    client: reqwest::Client,
    key: RsaKey,
    client_email: String,
    token_uri: String,
    send_url: String,
    token: Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Fcm {
    pub(crate) fn new(config: FcmConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        let key = RsaKey::from_pkcs8_pem("fcm.private_key_pem", config.private_key_pem.expose())?;
        config_url("fcm.token_uri", &config.token_uri)?;
        config_url("fcm.api_base", &config.api_base)?;
        let project = config.project_id.trim();
        if project.is_empty()
            || !project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.')
        {
            return Err(ConfigError::invalid(
                "fcm.project_id",
                "must be a Firebase project id",
            ));
        }
        if config.client_email.trim().is_empty() {
            return Err(ConfigError::invalid(
                "fcm.client_email",
                "must not be empty",
            ));
        }
        let send_url = format!(
            "{}/v1/projects/{project}/messages:send",
            config.api_base.trim_end_matches('/')
        );
        Ok(Fcm {
            client,
            key,
            client_email: config.client_email.trim().to_owned(),
            token_uri: config.token_uri,
            send_url,
            token: Mutex::new(None),
        })
    }

    /// A valid access token, from the cache or freshly fetched. The lock is
    /// held during the fetch so concurrent sends share one token request.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let now = crate::time::unix_now();
        let header = json!({"alg": "RS256", "typ": "JWT"});
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let assertion = self
            .key
            .rs256(&header, &claims)
            .ok_or_else(|| SendError::transient("fcm: signing the OAuth assertion failed"))?;
        let started = Instant::now();
        let resp = self
            .client
            .post(&self.token_uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type={GRANT_TYPE_URLENCODED}&assertion={assertion}"
            ))
            .send()
            .await
            .map_err(|e| transport_error("fcm oauth", &e))?;
        let status = resp.status();
        if !status.is_success() {
            // A rejected assertion is our configuration's fault, never the
            // recipient's: report it as transient.
            return Err(SendError::Transient {
                retry_after: retry_after(resp.headers()),
                reason: format!("fcm oauth {status}: {}", short(&body_text(resp).await)),
            });
        }
        let parsed: TokenResponse = resp
            .json()
            .await
            .map_err(|_| SendError::transient("fcm oauth: malformed token response"))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let refresh_at = started + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(CachedToken {
            token: parsed.access_token.clone(),
            refresh_at,
        });
        Ok(parsed.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    pub(crate) async fn send(
        &self,
        token: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        if token.trim().is_empty() {
            return Err(SendError::permanent("empty FCM registration token"));
        }
        let body = message_body(token, msg);
        let access = self.access_token().await?;
        let resp = self
            .client
            .post(&self.send_url)
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error("fcm", &e))?;
        let status = resp.status();
        if status.is_success() {
            #[derive(Deserialize)]
            struct Sent {
                name: Option<String>,
            }
            let sent: Option<Sent> = resp.json().await.ok();
            return Ok(sent.and_then(|s| s.name));
        }
        let retry = retry_after(resp.headers());
        let text = body_text(resp).await;
        let err = classify_error(status, &text, retry);
        if status == StatusCode::UNAUTHORIZED {
            self.forget_token().await;
        }
        Err(err)
    }
}

/// Builds the `messages:send` request body.
pub(crate) fn message_body(token: &str, msg: &Message) -> Value {
    let high = msg.urgency == Urgency::High;
    json!({
        "message": {
            "token": token,
            "notification": {"title": msg.title, "body": msg.body},
            "data": string_map(&msg.id, &msg.data),
            "android": {
                "priority": if high { "high" } else { "normal" },
                "collapse_key": msg.id,
                "ttl": format!("{}s", msg.ttl_seconds),
            },
            "apns": {
                "headers": {
                    "apns-priority": if high { "10" } else { "5" },
                    "apns-collapse-id": crate::apns::collapse_id(&msg.id),
                    "apns-expiration": crate::apns::expiration(msg.ttl_seconds).to_string(),
                },
            },
        }
    })
}

/// FCM `data` must be a map of strings: top-level string values are kept,
/// other values are JSON-encoded; a non-object becomes `{"data": <json>}`.
/// The message id is added as `id` unless the data already has one.
fn string_map(id: &str, data: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    match data {
        Value::Object(map) => {
            for (k, v) in map {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(k.clone(), Value::String(s));
            }
        }
        Value::Null => {}
        other => {
            out.insert("data".to_owned(), Value::String(other.to_string()));
        }
    }
    out.entry("id")
        .or_insert_with(|| Value::String(id.to_owned()));
    out
}

/// Maps an FCM v1 error response to a [`SendError`].
fn classify_error(status: StatusCode, text: &str, retry: Option<Duration>) -> SendError {
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let api_status = error["status"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or(text);
    let details = error["details"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let fcm_code = details
        .iter()
        .find_map(|d| d["errorCode"].as_str())
        .unwrap_or_default();
    let about_token = details.iter().any(|d| {
        d["fieldViolations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|f| f["field"] == "message.token"))
    }) || message.to_ascii_lowercase().contains("registration token");
    let code = if fcm_code.is_empty() {
        api_status
    } else {
        fcm_code
    };
    let reason = format!("fcm {status} {code}: {}", short(message));

    if status == StatusCode::NOT_FOUND || fcm_code == "UNREGISTERED" {
        return SendError::Permanent { reason };
    }
    if fcm_code == "SENDER_ID_MISMATCH" {
        return SendError::Permanent { reason };
    }
    if status == StatusCode::BAD_REQUEST || api_status == "INVALID_ARGUMENT" {
        return if about_token {
            SendError::Permanent { reason }
        } else {
            SendError::InvalidMessage { reason }
        };
    }
    SendError::Transient {
        reason,
        retry_after: retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_becomes_string_map() {
        let m = string_map(
            "alert-1",
            &json!({"mission": "m1", "n": 3, "o": {"a": true}}),
        );
        assert_eq!(m["mission"], "m1");
        assert_eq!(m["n"], "3");
        assert_eq!(m["o"], r#"{"a":true}"#);
        assert_eq!(m["id"], "alert-1");
        let m = string_map("x", &json!([1, 2]));
        assert_eq!(m["data"], "[1,2]");
    }

    #[test]
    fn classifies_errors() {
        let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert!(classify_error(StatusCode::NOT_FOUND, unregistered, None).is_permanent());
        let bad_token = r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#;
        assert!(classify_error(StatusCode::BAD_REQUEST, bad_token, None).is_permanent());
        let bad_ttl = r#"{"error":{"code":400,"message":"Invalid value at 'message.android.ttl'","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.android.ttl","description":"Invalid value"}]}]}}"#;
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, bad_ttl, None),
            SendError::InvalidMessage { .. }
        ));
        let quota = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"errorCode":"QUOTA_EXCEEDED"}]}}"#;
        assert_eq!(
            classify_error(
                StatusCode::TOO_MANY_REQUESTS,
                quota,
                Some(Duration::from_secs(7))
            ),
            SendError::Transient {
                reason: "fcm 429 Too Many Requests QUOTA_EXCEEDED: quota".to_owned(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        assert!(classify_error(StatusCode::BAD_GATEWAY, "<html>", None).is_transient());
    }
}
