//! CPR refresher reminders.
//!
//! A volunteer's profile carries the date of their latest CPR training; each
//! region sets how long a training lasts before a refresher is due
//! (`interval_months`, default [`DEFAULT_INTERVAL_MONTHS`], via
//! `GET/PUT /api/v1/regions/{slug}/refresher`). The app shows a reminder from
//! [`SOON_DAYS`] days before the due date, and this job sends one
//! notification through the outbox when a verified volunteer's training
//! enters that window (or is already past it). The outbox entry is keyed by
//! the volunteer and the training date, so each training date gets exactly
//! one reminder, also across restarts; a new training date starts afresh.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{Duration, Months, NaiveDate};
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_store::{NewOutbox, OutboxMessage, StoreError, Volunteer};
use serde::{Deserialize, Serialize};

use crate::app::App;

/// A training lasts this long unless the region says otherwise.
pub const DEFAULT_INTERVAL_MONTHS: u32 = 24;
/// Reminders start this many days before the refresher is due.
pub const SOON_DAYS: i64 = 30;
/// The region's interval must lie in this range.
pub const INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 1..=120;
/// How often the job looks.
const PERIOD: std::time::Duration = std::time::Duration::from_secs(3_600);

fn key(region: RegionId) -> String {
    format!("region.refresher.{region}")
}

/// A region's refresher rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefresherSettings {
    pub interval_months: u32,
}

impl Default for RefresherSettings {
    fn default() -> Self {
        Self {
            interval_months: DEFAULT_INTERVAL_MONTHS,
        }
    }
}

pub async fn settings(app: &App, region: RegionId) -> Result<RefresherSettings, StoreError> {
    match app.store.setting(&key(region)).await? {
        None => Ok(RefresherSettings::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| StoreError::Corrupt(format!("refresher settings: {e}"))),
    }
}

pub async fn set_settings(
    app: &App,
    region: RegionId,
    s: RefresherSettings,
) -> Result<(), StoreError> {
    app.store
        .set_setting(&key(region), &serde_json::to_string(&s).unwrap_or_default())
        .await
}

/// Where a volunteer's training stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefresherState {
    /// Valid for more than [`SOON_DAYS`] days.
    Ok,
    /// Due within [`SOON_DAYS`] days.
    DueSoon,
    /// Past the interval.
    Overdue,
    /// No training date on the profile.
    Unknown,
}

impl RefresherState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the volunteer should be reminded.
    pub fn remind(self) -> bool {
        matches!(self, Self::DueSoon | Self::Overdue)
    }
}

/// The date a refresher is due, and the state on `today`.
pub fn status(
    training: Option<NaiveDate>,
    interval_months: u32,
    today: NaiveDate,
) -> (RefresherState, Option<NaiveDate>) {
    let Some(t) = training else {
        return (RefresherState::Unknown, None);
    };
    // Out of range only for dates near the end of time: treat as far away.
    let Some(due) = t.checked_add_months(Months::new(interval_months)) else {
        return (RefresherState::Ok, None);
    };
    let state = if today >= due {
        RefresherState::Overdue
    } else if today + Duration::days(SOON_DAYS) >= due {
        RefresherState::DueSoon
    } else {
        RefresherState::Ok
    };
    (state, Some(due))
}

/// The reminder's text in the volunteer's language.
pub fn text(lang: &str, training: NaiveDate, due: NaiveDate, overdue: bool) -> String {
    let (t, d) = (training.format("%Y-%m-%d"), due.format("%Y-%m-%d"));
    match (lang, overdue) {
        ("da", false) => format!(
            "Din hjerte-lunge-redning-uddannelse fra {t} skal genopfriskes senest {d}. Book et kursus og opdater datoen i appen."
        ),
        ("da", true) => format!(
            "Din hjerte-lunge-redning-uddannelse fra {t} skulle have været genopfrisket {d}. Book et kursus og opdater datoen i appen."
        ),
        ("sv", false) => format!(
            "Din HLR-utbildning från {t} behöver repeteras senast {d}. Boka en kurs och uppdatera datumet i appen."
        ),
        ("sv", true) => format!(
            "Din HLR-utbildning från {t} skulle ha repeterats {d}. Boka en kurs och uppdatera datumet i appen."
        ),
        ("nb", false) => format!(
            "HLR-kurset ditt fra {t} må oppfriskes innen {d}. Bestill et kurs og oppdater datoen i appen."
        ),
        ("nb", true) => format!(
            "HLR-kurset ditt fra {t} skulle vært oppfrisket {d}. Bestill et kurs og oppdater datoen i appen."
        ),
        ("fi", false) => format!(
            "Elvytyskoulutuksesi ({t}) on kerrattava viimeistään {d}. Varaa kurssi ja päivitä päivämäärä sovellukseen."
        ),
        ("fi", true) => format!(
            "Elvytyskoulutuksesi ({t}) olisi pitänyt kerrata {d} mennessä. Varaa kurssi ja päivitä päivämäärä sovellukseen."
        ),
        ("de", false) => format!(
            "Ihre Reanimationsschulung vom {t} muss bis {d} aufgefrischt werden. Buchen Sie einen Kurs und tragen Sie das Datum in der App ein."
        ),
        ("de", true) => format!(
            "Ihre Reanimationsschulung vom {t} hätte am {d} aufgefrischt werden sollen. Buchen Sie einen Kurs und tragen Sie das Datum in der App ein."
        ),
        (_, false) => format!(
            "Your CPR training from {t} needs a refresher by {d}. Book a course and update the date in the app."
        ),
        (_, true) => format!(
            "Your CPR training from {t} was due for a refresher on {d}. Book a course and update the date in the app."
        ),
    }
}

