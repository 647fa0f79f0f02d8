//! The outbox worker: sends what missions recorded, retries with backoff,
//! and marks each entry sent only after a provider accepted it.
//!
//! A crash between "provider accepted" and "marked sent" sends that one
//! message again on restart; every message carries a stable id that the
//! providers use as collapse key (`Topic`, `apns-collapse-id`, FCM
//! `collapse_key`, webhook `Idempotency-Key`), so the phone shows it once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use firstlink_domain::ids::VolunteerId;
use firstlink_notify::texts::{self, Lang, Text};
use firstlink_notify::{ChannelKind, Message, Notifier, SendError, Urgency};
use firstlink_store::{OutboxItem, OutboxMessage, Recipient};
use tokio::sync::{Notify, Semaphore};

use crate::app::App;
use crate::config::OutboxConfig;

/// Where the demo's simulated phones receive their notifications.
pub trait LocalSink: Send + Sync {
    fn deliver(&self, volunteer: VolunteerId, message: &OutboxMessage);
}

pub struct Outbox {
    notifier: Notifier,
    cfg: OutboxConfig,
    wake: Notify,
    /// Entries being delivered now, and entries finished since the current
    /// poll began (with when), so that a due list read before an entry was
    /// marked sent never sends it again.
    inflight: Mutex<Inflight>,
    first_alerts: Mutex<HashSet<String>>,
}

#[derive(Default)]
struct Inflight {
    running: HashSet<i64>,
    finished: std::collections::HashMap<i64, std::time::Instant>,
}

enum Attempt {
    Sent,
    Retry(String, Option<Duration>),
    Dead(String),
}

fn to_notify(r: &Recipient) -> Option<firstlink_notify::Recipient> {
    use firstlink_notify::Recipient as N;
    Some(match r.clone() {
        Recipient::WebPush {
            endpoint,
            p256dh,
            auth,
        } => N::WebPush {
            endpoint,
            p256dh,
            auth,
        },
        Recipient::Fcm { token } => N::Fcm { token },
        Recipient::Apns { device_token } => N::Apns { device_token },
        Recipient::Sms { phone } => N::Sms { phone },
        Recipient::Email { address } => N::Email { address },
        Recipient::Webhook { url, secret } => N::Webhook { url, secret },
        Recipient::Demo => return None,
    })
}

/// The localized title and body of an outbox message.
pub fn render(msg: &OutboxMessage, lang: Lang, public_url: &str) -> (String, String) {
    let d = &msg.data;
    let s = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let n = |k: &str| d.get(k).and_then(|v| v.as_u64()).unwrap_or_default();
    let text = match msg.kind.as_str() {
        "alert" => Text::Alert {
            distance_m: u32::try_from(n("distance_m")).unwrap_or(u32::MAX),
            minutes: u32::try_from(n("eta_s").div_ceil(60)).unwrap_or(u32::MAX),
        },
        "stand_down" => Text::StandDown,
        "out_of_range" => Text::OutOfRange,
        "ended" => Text::MissionEnded,
        "cancelled" => Text::MissionCancelled,
        "message" => Text::DispatcherMessage { text: s("text") },
        "refresher" => Text::CprRefresher { text: s("text") },
        "return_aed" => Text::ReturnAed {
            aed_name: s("aed_name"),
        },
        "survey" => Text::Survey {
            url: format!("{public_url}/app/#/survey/{}", s("incident_id")),
        },
        "verification" => Text::VerificationCode { code: s("code") },
        "aed_owner_reminder" => Text::OwnerReminder {
            aed_name: s("aed_name"),
            what: s("what"),
            url: s("url"),
        },
        "aed_service" => Text::AedService {
            aed_name: s("aed_name"),
            cause: s("cause"),
            escalated: d
                .get("escalated")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        },
        other => Text::DispatcherMessage {
            text: other.to_string(),
        },
    };
    let r = texts::render(lang, &text);
    (r.title, r.body)
}

