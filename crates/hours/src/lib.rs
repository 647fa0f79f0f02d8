//! # firstlink-hours
//!
//! Parser and evaluator for OpenStreetMap [`opening_hours`] values, so that
//! dispatch knows whether a defibrillator (AED) is reachable right now.
//!
//! * [`OpeningHours::parse`] parses a value (hand-written parser, never panics);
//!   errors carry the character position.
//! * Evaluation happens in a region's IANA time zone ([`chrono_tz::Tz`]) with a
//!   [`HolidayCalendar`] for `PH`/`SH` and an optional location for
//!   `sunrise`/`sunset`/`dawn`/`dusk` (see [`Context`]).
//! * [`CountryHolidays`] computes national public holidays for DK, SE, NO, FI, DE,
//!   LI, MC and CH from rules (Easter algorithm, moving Midsummer, ...).
//! * [`sunrise_sunset`] implements the NOAA solar equations.
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use firstlink_hours::{Context, Country, CountryHolidays, OpeningHours, State};
//!
//! let oh = OpeningHours::parse("Mo-Fr 08:00-16:00; PH off").unwrap();
//! let dk = CountryHolidays(Country::Denmark);
//! let ctx = Context::new(&dk);
//! // Tuesday 2025-03-04 10:00 in Copenhagen is 09:00 UTC.
//! let t = Utc.with_ymd_and_hms(2025, 3, 4, 9, 0, 0).unwrap();
//! assert_eq!(oh.state_at_instant(t, chrono_tz::Europe::Copenhagen, &ctx), State::Open);
//! ```
//!
//! ## Semantics in brief
//! * A rule whose date selectors match a day and that follows `;` (or is first)
//!   replaces what earlier rules of the same fallback tier said about that day
//!   (including their spill past midnight); `,` adds without replacing (later
//!   rules win where intervals overlap); `||` starts a fallback tier that is only
//!   consulted where earlier tiers have no interval.
//! * An interval produced for day D (like `Fr 18:00-02:00`) applies to day D+1
//!   after midnight unless D+1's own rules have an interval covering that time.
//! * `18:00+` (open end) is [`State::Unknown`] from 18:00 to midnight; solar times
//!   without a [`Context::location`] make that rule [`State::Unknown`] all day.
//!
//! [`opening_hours`]: https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification

mod eval;
mod holidays;
mod parse;
mod sun;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;

pub use holidays::{Country, CountryHolidays, Holiday, HolidayCalendar, NoHolidays, easter_sunday};
pub use sun::{dawn_dusk, sunrise_sunset};

/// How far [`OpeningHours::next_change`] looks ahead.
pub const NEXT_CHANGE_HORIZON_DAYS: i64 = 400;

/// A syntax error in an `opening_hours` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    /// Character (not byte) offset into the value, starting at 0.
    pub position: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

/// Whether a facility is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Open.
    Open,
    /// Closed (explicitly, or because no rule covers the time).
    Closed,
    /// Unknown: `unknown` modifier, comment-only rule, open end (`18:00+`), or a
    /// solar time that cannot be computed.
    Unknown,
}

/// Where and under which calendar a value is evaluated.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Public and school holidays for `PH` and `SH`.
    pub holidays: &'a dyn HolidayCalendar,
    /// Latitude and longitude in degrees (north/east positive) for solar times.
    pub location: Option<(f64, f64)>,
}

impl<'a> Context<'a> {
    /// A context with the given holidays and no location.
    #[must_use]
    pub fn new(holidays: &'a dyn HolidayCalendar) -> Self {
        Self {
            holidays,
            location: None,
        }
    }