/// The outbox key of a volunteer's reminder for one training date.
pub fn dedupe_key(v: VolunteerId, training: NaiveDate) -> String {
    format!("refresher:{v}:{training}")
}

/// Keys recorded by this process, so that later runs skip the store.
fn recorded() -> &'static Mutex<HashSet<String>> {
    static S: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(HashSet::new()))
}

fn wants_reminder(v: &Volunteer) -> bool {
    v.verified_at.is_some() && v.suspended_at.is_none() && v.consent_at.is_some()
}

/// Records a reminder for every volunteer whose training is due within
/// [`SOON_DAYS`] days or overdue; returns them. Running it again records
/// nothing new for the same training dates (the outbox keeps one entry per key).
pub async fn run_once(app: &Arc<App>) -> anyhow::Result<Vec<VolunteerId>> {
    let now = app.now();
    let mut due = Vec::new();
    for rt in app.regions() {
        let interval = settings(app, rt.region.id).await?.interval_months;
        let today = now.with_timezone(&rt.tz).date_naive();
        let mut batch = Vec::new();
        for v in app
            .store
            .volunteers(Some(rt.region.id), None, u32::MAX)
            .await?
        {
            let Some(training) = v.training_date.filter(|_| wants_reminder(&v)) else {
                continue;
            };
            let (state, Some(due_on)) = status(Some(training), interval, today) else {
                continue;
            };
            if !state.remind() {
                continue;
            }
            due.push(v.id);
            let key = dedupe_key(v.id, training);
            if recorded()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
            {
                continue;
            }
            batch.push((
                key.clone(),
                NewOutbox {
                    dedupe_key: key,
                    volunteer: Some(v.id),
                    incident: None,
                    recipient: None,
                    message: OutboxMessage {
                        id: format!("refresher-{}-{training}", v.id),
                        // The body is already in the volunteer's language.
                        kind: "refresher".into(),
                        incident: None,
                        data: serde_json::json!({
                            "text": text(&v.language, training, due_on, state == RefresherState::Overdue),
                            "reason": "training_refresher",
                            "training_date": training,
                            "due_on": due_on,
                        }),
                        urgent: false,
                        ttl_seconds: 7 * 24 * 3_600,
                    },
                    not_before: now,
                },
            ));
        }
        if !batch.is_empty() {
            let items: Vec<NewOutbox> = batch.iter().map(|(_, i)| i.clone()).collect();
            app.store.enqueue(&items).await?;
            recorded()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(batch.into_iter().map(|(k, _)| k));
            app.outbox.wake();
        }
    }
    Ok(due)
}

/// Looks every hour (first at start-up), on the node that runs the singleton jobs.
pub fn spawn(app: &Arc<App>) {
    let a = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            // One node runs it (the outbox key would stop doubles anyway).
            if !a.cluster.is_leader() {
                continue;
            }
            match run_once(&a).await {
                Ok(due) if !due.is_empty() => {
                    tracing::info!(volunteers = due.len(), "CPR refresher reminders due")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "CPR refresher reminders failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn states_around_the_due_date() {
        let t = Some(d("2024-03-15"));
        assert_eq!(
            status(t, 24, d("2026-01-01")),
            (RefresherState::Ok, Some(d("2026-03-15")))
        );
        // 30 days before 15 March 2026 is 13 February.
        assert_eq!(
            status(t, 24, d("2026-02-12")),
            (RefresherState::Ok, Some(d("2026-03-15")))
        );
        assert_eq!(status(t, 24, d("2026-02-13")).0, RefresherState::DueSoon);
        assert_eq!(status(t, 24, d("2026-03-14")).0, RefresherState::DueSoon);
        assert_eq!(status(t, 24, d("2026-03-15")).0, RefresherState::Overdue);
        assert_eq!(status(t, 12, d("2026-01-01")).0, RefresherState::Overdue);
        assert_eq!(
            status(None, 24, d("2026-01-01")),
            (RefresherState::Unknown, None)
        );
        // Month ends clamp: 31 January + 1 month is 28/29 February.
        assert_eq!(
            status(Some(d("2026-01-31")), 1, d("2026-01-31")).1,
            Some(d("2026-02-28"))
        );
    }

    #[test]
    fn texts_in_every_language_name_the_dates() {
        for l in ["en", "da", "sv", "nb", "fi", "de", "xx"] {
            for overdue in [false, true] {
                let s = text(l, d("2024-03-15"), d("2026-03-15"), overdue);
                assert!(
                    s.contains("2024-03-15") && s.contains("2026-03-15"),
                    "{l}: {s}"
                );
            }
        }
    }
}
