//! The dispatch centres' status feed: every mission event of a region,
//! delivered to the region's webhook as a signed POST, in commit order, once
//! each.
//!
//! # Durability and order
//! Mission events are committed in `mission_events` by the single store
//! writer; the table's rowid is therefore a durable, global commit order (the
//! "position"). Each region's webhook has a cursor: the position of the last
//! event its receiver acknowledged. A worker per region reads the events after
//! the cursor, sends them one by one, and moves the cursor only on a 2xx, so
//! event n+1 never leaves before n is acknowledged and nothing is lost across
//! restarts or receiver outages. The bus only wakes the worker early; it is
//! never the source of what is sent.
//!
//! # Retries
//! A failure (network error, timeout, 408, 429, 5xx) is retried with
//! exponential backoff (`retry_initial_ms` doubling up to `retry_max_ms`),
//! forever: a receiver that comes back gets everything it missed. A
//! receiver that refuses one event permanently (another 4xx, three times in a
//! row) has that event skipped and counted, so one bad event cannot block the
//! feed. Every attempt at an event carries the same body and the same
//! `Idempotency-Key`; only the signature timestamp changes.
//!
//! # Isolation
//! Delivery runs in background tasks, one per region: a slow or dead endpoint
//! delays only its own region's feed, never dispatch or other regions.
//!
//! # Signature
//! `Firstlink-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! the scheme of `firstlink_notify`'s webhooks (check it with
//! `firstlink_notify::verify_webhook_signature`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firstlink_domain::ids::{IncidentId, RegionId};
use firstlink_domain::mission::{Event, EventKind, Progress};
use firstlink_store::{LoggedEvent, WebhookCursor};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::integration::{IntegrationSettings, WebhookFormat, WebhookSettings, load_settings};

/// How often the supervisor looks for webhooks turned on or off.
const SCAN: Duration = Duration::from_secs(1);
/// Events read per batch.
const BATCH: u32 = 200;
/// Permanent refusals of one event before it is skipped.
const PERMANENT_TRIES: u32 = 3;

/// Starts the supervisor that runs one delivery worker per region with a webhook.
pub fn spawn(app: &Arc<App>) {
    let app = Arc::clone(app);
    tokio::spawn(supervise(app));
}

/// Puts a region's cursor at the current end of the event log (when its
/// webhook is turned on: history is not replayed).
pub async fn start_feed_at_head(
    app: &App,
    region: RegionId,
) -> Result<(), firstlink_store::StoreError> {
    let head = app.store.event_log_head().await?;
    let prev = app.store.webhook_cursor(region).await?;
    let c = WebhookCursor {
        region_id: region,
        last_pos: head,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        delivered: prev.as_ref().map_or(0, |c| c.delivered),
        skipped: prev.as_ref().map_or(0, |c| c.skipped),
        updated_at: app.now(),
    };
    app.store.save_webhook_cursor(&c).await
}

struct Worker {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

async fn supervise(app: Arc<App>) {
    let mut bus = app.bus.subscribe();
    let mut workers: HashMap<RegionId, Worker> = HashMap::new();
    let mut scan = tokio::time::interval(SCAN);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = bus.recv() => match ev {
                Ok(e) => {
                    if let Some(w) = workers.get(&e.region) {
                        w.wake.notify_one();
                    }
                }
                Err(RecvError::Lagged(_)) => workers.values().for_each(|w| w.wake.notify_one()),
                Err(RecvError::Closed) => return,
            },
            _ = scan.tick() => {
                // One node delivers (the leader); the cursor in the database lets another continue.
                if !app.cluster.is_leader() {
                    workers.drain().for_each(|(_, w)| w.task.abort());
                    continue;
                }
                workers.retain(|_, w| !w.task.is_finished());
                let list = match app.store.integrations().await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhooks: cannot read the integration settings");
                        continue;
                    }
                };
                for (region, v) in list {
                    let on = v.get("webhook").is_some_and(|w| !w.is_null());
                    if on && !workers.contains_key(&region) {
                        let wake = Arc::new(Notify::new());
                        let task = tokio::spawn(run(Arc::clone(&app), region, Arc::clone(&wake)));
                        workers.insert(region, Worker { wake, task });
                    }
                }
                // A safety net for wake-ups missed while a worker was busy.
                workers.values().for_each(|w| w.wake.notify_one());
            }
        }
    }
}

fn hook_of(s: IntegrationSettings) -> Option<WebhookSettings> {
    s.webhook
        .filter(|w| w.secret.as_deref().is_some_and(|s| !s.is_empty()))
}

