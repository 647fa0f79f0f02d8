//! The registry's health as operators see it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use firstlink_store::{Aed, AedStatus};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Health {
    pub total: usize,
    pub active: usize,
    pub pending_review: usize,
    pub inactive: usize,
    pub removed: usize,
    /// Active AEDs confirmed by their owner within `confirmed_within_days`.
    pub confirmed_recently: usize,
    /// `confirmed_recently / active` (0 when there is none).
    pub confirmed_share: f64,
    pub confirmed_within_days: i64,
    /// Active AEDs whose pads or battery expire within `expiring_within_days` (or already expired).
    pub expiring_consumables: usize,
    pub expired_consumables: usize,
    pub expiring_within_days: i64,
    /// Active AEDs without opening hours, or whose hours did not parse.
    pub hours_unknown: usize,
    /// Records with an open review flag (moved, duplicate, new registration).
    pub flagged: usize,
    /// The active AEDs behind `expired_consumables` and `expiring_consumables`,
    /// soonest first (at most [`EXPIRING_LIST_MAX`]).
    pub expiring: Vec<Expiring>,
}

/// Most entries in [`Health::expiring`].
pub const EXPIRING_LIST_MAX: usize = 500;

/// An active AED whose pads or battery expire soon (or did).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expiring {
    pub id: firstlink_domain::ids::AedId,
    pub name: String,
    pub pad_expiry: Option<NaiveDate>,
    pub battery_expiry: Option<NaiveDate>,
    /// The earliest of the two has passed.
    pub expired: bool,
}

/// Computes [`Health`] at `now`.
pub fn health(
    aeds: &[Aed],
    now: DateTime<Utc>,
    confirmed_within_days: i64,
    expiring_within_days: i64,
) -> Health {
    let today: NaiveDate = now.date_naive();
    let soon = today + Duration::days(expiring_within_days);
    let mut h = Health {
        confirmed_within_days,
        expiring_within_days,
        total: aeds.len(),
        ..Default::default()
    };
    for a in aeds {
        match a.status {
            AedStatus::Active => h.active += 1,
            AedStatus::PendingReview => h.pending_review += 1,
            AedStatus::Inactive => h.inactive += 1,
            AedStatus::Removed => h.removed += 1,
        }
        if a.status != AedStatus::Removed && !a.details.review.is_empty() {
            h.flagged += 1;
        }
        if a.status != AedStatus::Active {
            continue;
        }
        if a.details
            .last_confirmed_at
            .is_some_and(|t| now - t <= Duration::days(confirmed_within_days))
        {
            h.confirmed_recently += 1;
        }
        let dates = [a.details.pad_expiry, a.details.battery_expiry];
        let expired = dates.iter().flatten().any(|d| *d < today);
        if expired {
            h.expired_consumables += 1;
        } else if dates.iter().flatten().any(|d| *d <= soon) {
            h.expiring_consumables += 1;
        }
        if dates.iter().flatten().any(|d| *d <= soon) {
            h.expiring.push(Expiring {
                id: a.id,
                name: a.name.clone(),
                pad_expiry: a.details.pad_expiry,
                battery_expiry: a.details.battery_expiry,
                expired,
            });
        }
        if a.opening_hours.is_none() {
            h.hours_unknown += 1;
        }
    }
    h.expiring
        .sort_by_key(|e| (e.pad_expiry.into_iter().chain(e.battery_expiry).min(), e.id));
    h.expiring.truncate(EXPIRING_LIST_MAX);
    if h.active > 0 {
        h.confirmed_share = h.confirmed_recently as f64 / h.active as f64;
    }
    h
}
