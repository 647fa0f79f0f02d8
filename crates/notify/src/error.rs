//! Error types.

use std::time::Duration;

use crate::ChannelKind;

/// A configuration problem found by [`crate::Notifier::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has an unusable value. The message never contains secrets.
    #[error("invalid notify configuration `{field}`: {reason}")]
    Invalid {
        /// The offending field, e.g. `fcm.private_key_pem`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    HttpClient(String),
}

impl ConfigError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The channel is not configured in this server.
    #[error("{0} is not configured")]
    NotConfigured(ChannelKind),
    /// The recipient is gone or invalid (Web Push 404/410, FCM `UNREGISTERED`
    /// or an invalid token, APNs 410 / `BadDeviceToken` / `Unregistered`,
    /// malformed phone number or address...): stop using it.
    #[error("recipient permanently unreachable: {reason}")]
    Permanent {
        /// Provider's reason, for logs.
        reason: String,
    },
    /// The message itself cannot be sent on this channel (e.g. too large for
    /// a push payload). Retrying will not help, but the recipient is fine.
    #[error("message rejected: {reason}")]
    InvalidMessage {
        /// What is wrong with the message.
        reason: String,
    },
    /// Try again later (5xx, 429, timeouts, connection refused, expired
    /// provider credentials), honouring `retry_after` when present.
    #[error("temporary failure: {reason}")]
    Transient {
        /// Provider's reason, for logs.
        reason: String,
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

impl SendError {
    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }

    pub(crate) fn transient(reason: impl Into<String>) -> Self {
        SendError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub(crate) fn invalid_message(reason: impl Into<String>) -> Self {
        SendError::InvalidMessage {
            reason: reason.into(),
        }
    }

    /// Whether the recipient should be dropped.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent { .. })
    }

    /// Whether the send may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}
