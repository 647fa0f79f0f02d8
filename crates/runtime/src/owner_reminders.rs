//! Owners who keep their AED's record true: reminders before the periodic
//! confirmation is due and before pads or battery expire, escalation to the
//! region's operators when an owner stays silent, and deactivation after
//! that (the rules are `firstlink_registry::reminders`, per region).
//!
//! Owners need no account: each message carries a link
//! (`/owner/confirm/{aed}/{token}`) whose token is an HMAC over the AED id
//! and the owner's contact, so only whoever receives the owner's messages
//! can confirm or edit the record (`/api/v1/public/aeds/{id}`), and a new
//! contact voids old links. Owners register AEDs the same way: the
//! registration waits for an operator's review, the link goes to the
//! contact given. A reminder is
//! recorded in the outbox under a key naming the AED, the kind and its
//! number since the last confirmation, then noted in the AED record: a crash
//! in between sends it once anyway.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use firstlink_domain::ids::{AedId, RegionId};
use firstlink_registry::reminders::{ReminderKind, ReminderPolicy, Sent, due};
use firstlink_store::{
    Aed, AedStatus, AuditEntry, NewOutbox, OutboxMessage, OwnerReminder, Recipient, StoreError,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::App;

const KEY_SETTING: &str = "registry.owner_link_key";

fn policy_key(region: RegionId) -> String {
    format!("registry.reminders.{region}")
}

/// The region's reminder rules: as set, else by country (Sweden: every 6
/// months; elsewhere Denmark's 24/48 months and deactivation after 8 weeks).
pub async fn policy(app: &App, region: RegionId) -> Result<ReminderPolicy, StoreError> {
    if let Some(s) = app.store.setting(&policy_key(region)).await? {
        return serde_json::from_str(&s)
            .map_err(|e| StoreError::Corrupt(format!("reminder policy: {e}")));
    }
    let country = app
        .region(region)
        .map(|r| r.region.country)
        .unwrap_or_default();
    Ok(if country == "SE" {
        ReminderPolicy::sweden()
    } else {
        ReminderPolicy::denmark()
    })
}

pub async fn set_policy(app: &App, region: RegionId, p: &ReminderPolicy) -> Result<(), StoreError> {
    app.store
        .set_setting(
            &policy_key(region),
            &serde_json::to_string(p).unwrap_or_default(),
        )
        .await
}

async fn link_key(app: &App) -> Result<Vec<u8>, StoreError> {
    if let Some(k) = app
        .store
        .setting(KEY_SETTING)
        .await?
        .and_then(|k| hex::decode(k).ok())
    {
        return Ok(k);
    }
    let k: [u8; 32] = rand::random();
    app.store.set_setting(KEY_SETTING, &hex::encode(k)).await?;
    Ok(k.to_vec())
}

/// The owner's token for an AED: bound to the AED and its owner contact, so
/// it reaches only whoever receives the messages, and a new contact (set by
/// an operator) voids the old links.
pub async fn token(app: &App, a: &Aed) -> Result<String, StoreError> {
    let key = link_key(app).await?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    mac.update(a.id.0.as_bytes());
    mac.update(a.details.owner_contact.as_deref().unwrap_or("").as_bytes());
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16]))
}

/// Whether `presented` is the current token of `a` (constant time).
pub async fn token_matches(app: &App, a: &Aed, presented: &str) -> Result<bool, StoreError> {
    let want = token(app, a).await?;
    Ok(want.len() == presented.len()
        && want
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |d, (x, y)| d | (x ^ y))
            == 0)
}

fn kind_str(k: ReminderKind) -> &'static str {
    match k {
        ReminderKind::Confirm => "confirm",
        ReminderKind::Pads => "pads",
        ReminderKind::Battery => "battery",
        ReminderKind::Escalate => "escalate",
        ReminderKind::Deactivate => "deactivate",
    }
}

fn sent_of(a: &Aed) -> Vec<Sent> {
    let parse = |k: &str| match k {
        "confirm" => Some(ReminderKind::Confirm),
        "pads" => Some(ReminderKind::Pads),
        "battery" => Some(ReminderKind::Battery),
        "escalate" => Some(ReminderKind::Escalate),
        "deactivate" => Some(ReminderKind::Deactivate),
        _ => None,
    };
    a.details
        .reminders
        .iter()
        .filter_map(|r| {
            Some(Sent {
                kind: parse(&r.kind)?,
                at: r.at,
            })
        })
        .collect()
}

/// An e-mail address or an E.164 number from the owner's contact field.
pub fn owner_recipient(contact: Option<&str>) -> Option<Recipient> {
    let c = contact?.trim();
    if c.contains('@') && !c.contains(char::is_whitespace) {
        return Some(Recipient::Email {
            address: c.to_string(),
        });
    }
    let digits: String = c
        .chars()
        .filter(|ch| !ch.is_whitespace() && *ch != '-')
        .collect();
    (digits.starts_with('+')
        && digits.len() >= 8
        && digits[1..].chars().all(|ch| ch.is_ascii_digit()))
    .then_some(Recipient::Sms { phone: digits })
}

