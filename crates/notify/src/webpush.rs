//! Web Push: RFC 8030 delivery, RFC 8291 message encryption (RFC 8188
//! `aes128gcm`, one record) and RFC 8292 VAPID.

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use rand_core::{OsRng, RngCore as _};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::http::{body_text, config_url, origin_of, retry_after, short, transport_error};
use crate::{ConfigError, Message, SendError, WebPushConfig};

/// RFC 8188 record size we announce. Push services accept bodies up to 4096
/// bytes, so one record always fits.
const RECORD_SIZE: u32 = 4096;
/// Largest encrypted body push services must accept (RFC 8030 section 7.2).
const MAX_BODY: usize = 4096;
/// VAPID JWT lifetime (RFC 8292 caps it at 24 h).
const VAPID_LIFETIME_SECS: u64 = 12 * 3600;

/// Generates a new VAPID key pair: `(private, public)`, both base64url without
/// padding. The private key is the raw 32-byte scalar (for
/// `web_push.vapid_private_key`), the public key the 65-byte uncompressed
/// point browsers use as `applicationServerKey`.
pub fn generate_vapid_keypair() -> (String, String) {
    let secret = SecretKey::random(&mut OsRng);
    let public = secret.public_key().to_encoded_point(false);
    (
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        URL_SAFE_NO_PAD.encode(public.as_bytes()),
    )
}

pub(crate) struct WebPush {
    client: reqwest::Client,
    key: SigningKey,
    public_b64: String,
    subject: String,
}

impl WebPush {
    pub(crate) fn new(config: WebPushConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        const FIELD: &str = "web_push.vapid_private_key";
        let raw = decode_b64url(config.vapid_private_key.expose())
            .ok_or_else(|| ConfigError::invalid(FIELD, "not base64url"))?;
        let secret = SecretKey::from_slice(&raw)
            .map_err(|_| ConfigError::invalid(FIELD, "not a 32-byte P-256 scalar"))?;
        let public_b64 =
            URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        let subject = config.subject.trim().to_owned();
        if subject.starts_with("mailto:") {
            if subject.len() <= "mailto:".len() {
                return Err(ConfigError::invalid("web_push.subject", "empty mailto:"));
            }
        } else {
            config_url("web_push.subject", &subject)?;
            if !subject.starts_with("https:") {
                return Err(ConfigError::invalid(
                    "web_push.subject",
                    "must be a mailto: or https: URL",
                ));
            }
        }
        Ok(WebPush {
            client,
            key: SigningKey::from(secret),
            public_b64,
            subject,
        })
    }

    pub(crate) fn public_key_b64(&self) -> &str {
        &self.public_b64
    }

    fn vapid_authorization(&self, endpoint: &str) -> Result<String, SendError> {
        let aud = origin_of(endpoint)
            .ok_or_else(|| SendError::permanent("web push endpoint is not a valid URL"))?;
        let header = json!({"typ": "JWT", "alg": "ES256"});
        let claims = json!({
            "aud": aud,
            "exp": crate::time::unix_now() + VAPID_LIFETIME_SECS,
            "sub": self.subject,
        });
        let jwt = crate::jwt::es256(&header, &claims, &self.key);
        Ok(format!("vapid t={jwt}, k={}", self.public_b64))
    }

