//! Volunteers: who may be alerted, and when.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Which incidents a volunteer is cleared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Public places only (lay volunteers).
    #[default]
    PublicOnly,
    /// Also private homes (vetted volunteers).
    IncludingHomes,
}

/// A daily quiet period in the region's local time, minutes after midnight.
/// `start > end` wraps midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start_min: u16,
    pub end_min: u16,
}

impl QuietHours {
    pub fn new(start_min: u16, end_min: u16) -> Option<Self> {
        (start_min < 1440 && end_min < 1440 && start_min != end_min)
            .then_some(Self { start_min, end_min })
    }

    pub fn contains(self, minute_of_day: u16) -> bool {
        if self.start_min < self.end_min {
            (self.start_min..self.end_min).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start_min || minute_of_day < self.end_min
        }
    }

    /// Parses "HH:MM".
    pub fn parse_hhmm(s: &str) -> Option<u16> {
        let (h, m) = s.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    pub fn format_hhmm(min: u16) -> String {
        format!("{:02}:{:02}", min / 60, min % 60)
    }
}

/// What the eligibility check needs to know of a volunteer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eligibility {
    pub verified: bool,
    pub consented: bool,
    pub suspended: bool,
    pub available: bool,
    pub training_date: Option<NaiveDate>,
}

impl Eligibility {
    /// May this volunteer be alerted at all on `today` (schedule aside)?
    /// `training_valid_months == 0` means no training requirement.
    pub fn eligible(&self, today: NaiveDate, training_valid_months: u32) -> bool {
        if !(self.verified && self.consented && !self.suspended && self.available) {
            return false;
        }
        if training_valid_months == 0 {
            return true;
        }
        match self.training_date {
            None => false,
            Some(d) => months_between(d, today) < i64::from(training_valid_months),
        }
    }
}

/// Whole months from `a` to `b` (negative if `b` is earlier).
pub fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let mut m = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
    if b.day() < a.day() {
        m -= 1;
    }
    m
}

/// Age in whole years on `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i64 {
    months_between(birth, today).div_euclid(12)
}

/// Volunteers must be adults.
pub const MIN_AGE: i64 = 18;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = QuietHours::new(22 * 60, 7 * 60).unwrap();
        assert!(q.contains(23 * 60) && q.contains(0) && q.contains(6 * 60 + 59));
        assert!(!q.contains(7 * 60) && !q.contains(12 * 60));
        assert!(QuietHours::new(600, 600).is_none());
        assert_eq!(QuietHours::parse_hhmm("07:30"), Some(450));
        assert_eq!(QuietHours::parse_hhmm("24:00"), None);
        assert_eq!(QuietHours::parse_hhmm("7:30"), None);
    }

    #[test]
    fn age_and_training_validity() {
        assert_eq!(age_on(d(2008, 11, 22), d(2026, 11, 21)), 17);
        assert_eq!(age_on(d(2008, 11, 21), d(2026, 11, 21)), 18);
        let e = Eligibility {
            verified: true,
            consented: true,
            suspended: false,
            available: true,
            training_date: Some(d(2025, 10, 1)),
        };
        assert!(e.eligible(d(2026, 9, 30), 12));
        assert!(!e.eligible(d(2026, 10, 1), 12));
        assert!(e.eligible(d(2030, 1, 1), 0));
        assert!(
            !Eligibility {
                suspended: true,
                ..e.clone()
            }
            .eligible(d(2026, 1, 1), 0)
        );
    }
}
