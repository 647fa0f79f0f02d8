//! When to remind owners, escalate and deactivate: pure rules over a record,
//! the reminders already sent and the current time.

use chrono::{DateTime, Duration, Months, Utc};
use firstlink_store::{Aed, AedStatus};
use serde::{Deserialize, Serialize};

/// Per-region settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderPolicy {
    /// Confirmation interval for AEDs with limited hours, months.
    pub confirm_months_limited: u32,
    /// Confirmation interval for AEDs open 24/7, months.
    pub confirm_months_always: u32,
    /// First reminder this many days before the confirmation is due.
    pub remind_before_days: i64,
    /// Further reminders this many days apart after the due date.
    pub reminder_interval_days: i64,
    /// Reminders sent before escalating to an operator.
    pub max_reminders: u32,
    /// Deactivate this many days after the last reminder (`None`: never).
    pub deactivate_after_days: Option<i64>,
    /// Remind before pads or battery expire, days.
    pub consumable_warn_days: i64,
}

impl ReminderPolicy {
    /// Denmark: 24 months (limited hours) / 48 months (24/7), deactivation 8 weeks after the last reminder.
    pub fn denmark() -> Self {
        Self {
            confirm_months_limited: 24,
            confirm_months_always: 48,
            remind_before_days: 30,
            reminder_interval_days: 14,
            max_reminders: 3,
            deactivate_after_days: Some(56),
            consumable_warn_days: 30,
        }
    }

    /// Sweden: every 6 months.
    pub fn sweden() -> Self {
        Self {
            confirm_months_limited: 6,
            confirm_months_always: 6,
            ..Self::denmark()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    Confirm,
    Pads,
    Battery,
    Escalate,
    Deactivate,
}

/// A reminder sent earlier, for one AED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub kind: ReminderKind,
    pub at: DateTime<Utc>,
}

/// The confirmation due date: last confirmation (or last update) plus the interval.
pub fn confirmation_due(a: &Aed, p: &ReminderPolicy) -> Option<DateTime<Utc>> {
    let always = a
        .opening_hours
        .as_deref()
        .is_some_and(|h| h.trim() == "24/7");
    let months = if always {
        p.confirm_months_always
    } else {
        p.confirm_months_limited
    };
    let base = a.details.last_confirmed_at.unwrap_or(a.updated_at);
    base.checked_add_months(Months::new(months))
}

/// What is due now for `a`, given what was `sent` (only entries after the last
/// confirmation count). Deactivation comes last and only for active records.
pub fn due(a: &Aed, sent: &[Sent], now: DateTime<Utc>, p: &ReminderPolicy) -> Vec<ReminderKind> {
    let mut out = Vec::new();
    if !matches!(a.status, AedStatus::Active | AedStatus::PendingReview) {
        return out;
    }
    let since = a
        .details
        .last_confirmed_at
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let sent: Vec<&Sent> = sent.iter().filter(|s| s.at > since).collect();
    let count = |k: ReminderKind| sent.iter().filter(|s| s.kind == k).count() as u32;
    let last = |k: ReminderKind| sent.iter().filter(|s| s.kind == k).map(|s| s.at).max();

    let today = now.date_naive();
    for (kind, date) in [
        (ReminderKind::Pads, a.details.pad_expiry),
        (ReminderKind::Battery, a.details.battery_expiry),
    ] {
        if let Some(d) = date
            && (d - today).num_days() <= p.consumable_warn_days
            && last(kind).is_none_or(|t| (now - t).num_days() >= p.reminder_interval_days)
        {
            out.push(kind);
        }
    }

    let Some(due_at) = confirmation_due(a, p) else {
        return out;
    };
    if now < due_at - Duration::days(p.remind_before_days) {
        return out;
    }
    let n = count(ReminderKind::Confirm);
    let last_confirm = last(ReminderKind::Confirm);
    if n < p.max_reminders {
        let next_at = match last_confirm {
            None => due_at - Duration::days(p.remind_before_days),
            Some(t) => (t + Duration::days(p.reminder_interval_days)).max(due_at),
        };
        if now >= next_at {
            out.push(ReminderKind::Confirm);
        }
        return out;
    }
    if count(ReminderKind::Escalate) == 0 {
        out.push(ReminderKind::Escalate);
    }
    if a.status == AedStatus::Active
        && let (Some(days), Some(t)) = (p.deactivate_after_days, last_confirm)
        && now >= t + Duration::days(days)
    {
        out.push(ReminderKind::Deactivate);
    }
    out
}