    pub(crate) async fn send(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        match reqwest::Url::parse(endpoint) {
            Ok(url) if url.scheme() == "https" || url.scheme() == "http" => {}
            _ => {
                return Err(SendError::permanent(
                    "web push endpoint is not an http(s) URL",
                ));
            }
        }
        let ua_public =
            decode_b64url(p256dh).ok_or_else(|| SendError::permanent("p256dh is not base64url"))?;
        let auth_secret =
            decode_b64url(auth).ok_or_else(|| SendError::permanent("auth is not base64url"))?;
        let payload = json!({
            "id": msg.id,
            "title": msg.title,
            "body": msg.body,
            "data": msg.data,
        })
        .to_string();
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let as_secret = SecretKey::random(&mut OsRng);
        let body = encrypt(
            payload.as_bytes(),
            &ua_public,
            &auth_secret,
            &as_secret,
            salt,
        )?;
        if body.len() > MAX_BODY {
            return Err(SendError::invalid_message(format!(
                "encrypted web push payload is {} bytes, limit {MAX_BODY}",
                body.len()
            )));
        }

        let resp = self
            .client
            .post(endpoint)
            .header("TTL", msg.ttl_seconds.to_string())
            .header("Urgency", msg.urgency.as_header_value())
            .header("Topic", topic_for(&msg.id))
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", self.vapid_authorization(endpoint)?)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("web push", &e))?;

        let status = resp.status();
        if status.is_success() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok(location);
        }
        let retry = retry_after(resp.headers());
        let reason = format!("web push {status}: {}", short(&body_text(resp).await));
        Err(match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => SendError::Permanent { reason },
            // 400: malformed subscription data; 403: the subscription belongs
            // to another application server key. Neither can succeed later.
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => SendError::Permanent { reason },
            StatusCode::PAYLOAD_TOO_LARGE => SendError::InvalidMessage { reason },
            // 401 (our VAPID token), 429 and 5xx: not the subscriber's fault.
            _ => SendError::Transient {
                reason,
                retry_after: retry,
            },
        })
    }
}

/// A `Topic` header value (RFC 8030 section 5.4: at most 32 characters of the
/// base64url alphabet) derived from the message id: the first 24 bytes of its
/// SHA-256, base64url (exactly 32 characters).
pub(crate) fn topic_for(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// Decodes base64url, tolerating padding and the standard alphabet (some
/// clients serialize subscription keys that way).
fn decode_b64url(value: &str) -> Option<Vec<u8>> {
    let cleaned: String = value
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

/// RFC 8291 encryption of `plaintext` for the user agent key `ua_public`
/// (65-byte uncompressed point) and `auth_secret` (16 bytes), using the
/// application server's ephemeral key `as_secret` and `salt`. Returns the
/// complete `aes128gcm` body (RFC 8188 header followed by one record).
pub(crate) fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    as_secret: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, SendError> {
    if auth_secret.len() != 16 {
        return Err(SendError::permanent("auth secret must be 16 bytes"));
    }
    if ua_public.len() != 65 {
        return Err(SendError::permanent(
            "p256dh must be an uncompressed P-256 point",
        ));
    }
    let ua_key = PublicKey::from_sec1_bytes(ua_public)
        .map_err(|_| SendError::permanent("p256dh is not a valid P-256 point"))?;
    let as_public = as_secret.public_key().to_encoded_point(false);
    let as_public = as_public.as_bytes();

    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());

    // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| SendError::permanent("hkdf expand failed"))?;

    // RFC 8188: PRK = HKDF-Extract(salt, IKM); CEK and nonce from it.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| SendError::permanent("hkdf expand failed"))?;

    // Single (last) record: plaintext followed by the 0x02 delimiter.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek)
        .map_err(|_| SendError::permanent("bad content encryption key"))?;
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| SendError::invalid_message("payload encryption failed"))?;
    if ciphertext.len() > RECORD_SIZE as usize {
        return Err(SendError::invalid_message(format!(
            "web push payload of {} bytes exceeds the record size",
            plaintext.len()
        )));
    }

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + ciphertext.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    /// The worked example of RFC 8291, Appendix A, byte for byte.
    #[test]
    fn rfc8291_appendix_a() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let as_private = b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let ua_public = b64(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        );
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let expected = b64(concat!(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
            "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
            "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        ));
        let as_secret = SecretKey::from_slice(&as_private).unwrap();
        let body = encrypt(plaintext, &ua_public, &auth, &as_secret, salt).unwrap();
        assert_eq!(body, expected);
    }

    #[test]
    fn topic_is_short_and_urlsafe() {
        let t = topic_for("alert-7b0d7f0e-0000-4000-8000-000000000000");
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(t, topic_for("alert-7b0d7f0e-0000-4000-8000-000000000000"));
        assert_ne!(t, topic_for("alert-other"));
    }

    #[test]
    fn rejects_bad_subscription_keys() {
        let s = SecretKey::random(&mut OsRng);
        assert!(
            encrypt(b"x", &[4; 65], &[0; 16], &s, [0; 16])
                .unwrap_err()
                .is_permanent()
        );
        assert!(
            encrypt(b"x", &[4; 10], &[0; 16], &s, [0; 16])
                .unwrap_err()
                .is_permanent()
        );
    }
}