impl Outbox {
    pub fn new(notifier: Notifier, cfg: OutboxConfig) -> Self {
        Self {
            notifier,
            cfg,
            wake: Notify::new(),
            inflight: Mutex::new(Inflight::default()),
            first_alerts: Mutex::new(HashSet::new()),
        }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    fn backoff(&self, attempts: u32, hint: Option<Duration>) -> Duration {
        let exp = self
            .cfg
            .base_backoff_ms
            .saturating_mul(1u64 << attempts.min(20))
            .min(self.cfg.max_backoff_ms);
        // Spread retries a little so a provider coming back is not hit by all at once.
        let jitter = rand::random::<u64>() % (exp / 4 + 1);
        hint.unwrap_or_default()
            .max(Duration::from_millis(exp + jitter))
    }

    pub fn spawn(app: &Arc<App>) {
        let app = Arc::clone(app);
        tokio::spawn(async move {
            let sem = Arc::new(Semaphore::new(app.outbox.cfg.concurrency.max(1)));
            loop {
                let now = app.now();
                let polled_at = std::time::Instant::now();
                // Finished before this poll: the list read below already reflects them.
                app.outbox
                    .inflight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .finished
                    .retain(|_, t| *t >= polled_at);
                // With other nodes on the store, each item is claimed by one of them.
                let due = if app.cluster.shared() {
                    app.store
                        .outbox_claim(&app.cluster.node, now, 256, claim_hold(&app))
                        .await
                } else {
                    app.store.outbox_due(now, 256).await
                };
                match due {
                    Ok(items) => {
                        for item in items {
                            let fresh = {
                                let mut f = app
                                    .outbox
                                    .inflight
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner());
                                // Finished after this poll began: this copy of it may be stale.
                                let stale =
                                    f.finished.get(&item.id).is_some_and(|t| *t >= polled_at);
                                !stale && f.running.insert(item.id)
                            };
                            if !fresh {
                                continue;
                            }
                            let Ok(permit) = Arc::clone(&sem).acquire_owned().await else {
                                return;
                            };
                            let app = Arc::clone(&app);
                            tokio::spawn(async move {
                                let id = item.id;
                                deliver(&app, item).await;
                                {
                                    let mut f = app
                                        .outbox
                                        .inflight
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner());
                                    f.running.remove(&id);
                                    f.finished.insert(id, std::time::Instant::now());
                                }
                                drop(permit);
                                app.outbox.wake();
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "outbox poll failed"),
                }
                let next = app.store.outbox_next_due().await.ok().flatten();
                let wait = next
                    .map(|t: DateTime<Utc>| {
                        (t - app.now())
                            .to_std()
                            .unwrap_or(Duration::from_millis(20))
                    })
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(20), Duration::from_secs(1));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = app.outbox.wake.notified() => {}
                }
            }
        });
    }
}

/// How long a claimed item is held for its node: longer than a delivery can
/// take (each provider call is cut at `notify.timeout_ms`; an item goes to up
/// to a few devices), but short, because it is also how late an alert claimed
/// by a node that died goes out from another one.
fn claim_hold(app: &App) -> chrono::Duration {
    let ms = app
        .config
        .notify
        .timeout_ms
        .saturating_mul(3)
        .clamp(15_000, 60_000);
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(60_000))
}

async fn deliver(app: &Arc<App>, item: OutboxItem) {
    let now = app.now();
    let expired =
        item.created_at + chrono::Duration::seconds(i64::from(item.message.ttl_seconds)) < now;
    let result = if expired {
        Attempt::Dead("expired before it could be delivered".into())
    } else {
        attempt(app, &item).await
    };
    let kind = item.message.kind.as_str();
    let store = &app.store;
    let done = match result {
        Attempt::Sent => {
            app.metrics.delivered(kind);
            if kind == "alert" {
                first_alert_metric(app, &item, now);
            }
            store.outbox_sent(item.id, now).await
        }
        Attempt::Retry(err, hint) if item.attempts + 1 < app.outbox.cfg.max_attempts => {
            app.metrics.delivery_failed(kind, "transient");
            let next = now
                + chrono::Duration::from_std(app.outbox.backoff(item.attempts, hint))
                    .unwrap_or_default();
            tracing::warn!(outbox.id = item.id, outbox.kind = kind, attempts = item.attempts + 1, error = %err, "delivery failed; will retry");
            store.outbox_retry(item.id, next, &err).await
        }
        Attempt::Retry(err, _) | Attempt::Dead(err) => {
            app.metrics.delivery_failed(kind, "permanent");
            tracing::warn!(outbox.id = item.id, outbox.kind = kind, error = %err, "delivery given up");
            store.outbox_dead(item.id, &err).await
        }
    };
    if let Err(e) = done {
        tracing::error!(outbox.id = item.id, error = %e, "could not record the delivery outcome");
    }
}