/// Delivers one region's feed until its webhook is turned off.
async fn run(app: Arc<App>, region: RegionId, wake: Arc<Notify>) {
    let mut incidents: HashMap<IncidentId, String> = HashMap::new();
    loop {
        let hook = match load_settings(&app, region).await {
            Ok(s) => match hook_of(s) {
                Some(h) => h,
                None => return,
            },
            Err(_) => {
                tokio::time::sleep(SCAN).await;
                continue;
            }
        };
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_millis(hook.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: cannot build the HTTP client");
                tokio::time::sleep(SCAN).await;
                continue;
            }
        };
        match step(&app, region, &hook, &client, &mut incidents).await {
            Ok(Step::Idle) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
            }
            Ok(Step::More) => {}
            Ok(Step::Backoff(d)) => tokio::time::sleep(d).await,
            Err(e) => {
                tracing::warn!(region.id = %region, error = %e, "webhooks: store error; retrying");
                tokio::time::sleep(SCAN).await;
            }
        }
        if incidents.len() > 10_000 {
            incidents.clear();
        }
    }
}

enum Step {
    /// Nothing left to send.
    Idle,
    /// Sent a batch; look again.
    More,
    /// The next event failed; wait this long.
    Backoff(Duration),
}

async fn step(
    app: &Arc<App>,
    region: RegionId,
    hook: &WebhookSettings,
    client: &reqwest::Client,
    incidents: &mut HashMap<IncidentId, String>,
) -> Result<Step, firstlink_store::StoreError> {
    let mut cursor = match app.store.webhook_cursor(region).await? {
        Some(c) => c,
        None => {
            start_feed_at_head(app, region).await?;
            return Ok(Step::More);
        }
    };
    if let Some(at) = cursor.next_attempt_at {
        let now = app.now();
        if at > now {
            return Ok(Step::Backoff((at - now).to_std().unwrap_or_default()));
        }
    }
    let batch = app.store.event_log(region, cursor.last_pos, BATCH).await?;
    if batch.is_empty() {
        return Ok(Step::Idle);
    }
    let slug = app
        .region(region)
        .map(|r| r.region.slug)
        .unwrap_or_default();
    let mut moved = false;
    for ev in batch {
        let Some(body) = render(app, &slug, &ev, hook.format, incidents).await? else {
            // Not part of the feed: just move past it.
            cursor.last_pos = ev.pos;
            moved = true;
            continue;
        };
        let key = idempotency_key(&ev);
        let secret = hook.secret.as_deref().unwrap_or_default();
        match deliver(client, &hook.url, secret, &key, &body).await {
            Ok(()) => {
                cursor.last_pos = ev.pos;
                cursor.delivered += 1;
                cursor.attempts = 0;
                cursor.next_attempt_at = None;
                cursor.last_error = None;
                cursor.updated_at = app.now();
                app.store.save_webhook_cursor(&cursor).await?;
                moved = false;
            }
            Err(Failure { reason, permanent }) => {
                cursor.attempts += 1;
                cursor.last_error = Some(reason.clone());
                cursor.updated_at = app.now();
                if permanent && cursor.attempts >= PERMANENT_TRIES {
                    tracing::error!(region.id = %region, event = %key, error = %reason, "webhook refused an event for good; skipping it");
                    cursor.last_pos = ev.pos;
                    cursor.skipped += 1;
                    cursor.attempts = 0;
                    cursor.next_attempt_at = None;
                    app.store.save_webhook_cursor(&cursor).await?;
                    return Ok(Step::More);
                }
                let wait = backoff(hook, cursor.attempts);
                cursor.next_attempt_at =
                    Some(app.now() + chrono::Duration::from_std(wait).unwrap_or_default());
                tracing::warn!(region.id = %region, event = %key, attempts = cursor.attempts, error = %reason, "webhook delivery failed; will retry");
                app.store.save_webhook_cursor(&cursor).await?;
                return Ok(Step::Backoff(wait));
            }
        }
    }
    if moved {
        cursor.updated_at = app.now();
        app.store.save_webhook_cursor(&cursor).await?;
    }
    Ok(Step::More)
}

/// `retry_initial_ms · 2^(attempts-1)`, at most `retry_max_ms`, with up to 10 % jitter.
fn backoff(hook: &WebhookSettings, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let ms = hook
        .retry_initial_ms
        .saturating_mul(1u64 << exp)
        .min(hook.retry_max_ms);
    let jitter = rand::random::<u64>() % (ms / 10 + 1);
    Duration::from_millis(ms.saturating_sub(jitter))
}

/// The same for every attempt at one event.
pub fn idempotency_key(ev: &LoggedEvent) -> String {
    format!("{}:{}", ev.incident, ev.seq)
}

struct Failure {
    reason: String,
    permanent: bool,
}

