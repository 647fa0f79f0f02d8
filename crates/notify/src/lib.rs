//! firstlink-notify: the outbound notification channels of the firstlink
//! mission server, plus the localized texts sent through them.
//!
//! Channels:
//! - **Web Push** (RFC 8030) with message encryption (RFC 8291, `aes128gcm`
//!   content coding of RFC 8188) and VAPID (RFC 8292),
//! - **Firebase Cloud Messaging** HTTP v1 with the OAuth2 service-account flow,
//! - **Apple Push Notification service** with token (ES256 JWT) auth over HTTP/2,
//! - **SMS** through a configurable HTTP gateway (`POST {from,to,text}`, Bearer auth),
//! - **E-mail** over SMTP (lettre, rustls),
//! - **Webhooks** signed with HMAC-SHA256 (see [`verify_webhook_signature`]).
//!
//! The entry point is [`Notifier`], built from a [`NotifyConfig`] (one section
//! of the server's TOML configuration). [`Notifier::send`] returns
//! [`SendError::Permanent`] when a recipient should no longer be used and
//! [`SendError::Transient`] when the send may be retried later.

mod apns;
mod config;
mod email;
mod error;
mod fcm;
mod http;
mod jwt;
mod secret;
mod sms;
pub mod texts;
mod time;
mod webhook;
mod webpush;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::{
    ApnsConfig, EmailConfig, FcmConfig, NotifyConfig, SmsConfig, SmtpTls, WebPushConfig,
    WebhookConfig,
};
pub use error::{ConfigError, SendError};
pub use secret::Secret;
pub use webhook::{SIGNATURE_HEADER, verify_webhook_signature};
pub use webpush::generate_vapid_keypair;

/// The kind of an outbound channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Browser Web Push (RFC 8030/8291/8292).
    WebPush,
    /// Firebase Cloud Messaging HTTP v1 (Android, and iOS through Firebase).
    Fcm,
    /// Apple Push Notification service (token auth).
    Apns,
    /// SMS through the configured HTTP gateway.
    Sms,
    /// E-mail over SMTP.
    Email,
    /// Signed HTTP webhook to an integrator.
    Webhook,
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChannelKind::WebPush => "web push",
            ChannelKind::Fcm => "FCM",
            ChannelKind::Apns => "APNs",
            ChannelKind::Sms => "SMS",
            ChannelKind::Email => "e-mail",
            ChannelKind::Webhook => "webhook",
        })
    }
}

/// Where a message goes. The variant decides the channel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recipient {
    /// A browser push subscription, as returned by `PushManager.subscribe`
    /// (`endpoint`, `keys.p256dh`, `keys.auth`; keys base64url).
    WebPush {
        /// The push service URL of the subscription.
        endpoint: String,
        /// The user agent's P-256 public key (uncompressed point, base64url).
        p256dh: String,
        /// The 16-byte authentication secret (base64url).
        auth: String,
    },
    /// An FCM registration token.
    Fcm {
        /// The registration token the app obtained from Firebase.
        token: String,
    },
    /// An APNs device token (hex).
    Apns {
        /// The device token, hex encoded as usually stored.
        device_token: String,
    },
    /// A mobile phone number.
    Sms {
        /// E.164, e.g. `+46701234567`.
        phone: String,
    },
    /// An e-mail address.
    Email {
        /// The address, e.g. `volunteer@example.org`.
        address: String,
    },
    /// An integrator's webhook endpoint.
    Webhook {
        /// The URL to POST to (http or https).
        url: String,
        /// The shared secret used to sign the body.
        secret: String,
    },
}

impl Recipient {
    /// The channel this recipient is reached through.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Recipient::WebPush { .. } => ChannelKind::WebPush,
            Recipient::Fcm { .. } => ChannelKind::Fcm,
            Recipient::Apns { .. } => ChannelKind::Apns,
            Recipient::Sms { .. } => ChannelKind::Sms,
            Recipient::Email { .. } => ChannelKind::Email,
            Recipient::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

/// Recipients carry credentials (push tokens, webhook secrets): only the
/// channel and a non-secret hint are printed.
impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::WebPush { endpoint, .. } => f
                .debug_struct("WebPush")
                .field("endpoint", &http::origin_of(endpoint).unwrap_or_default())
                .finish_non_exhaustive(),
            Recipient::Fcm { .. } => f.debug_struct("Fcm").finish_non_exhaustive(),
            Recipient::Apns { .. } => f.debug_struct("Apns").finish_non_exhaustive(),
            Recipient::Sms { phone } => f.debug_struct("Sms").field("phone", phone).finish(),
            Recipient::Email { address } => {
                f.debug_struct("Email").field("address", address).finish()
            }
            Recipient::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("secret", &"***")
                .finish(),
        }
    }
}

/// How urgent a message is. Maps to the Web Push `Urgency` header, APNs
/// priority / interruption level and the FCM Android priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Deliver whenever convenient (e.g. only on power and Wi-Fi).
    VeryLow,
    /// Deliver when the device is on power or Wi-Fi.
    Low,
    /// Normal delivery.
    #[default]
    Normal,
    /// Deliver immediately, waking the device (alerts).
    High,
}

