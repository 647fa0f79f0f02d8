//! SMS through an HTTP gateway: `POST {url}` with JSON `{from, to, text}` and
//! `Authorization: Bearer <auth_token>`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::http::{body_text, config_url, retry_after, short, transport_error};
use crate::{ConfigError, Message, Secret, SendError, SmsConfig};

pub(crate) struct Sms {
    client: reqwest::Client,
    url: String,
    auth_token: Secret,
    from: String,
}

impl Sms {
    pub(crate) fn new(config: SmsConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config_url("sms.url", &config.url)?;
        if config.from.trim().is_empty() {
            return Err(ConfigError::invalid("sms.from", "must not be empty"));
        }
        Ok(Sms {
            client,
            url: config.url,
            auth_token: config.auth_token,
            from: config.from,
        })
    }

    pub(crate) async fn send(
        &self,
        phone: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        let phone = phone.trim();
        if !is_e164(phone) {
            return Err(SendError::permanent("phone number is not E.164"));
        }
        let resp = self
            .client
            .post(&self.url)
            .bearer_auth(self.auth_token.expose())
            .header("Idempotency-Key", &msg.id)
            .json(&json!({"from": self.from, "to": phone, "text": sms_text(msg)}))
            .send()
            .await
            .map_err(|e| transport_error("sms gateway", &e))?;
        let status = resp.status();
        if status.is_success() {
            let id = resp.json::<Value>().await.ok().and_then(|v| {
                v.get("id").and_then(|id| match id {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
            });
            return Ok(id);
        }
        let retry = retry_after(resp.headers());
        let reason = format!("sms gateway {status}: {}", short(&body_text(resp).await));
        Err(match status {
            // Our credentials or a gateway timeout: not the number's fault.
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::REQUEST_TIMEOUT => SendError::Transient {
                reason,
                retry_after: retry,
            },
            s if s.is_client_error() => SendError::Permanent { reason },
            _ => SendError::Transient {
                reason,
                retry_after: retry,
            },
        })
    }
}

/// The SMS text: title and body on separate lines (the title is omitted when
/// empty or already the start of the body).
fn sms_text(msg: &Message) -> String {
    let title = msg.title.trim();
    if title.is_empty() || msg.body.starts_with(title) {
        msg.body.clone()
    } else {
        format!("{title}\n{}", msg.body)
    }
}

/// `+` followed by 8 to 15 digits, no leading zero.
fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+46701234567"));
        assert!(is_e164("+4512345678"));
        assert!(!is_e164("0701234567"));
        assert!(!is_e164("+46 70 123 45 67"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+"));
    }
}