/// The `Firstlink-Signature` value for `body` at Unix time `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    key: &str,
    body: &str,
) -> Result<(), Failure> {
    let t = Utc::now().timestamp();
    let resp = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .header(
            firstlink_notify::SIGNATURE_HEADER,
            signature(secret, t, body.as_bytes()),
        )
        .header(
            "User-Agent",
            concat!("firstlink/", env!("CARGO_PKG_VERSION")),
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Failure {
            reason: format!("request failed: {e}"),
            permanent: false,
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let permanent = status.is_client_error() && !matches!(code, 408 | 409 | 425 | 429);
    Err(Failure {
        reason: format!("receiver answered {status}"),
        permanent,
    })
}

/// What the feed says about an event; `None` for events it leaves out
/// (declines, time-outs, stand-downs, messages).
fn kind_of(e: &EventKind) -> Option<(&'static str, Value)> {
    Some(match e {
        EventKind::Created => ("mission.created", json!({})),
        EventKind::NotAlerted { reason } => ("mission.not_alerted", json!({ "reason": reason })),
        EventKind::WaveSent {
            wave,
            alerted,
            radius_m,
        } => (
            "volunteers.alerted",
            json!({ "wave": wave, "alerted": alerted, "radius_m": radius_m.round() }),
        ),
        EventKind::Accepted {
            volunteer,
            role,
            aed,
            eta_s,
        } => (
            "responder.accepted",
            json!({ "volunteer_id": volunteer, "role": role, "aed_id": aed, "eta_s": eta_s }),
        ),
        EventKind::Progress {
            volunteer,
            progress,
        } => {
            let t = match progress {
                Progress::EnRoute => "responder.en_route",
                Progress::AedCollected => "responder.aed_collected",
                Progress::OnScene => "responder.on_scene",
                Progress::HandedOver => "responder.handed_over",
            };
            (t, json!({ "volunteer_id": volunteer }))
        }
        EventKind::Left { volunteer } => ("responder.left", json!({ "volunteer_id": volunteer })),
        EventKind::Updated {
            location,
            ems_eta_seconds,
        } => (
            "mission.updated",
            json!({ "location": location.map(|l| json!({ "lat": l.lat, "lon": l.lon })), "ems_eta_seconds": ems_eta_seconds }),
        ),
        EventKind::Ended { reason } => ("mission.ended", json!({ "reason": reason })),
        EventKind::Cancelled { reason } => ("mission.cancelled", json!({ "reason": reason })),
        EventKind::Declined { .. }
        | EventKind::TimedOut { .. }
        | EventKind::OutOfRange { .. }
        | EventKind::StoodDown { .. }
        | EventKind::Message { .. } => return None,
    })
}

/// Whether this is the first event of its kind in the mission (the first
/// acceptance, the first responder on scene).
async fn is_first(app: &App, ev: &LoggedEvent) -> Result<bool, firstlink_store::StoreError> {
    let same = |e: &Event| match (&e.kind, &ev.event.kind) {
        (EventKind::Accepted { .. }, EventKind::Accepted { .. }) => true,
        (EventKind::Progress { progress: a, .. }, EventKind::Progress { progress: b, .. }) => {
            a == b
        }
        _ => false,
    };
    Ok(!app
        .store
        .events(ev.incident, 0)
        .await?
        .iter()
        .any(|(seq, e)| *seq < ev.seq && same(e)))
}

/// The request body for an event, or `None` when the feed leaves it out.
async fn render(
    app: &Arc<App>,
    region_slug: &str,
    ev: &LoggedEvent,
    format: WebhookFormat,
    incidents: &mut HashMap<IncidentId, String>,
) -> Result<Option<String>, firstlink_store::StoreError> {
    let Some((kind, mut data)) = kind_of(&ev.event.kind) else {
        return Ok(None);
    };
    if matches!(
        ev.event.kind,
        EventKind::Accepted { .. }
            | EventKind::Progress {
                progress: Progress::OnScene | Progress::AedCollected,
                ..
            }
    ) {
        data["first"] = json!(is_first(app, ev).await?);
    }
    let external_id = match incidents.get(&ev.incident) {
        Some(e) => e.clone(),
        None => {
            let e = app
                .store
                .mission(ev.incident)
                .await?
                .map(|m| m.mission.incident.external_id)
                .unwrap_or_default();
            incidents.insert(ev.incident, e.clone());
            e
        }
    };
    let key = idempotency_key(ev);
    let body = match format {
        WebhookFormat::Firstlink => json!({
            "id": key,
            "type": kind,
            "occurred_at": ev.event.at,
            "region": region_slug,
            "incident": { "id": ev.incident, "external_id": external_id },
            "seq": ev.seq,
            "position": ev.pos,
            "data": data,
        }),
        WebhookFormat::Eido => eido_update(&key, kind, &data, ev, &external_id),
    };
    Ok(Some(body.to_string()))
}

/// A short English line for an event, for EIDO notes.
fn describe(kind: &str, data: &Value) -> String {
    let first = data.get("first").and_then(Value::as_bool) == Some(true);
    match kind {
        "mission.created" => "firstlink: incident received".into(),
        "mission.not_alerted" => format!(
            "firstlink: no volunteers alerted ({})",
            data["reason"].as_str().unwrap_or("")
        ),
        "volunteers.alerted" => format!(
            "firstlink: {} volunteer(s) alerted within {} m (wave {})",
            data["alerted"], data["radius_m"], data["wave"]
        ),
        "responder.accepted" => format!(
            "firstlink: {} volunteer accepted ({}), ETA {} s",
            if first { "first" } else { "another" },
            data["role"].as_str().unwrap_or(""),
            data["eta_s"]
        ),
        "responder.aed_collected" => "firstlink: AED collected by a volunteer".into(),
        "responder.on_scene" => {
            if first {
                "firstlink: first volunteer on scene".into()
            } else {
                "firstlink: another volunteer on scene".into()
            }
        }
        "responder.en_route" => "firstlink: volunteer en route".into(),
        "responder.handed_over" => "firstlink: volunteer handed over to EMS".into(),
        "responder.left" => "firstlink: a volunteer withdrew".into(),
        "mission.updated" => "firstlink: incident updated".into(),
        "mission.ended" => "firstlink: mission ended".into(),
        "mission.cancelled" => "firstlink: mission cancelled".into(),
        other => format!("firstlink: {other}"),
    }
}

/// The event as a NENA EIDO 1.0 update: the incident's id, firstlink as the
/// updating agency, and the event as a note (the structured event is kept in
/// the note's `firstlinkEvent` extension member).
fn eido_update(key: &str, kind: &str, data: &Value, ev: &LoggedEvent, external_id: &str) -> Value {
    let at: DateTime<Utc> = ev.event.at;
    let id = match external_id.strip_prefix("eido|") {
        Some(eido_id) => eido_id.to_string(),
        None => format!("urn:emergency:uid:incidentid:{}:firstlink", ev.incident),
    };
    let agency = json!({ "$ref": "firstlink" });
    json!({
        "$id": id,
        "lastUpdateTimeStamp": at,
        "updatedByAgencyReference": agency,
        "eidoVersion": "1.0",
        "issuingElementIdentification": "firstlink",
        "agencyComponent": [{
            "$id": "firstlink",
            "lastUpdateTimeStamp": at,
            "updatedByAgencyReference": agency,
            "agencyName": "firstlink citizen responder network"
        }],
        "notesComponent": [{
            "$id": key,
            "lastUpdateTimeStamp": at,
            "updatedByAgencyReference": agency,
            "notesActionComments": describe(kind, data),
            "firstlinkEvent": { "type": kind, "seq": ev.seq, "position": ev.pos, "data": data }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_notify_scheme() {
        let body = br#"{"a":1}"#;
        let h = signature("s3cret", 1_700_000_000, body);
        assert_eq!(
            h,
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        assert!(firstlink_notify::verify_webhook_signature(
            "s3cret",
            &h,
            body,
            1_700_000_010,
            Duration::from_secs(300)
        ));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let h = WebhookSettings {
            url: "http://x".into(),
            secret: None,
            format: WebhookFormat::Firstlink,
            retry_initial_ms: 100,
            retry_max_ms: 1_000,
            timeout_ms: 1_000,
        };
        let ms = |a| backoff(&h, a).as_millis() as u64;
        assert!((90..=100).contains(&ms(1)));
        assert!((180..=200).contains(&ms(2)));
        assert!((360..=400).contains(&ms(3)));
        assert!((900..=1_000).contains(&ms(10)));
        assert!((900..=1_000).contains(&ms(u32::MAX)));
    }

    #[test]
    fn eido_updates_pass_the_eido_structure_checks() {
        let ev = LoggedEvent {
            pos: 7,
            region_id: RegionId::new(),
            incident: IncidentId::new(),
            seq: 3,
            event: Event {
                at: Utc::now(),
                kind: EventKind::Ended {
                    reason: Some("EMS on scene".into()),
                },
            },
        };
        let (kind, data) = kind_of(&ev.event.kind).unwrap();
        let doc = eido_update(
            "k",
            kind,
            &data,
            &ev,
            "eido|urn:emergency:uid:incidentid:1:x",
        );
        assert_eq!(doc["$id"], "urn:emergency:uid:incidentid:1:x");
        // The parser's schema checks pass; it stops only at the (absent) incident type.
        let r = firstlink_cad::parse_eido(
            doc.to_string().as_bytes(),
            &firstlink_cad::EidoMapping::default(),
        );
        assert_eq!(
            r,
            Err(firstlink_cad::EidoError::NotCardiacArrest {
                incident_type: None
            })
        );
    }
}
