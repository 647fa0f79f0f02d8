//! Configuration (one section of the server's TOML file).
//!
//! ```toml
//! [notify]
//! timeout_ms = 10000
//!
//! [notify.web_push]
//! vapid_private_key = "<base64url raw P-256 scalar>"   # see generate_vapid_keypair
//! subject = "mailto:ops@example.org"
//!
//! [notify.fcm]
//! project_id = "firstlink-prod"
//! client_email = "notify@firstlink-prod.iam.gserviceaccount.com"
//! private_key_pem = "-----BEGIN PRIVATE KEY-----\n..."
//! # token_uri = "https://oauth2.googleapis.com/token"
//! # api_base = "https://fcm.googleapis.com"
//!
//! [notify.apns]
//! team_id = "ABCDE12345"
//! key_id = "KEY1234567"
//! private_key_pem = "-----BEGIN PRIVATE KEY-----\n..."   # the .p8 file
//! topic = "org.example.firstlink"
//! # base_url = "https://api.push.apple.com"
//! # critical_alerts = false
//!
//! [notify.sms]
//! url = "https://sms-gateway.example.org/v1/messages"
//! auth_token = "..."
//! from = "firstlink"
//!
//! [notify.email]
//! smtp_host = "smtp.example.org"
//! # smtp_port defaults to 25 / 587 / 465 for none / starttls / tls
//! tls = "starttls"
//! username = "firstlink"
//! password = "..."
//! from = "firstlink <noreply@example.org>"
//!
//! [notify.webhook]
//! ```

use serde::Deserialize;

use crate::Secret;

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

fn default_fcm_api_base() -> String {
    "https://fcm.googleapis.com".to_owned()
}

fn default_apns_base_url() -> String {
    "https://api.push.apple.com".to_owned()
}

/// Notification settings. Every channel section is optional; a missing section
/// leaves that channel unconfigured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Timeout for one request to a provider, in milliseconds (default 10 000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Web Push (VAPID).
    #[serde(default)]
    pub web_push: Option<WebPushConfig>,
    /// Firebase Cloud Messaging HTTP v1.
    #[serde(default)]
    pub fcm: Option<FcmConfig>,
    /// Apple Push Notification service, token auth.
    #[serde(default)]
    pub apns: Option<ApnsConfig>,
    /// SMS gateway.
    #[serde(default)]
    pub sms: Option<SmsConfig>,
    /// SMTP e-mail.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// Signed webhooks (no settings; the section enables the channel).
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            timeout_ms: default_timeout_ms(),
            web_push: None,
            fcm: None,
            apns: None,
            sms: None,
            email: None,
            webhook: None,
        }
    }
}

/// Web Push settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPushConfig {
    /// The VAPID private key: the raw 32-byte P-256 scalar, base64url
    /// (as produced by [`crate::generate_vapid_keypair`]).
    pub vapid_private_key: Secret,
    /// Contact for the push service operator: `mailto:` or `https:` URL.
    pub subject: String,
}

/// Firebase Cloud Messaging settings (from the service account JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The Firebase project id.
    pub project_id: String,
    /// The service account's `client_email`.
    pub client_email: String,
    /// The service account's `private_key` (PKCS#8 RSA PEM).
    pub private_key_pem: Secret,
    /// OAuth2 token endpoint.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    /// FCM API base URL.
    #[serde(default = "default_fcm_api_base")]
    pub api_base: String,
}

/// APNs token-based authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The 10-character Apple developer team id (JWT `iss`).
    pub team_id: String,
    /// The key id of the .p8 signing key (JWT `kid`).
    pub key_id: String,
    /// The contents of the .p8 file (PKCS#8 P-256 PEM).
    pub private_key_pem: Secret,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// APNs base URL; `https://api.sandbox.push.apple.com` for development
    /// builds. An `http://` URL speaks HTTP/2 without TLS (tests).
    #[serde(default = "default_apns_base_url")]
    pub base_url: String,
    /// Send high-urgency alerts as `critical` (needs Apple's critical-alerts
    /// entitlement) instead of `time-sensitive`.
    #[serde(default)]
    pub critical_alerts: bool,
}

/// SMS gateway settings: messages are POSTed as JSON `{from, to, text}` with
/// `Authorization: Bearer <auth_token>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway endpoint.
    pub url: String,
    /// Bearer token for the gateway.
    pub auth_token: Secret,
    /// Sender id or number.
    pub from: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (only for a relay on localhost or a trusted network).
    None,
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// Implicit TLS from the first byte (SMTPS).
    Tls,
}

/// SMTP settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub smtp_host: String,
    /// Port; defaults to 25, 587 or 465 depending on `tls`.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// Transport security.
    pub tls: SmtpTls,
    /// SMTP AUTH user name (AUTH is used when both user and password are set).
    #[serde(default)]
    pub username: Option<String>,
    /// SMTP AUTH password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The `From` mailbox, e.g. `firstlink <noreply@example.org>`.
    pub from: String,
}

/// Webhook settings (currently none; the presence of the section enables the
/// channel).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {}
