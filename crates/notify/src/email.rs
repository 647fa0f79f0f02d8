//! E-mail over SMTP (lettre on tokio with rustls).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message as Mail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use crate::{ConfigError, EmailConfig, Message, SendError, SmtpTls};

pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Email {
    pub(crate) fn new(config: EmailConfig, timeout: Duration) -> Result<Self, ConfigError> {
        let host = config.smtp_host.trim();
        if host.is_empty() {
            return Err(ConfigError::invalid("email.smtp_host", "must not be empty"));
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| ConfigError::invalid("email.from", format!("not a mailbox: {e}")))?;
        let tls_err = |e: lettre::transport::smtp::Error| {
            ConfigError::invalid("email.tls", format!("cannot set up TLS: {e}"))
        };
        let (builder, default_port) = match config.tls {
            SmtpTls::None => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                25,
            ),
            SmtpTls::Starttls => (
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_err)?,
                587,
            ),
            SmtpTls::Tls => (
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_err)?,
                465,
            ),
        };
        let mut builder = builder
            .port(config.smtp_port.unwrap_or(default_port))
            .timeout(Some(timeout));
        match (config.username, config.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::invalid(
                    "email.username",
                    "username and password must be set together",
                ));
            }
        }
        Ok(Email {
            transport: builder.build(),
            from,
        })
    }

    pub(crate) async fn send(
        &self,
        address: &str,
        msg: &Message,
    ) -> Result<Option<String>, SendError> {
        let to: Mailbox = address
            .trim()
            .parse()
            .map_err(|_| SendError::permanent("not a valid e-mail address"))?;
        let message_id = message_id(&msg.id, &self.from);
        let mail = Mail::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.title.as_str())
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body.clone())
            .map_err(|e| SendError::invalid_message(format!("cannot build e-mail: {e}")))?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(Some(message_id)),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// A stable `Message-ID` from the notification id, so a resend can be
/// recognized as the same message.
fn message_id(id: &str, from: &Mailbox) -> String {
    let local: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("<{local}@{}>", from.email.domain())
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let reason = format!("smtp: {e}");
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        // Authentication / policy problems are ours, not the recipient's.
        Some("530" | "534" | "535" | "538") => SendError::transient(reason),
        // Mailbox unavailable / no such user / bad address syntax.
        Some("550" | "551" | "553" | "501" | "510" | "511") if e.is_permanent() => {
            SendError::Permanent { reason }
        }
        Some("552") => SendError::InvalidMessage { reason },
        _ => SendError::transient(reason),
    }
}