fn first_alert_metric(app: &App, item: &OutboxItem, now: DateTime<Utc>) {
    let Some(inc) = item.incident else { return };
    let created = item
        .message
        .data
        .get("incident_created_at")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<DateTime<Utc>>().ok());
    let Some(created) = created else { return };
    let mut seen = app
        .outbox
        .first_alerts
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if seen.len() > 10_000 {
        seen.clear();
    }
    if seen.insert(inc.to_string()) {
        app.metrics
            .first_alert((now - created).num_milliseconds() as f64 / 1000.0);
    }
}

async fn attempt(app: &Arc<App>, item: &OutboxItem) -> Attempt {
    let store = &app.store;
    let volunteer = match item.volunteer {
        Some(v) => match store.volunteer(v).await {
            Ok(v) => v,
            Err(e) => return Attempt::Retry(format!("database: {e}"), None),
        },
        None => None,
    };
    let mut targets: Vec<(Option<uuid::Uuid>, Recipient)> = Vec::new();
    match &item.recipient {
        Some(r) => targets.push((None, r.clone())),
        None => {
            let Some(v) = &volunteer else {
                return Attempt::Dead("the volunteer no longer exists".into());
            };
            match store.devices(v.id).await {
                Ok(ds) => targets.extend(ds.into_iter().map(|d| (Some(d.id), d.recipient))),
                Err(e) => return Attempt::Retry(format!("database: {e}"), None),
            }
            if targets.is_empty()
                && let Some(phone) = &v.phone
                && app.outbox.notifier.configured(ChannelKind::Sms)
            {
                targets.push((
                    None,
                    Recipient::Sms {
                        phone: phone.clone(),
                    },
                ));
            }
        }
    }
    if targets.is_empty() {
        return Attempt::Dead("no registered device and no SMS fallback".into());
    }
    // A volunteer's own language; messages to others (technicians) carry theirs.
    let lang = volunteer
        .as_ref()
        .map(|v| v.language.as_str())
        .or_else(|| item.message.data.get("lang").and_then(|l| l.as_str()))
        .and_then(Lang::from_tag)
        .unwrap_or(Lang::En);
    let public_url = app.config.public_url.clone().unwrap_or_default();
    let (title, body) = render(&item.message, lang, &public_url);
    let mut data = item.message.data.clone();
    data["kind"] = serde_json::json!(item.message.kind);
    data["id"] = serde_json::json!(item.message.id);
    let msg = Message {
        id: item.message.id.clone(),
        urgency: if item.message.urgent {
            Urgency::High
        } else {
            Urgency::Normal
        },
        ttl_seconds: item.message.ttl_seconds,
        title,
        body,
        data,
    };
    let mut sent = false;
    let mut retry: Option<(String, Option<Duration>)> = None;
    let mut last_err = String::new();
    for (device, r) in targets {
        match to_notify(&r) {
            None => {
                let sink = app
                    .local_sink
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match (sink, item.volunteer) {
                    (Some(sink), Some(v)) => {
                        sink.deliver(v, &item.message);
                        sent = true;
                    }
                    _ => last_err = "no local receiver for demo devices".into(),
                }
            }
            Some(to) => match app.outbox.notifier.send(&to, &msg).await {
                Ok(_) => sent = true,
                Err(SendError::Transient {
                    reason,
                    retry_after,
                }) => retry = Some((reason, retry_after)),
                Err(SendError::Permanent { reason }) => {
                    last_err = reason;
                    if let (Some(d), Some(v)) = (device, item.volunteer) {
                        tracing::info!(volunteer.id = %v, device.id = %d, "device gone; removing it");
                        let _ = store.delete_device(v, d).await;
                    }
                }
                Err(e @ (SendError::NotConfigured(_) | SendError::InvalidMessage { .. })) => {
                    last_err = e.to_string()
                }
            },
        }
    }
    if sent {
        Attempt::Sent
    } else if let Some((r, h)) = retry {
        Attempt::Retry(r, h)
    } else {
        Attempt::Dead(last_err)
    }
}