impl Urgency {
    /// The RFC 8030 `Urgency` header value.
    pub fn as_header_value(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id of this notification (e.g. `alert-<uuid>`). Used as collapse
    /// key / `Topic` / `apns-collapse-id` / `Idempotency-Key`, so a resend
    /// after a crash replaces the earlier copy instead of duplicating it.
    pub id: String,
    /// Delivery urgency.
    pub urgency: Urgency,
    /// How long the provider should keep trying to deliver, in seconds.
    pub ttl_seconds: u32,
    /// Short title (notification title, e-mail subject).
    pub title: String,
    /// Body text.
    pub body: String,
    /// Structured data for the app.
    pub data: serde_json::Value,
}

/// A message accepted by a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The channel it went through.
    pub channel: ChannelKind,
    /// The provider's id for the message, when it returns one (Web Push
    /// `Location`, FCM message name, `apns-id`, gateway id, SMTP Message-ID).
    pub provider_id: Option<String>,
}

/// The notification client: one per process, cheap to share behind an `Arc`.
pub struct Notifier {
    web_push: Option<webpush::WebPush>,
    fcm: Option<fcm::Fcm>,
    apns: Option<apns::Apns>,
    sms: Option<sms::Sms>,
    email: Option<email::Email>,
    webhook: Option<webhook::Webhook>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("web_push", &self.web_push.is_some())
            .field("fcm", &self.fcm.is_some())
            .field("apns", &self.apns.is_some())
            .field("sms", &self.sms.is_some())
            .field("email", &self.email.is_some())
            .field("webhook", &self.webhook.is_some())
            .finish()
    }
}

impl Notifier {
    /// Builds the clients for every configured channel, validating keys and URLs.
    pub fn new(config: NotifyConfig) -> Result<Self, ConfigError> {
        if config.timeout_ms == 0 {
            return Err(ConfigError::invalid("timeout_ms", "must be positive"));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        // One HTTP/1.1 + HTTP/2 (ALPN) client shared by the HTTP channels;
        // APNs gets its own HTTP/2-only client.
        let client = http::client(timeout, false)?;
        Ok(Notifier {
            web_push: config
                .web_push
                .map(|c| webpush::WebPush::new(c, client.clone()))
                .transpose()?,
            fcm: config
                .fcm
                .map(|c| fcm::Fcm::new(c, client.clone()))
                .transpose()?,
            apns: config
                .apns
                .map(|c| apns::Apns::new(c, http::client(timeout, true)?))
                .transpose()?,
            sms: config
                .sms
                .map(|c| sms::Sms::new(c, client.clone()))
                .transpose()?,
            email: config
                .email
                .map(|c| email::Email::new(c, timeout))
                .transpose()?,
            webhook: config
                .webhook
                .map(|_| webhook::Webhook::new(client.clone())),
        })
    }

    /// Sends one message. `Ok` means the provider accepted it.
    pub async fn send(&self, to: &Recipient, msg: &Message) -> Result<Delivered, SendError> {
        let kind = to.kind();
        let not_configured = || SendError::NotConfigured(kind);
        let provider_id = match to {
            Recipient::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                let wp = self.web_push.as_ref().ok_or_else(not_configured)?;
                wp.send(endpoint, p256dh, auth, msg).await?
            }
            Recipient::Fcm { token } => {
                let fcm = self.fcm.as_ref().ok_or_else(not_configured)?;
                fcm.send(token, msg).await?
            }
            Recipient::Apns { device_token } => {
                let apns = self.apns.as_ref().ok_or_else(not_configured)?;
                apns.send(device_token, msg).await?
            }
            Recipient::Sms { phone } => {
                let sms = self.sms.as_ref().ok_or_else(not_configured)?;
                sms.send(phone, msg).await?
            }
            Recipient::Email { address } => {
                let email = self.email.as_ref().ok_or_else(not_configured)?;
                email.send(address, msg).await?
            }
            Recipient::Webhook { url, secret } => {
                let webhook = self.webhook.as_ref().ok_or_else(not_configured)?;
                webhook.send(url, secret, msg).await?
            }
        };
        Ok(Delivered {
            channel: kind,
            provider_id,
        })
    }

    /// Whether a channel is configured; an unconfigured channel answers
    /// [`SendError::NotConfigured`].
    pub fn configured(&self, kind: ChannelKind) -> bool {
        match kind {
            ChannelKind::WebPush => self.web_push.is_some(),
            ChannelKind::Fcm => self.fcm.is_some(),
            ChannelKind::Apns => self.apns.is_some(),
            ChannelKind::Sms => self.sms.is_some(),
            ChannelKind::Email => self.email.is_some(),
            ChannelKind::Webhook => self.webhook.is_some(),
        }
    }

    /// The VAPID public key (uncompressed P-256 point, base64url without
    /// padding) that browsers pass as `applicationServerKey` to
    /// `PushManager.subscribe`. `None` when Web Push is not configured.
    pub fn vapid_public_key(&self) -> Option<String> {
        self.web_push
            .as_ref()
            .map(|wp| wp.public_key_b64().to_owned())
    }
}