/// Sends what is due for every AED now; returns what was done.
pub async fn run_once(
    app: &Arc<App>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(AedId, ReminderKind)>> {
    let aeds: Vec<Aed> = app
        .aeds()
        .all(None)
        .filter(|a| matches!(a.status, AedStatus::Active | AedStatus::PendingReview))
        .cloned()
        .collect();
    let mut done = Vec::new();
    let mut policies = std::collections::HashMap::new();
    for a in aeds {
        let p = match policies.entry(a.region_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(policy(app, a.region_id).await?)
            }
        };
        let kinds = due(&a, &sent_of(&a), now, p);
        if kinds.is_empty() {
            continue;
        }
        // The stored record is the truth (the in-memory one may lag an edit).
        let Some(mut rec) = app.store.aed(a.id).await? else {
            continue;
        };
        let since = rec.details.last_confirmed_at.map_or(0, |t| t.timestamp());
        for k in &kinds {
            let n = rec
                .details
                .reminders
                .iter()
                .filter(|r| r.kind == kind_str(*k) && r.at.timestamp() > since)
                .count();
            match k {
                ReminderKind::Confirm | ReminderKind::Pads | ReminderKind::Battery => {
                    if !message_owner(app, &rec, kind_str(*k), &format!("{since}:{n}")).await? {
                        audit(
                            app,
                            &rec,
                            "aed.owner_unreachable",
                            serde_json::json!({ "reminder": kind_str(*k) }),
                            now,
                        )
                        .await;
                    }
                }
                ReminderKind::Escalate => {
                    audit(
                        app,
                        &rec,
                        "aed.owner_silent",
                        serde_json::json!({ "reminders": n }),
                        now,
                    )
                    .await
                }
                ReminderKind::Deactivate => {
                    rec.status = AedStatus::Inactive;
                    audit(
                        app,
                        &rec,
                        "aed.deactivated",
                        serde_json::json!({ "reason": "owner did not confirm" }),
                        now,
                    )
                    .await;
                }
            }
            rec.details.reminders.push(OwnerReminder {
                kind: kind_str(*k).into(),
                at: now,
            });
            done.push((rec.id, *k));
        }
        app.store.upsert_aed(&rec).await?;
        crate::changes::apply(app, vec![firstlink_store::Change::Aed(rec.id)]).await;
    }
    Ok(done)
}

/// Queues one message to the owner of `a` (`what` as in the reminder texts).
pub async fn message_owner(app: &App, a: &Aed, what: &str, key: &str) -> Result<bool, StoreError> {
    let Some(to) = owner_recipient(a.details.owner_contact.as_deref()) else {
        return Ok(false);
    };
    let public_url = app.config.public_url.clone().unwrap_or_default();
    let url = format!(
        "{public_url}/owner/confirm/{}/{}",
        a.id,
        token(app, a).await?
    );
    let item = NewOutbox {
        dedupe_key: format!("owner:{}:{what}:{key}", a.id),
        volunteer: None,
        incident: None,
        recipient: Some(to),
        message: OutboxMessage {
            id: format!("owner-{}-{what}-{key}", a.id),
            kind: "aed_owner_reminder".into(),
            incident: None,
            data: serde_json::json!({ "aed_id": a.id, "aed_name": a.name, "what": what, "url": url, "lang": language_of(app, a.region_id) }),
            urgent: false,
            ttl_seconds: 7 * 24 * 3600,
        },
        not_before: app.now(),
    };
    app.store.enqueue(&[item]).await?;
    app.outbox.wake();
    Ok(true)
}

fn language_of(app: &App, region: RegionId) -> &'static str {
    match app.region(region).map(|r| r.region.country).as_deref() {
        Some("DK") => "da",
        Some("SE") => "sv",
        Some("NO") => "nb",
        Some("FI") => "fi",
        Some("DE" | "AT" | "CH" | "LI") => "de",
        _ => "en",
    }
}

async fn audit(app: &App, a: &Aed, action: &str, details: serde_json::Value, now: DateTime<Utc>) {
    let e = AuditEntry {
        at: now,
        actor: "system".into(),
        action: action.into(),
        region_id: Some(a.region_id),
        target: Some(a.id.to_string()),
        details,
    };
    if let Err(err) = app.store.audit(&e).await {
        tracing::error!(error = %err, "could not write the audit log");
    }
}

/// Checks every hour.
pub fn spawn(app: &Arc<App>) {
    let a = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            tick.tick().await;
            if !a.cluster.is_leader() {
                continue;
            }
            match run_once(&a, a.now()).await {
                Ok(done) if !done.is_empty() => {
                    tracing::info!(steps = done.len(), "owner reminders sent")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "owner reminders failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::owner_recipient;
    use firstlink_store::Recipient;

    #[test]
    fn owner_contacts() {
        assert_eq!(
            owner_recipient(Some(" kiosk@example.org ")),
            Some(Recipient::Email {
                address: "kiosk@example.org".into()
            })
        );
        assert_eq!(
            owner_recipient(Some("+45 20 11-22 33")),
            Some(Recipient::Sms {
                phone: "+4520112233".into()
            })
        );
        assert_eq!(owner_recipient(Some("call the caretaker")), None);
        assert_eq!(owner_recipient(Some("20112233")), None);
        assert_eq!(owner_recipient(None), None);
    }
}