    /// The same context with a location (latitude, longitude in degrees).
    #[must_use]
    pub fn with_location(mut self, lat: f64, lon: f64) -> Self {
        self.location = Some((lat, lon));
        self
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A parsed `opening_hours` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningHours {
    source: String,
    rules: Vec<parse::Rule>,
}

impl std::str::FromStr for OpeningHours {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for OpeningHours {
    /// The original value as parsed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl OpeningHours {
    /// Parses a value. Lenient where unambiguous: case-insensitive names, full or
    /// three-letter weekday/month names, one-digit hours (`8:00`), spaces around
    /// `-`, en dashes, `Mo-Fr: 08:00-17:00`, a trailing `;`.
    ///
    /// # Errors
    /// [`ParseError`] with the character position of the first problem.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let rules = parse::parse(s)?;
        Ok(Self {
            source: s.to_owned(),
            rules,
        })
    }

    /// The original text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// `true` if the value means "always open" (`24/7`, `Mo-Su 00:00-24:00`, ...).
    #[must_use]
    pub fn is_24_7(&self) -> bool {
        let [rule] = self.rules.as_slice() else {
            return false;
        };
        if rule.state != State::Open {
            return false;
        }
        let sel = &rule.selector;
        let all_week = sel.weekdays.len() == 1
            && sel
                .weekdays
                .iter()
                .all(|w| w.nth.is_empty() && (w.end + 7 - w.start) % 7 == 6);
        let days_ok = sel.years.is_empty()
            && sel.monthdays.is_empty()
            && sel.weeks.is_empty()
            && sel.holidays.is_empty()
            && (sel.weekdays.is_empty() || all_week);
        let times_ok = rule.times.is_empty()
            || rule.times.iter().any(|t| {
                matches!(
                    (t.start, t.end),
                    (parse::TimePoint::Fixed(0), Some(parse::TimePoint::Fixed(e))) if e >= 24 * 60
                ) && !t.open_end
            });
        days_ok && times_ok
    }

    /// State at a local wall-clock time in `tz` (the time zone is only needed to
    /// place solar events such as sunrise on the local clock).
    #[must_use]
    pub fn state_at(&self, local: NaiveDateTime, tz: Tz, ctx: &Context<'_>) -> State {
        eval::Evaluator::new(&self.rules, tz, ctx).at_local(local).0
    }

    /// State at an instant, evaluated on the wall clock of `tz`. On DST change
    /// nights this follows the wall clock: `00:00-03:00` lasts two real hours on
    /// the spring-forward night and four on the fall-back night in Europe.
    #[must_use]
    pub fn state_at_instant(&self, t: DateTime<Utc>, tz: Tz, ctx: &Context<'_>) -> State {
        eval::Evaluator::new(&self.rules, tz, ctx).at_instant(t).0
    }

    /// The comment of the rule that decides the state at `t`, if it has one.
    #[must_use]
    pub fn comment_at_instant(&self, t: DateTime<Utc>, tz: Tz, ctx: &Context<'_>) -> Option<&str> {
        let (_, iv) = eval::Evaluator::new(&self.rules, tz, ctx).at_instant(t);
        self.rules.get(iv?.rule)?.comment.as_deref()
    }

    /// Is it [`State::Open`] during the whole closed interval `[t, t + d]`?
    /// `false` for a negative `d` or if `t + d` overflows.
    #[must_use]
    pub fn open_throughout(
        &self,
        t: DateTime<Utc>,
        d: Duration,
        tz: Tz,
        ctx: &Context<'_>,
    ) -> bool {
        if d < Duration::zero() {
            return false;
        }
        let Some(end) = t.checked_add_signed(d) else {
            return false;
        };
        let mut ev = eval::Evaluator::new(&self.rules, tz, ctx);
        if ev.at_instant(t).0 != State::Open {
            return false;
        }
        d.is_zero() || ev.next_change(t, end).is_none()
    }

    /// The state at `from` and every instant in `(from, to]` at which the state
    /// changes, with the state from then on; in order, each differing from the
    /// one before. For `t` in `[from, to)` the state at `t` is that of the last
    /// change at or before `t` (or the first element if none), and
    /// [`OpeningHours::next_change`] at `t` is the first listed change after `t`
    /// when there is one. Lets callers answer repeated queries in a window
    /// without evaluating (e.g. a per-facility timeline for a week).
    #[must_use]
    pub fn changes_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
        ctx: &Context<'_>,
    ) -> (State, Vec<(DateTime<Utc>, State)>) {
        eval::Evaluator::new(&self.rules, tz, ctx).changes(from, to)
    }

    /// The first instant after `t` at which the state differs from the state at `t`,
    /// within [`NEXT_CHANGE_HORIZON_DAYS`]; `None` if there is none.
    #[must_use]
    pub fn next_change(
        &self,
        t: DateTime<Utc>,
        tz: Tz,
        ctx: &Context<'_>,
    ) -> Option<DateTime<Utc>> {
        let limit = t.checked_add_signed(Duration::days(NEXT_CHANGE_HORIZON_DAYS))?;
        eval::Evaluator::new(&self.rules, tz, ctx).next_change(t, limit)
    }
}
