//! Evaluation of parsed rules against dates, wall-clock times and instants.
//!
//! For each local date we build a *day program*: intervals in minutes from that
//! date's 00:00 (end up to 48:00, i.e. spilling into the next day). The state at
//! a wall-clock time on date D is found in D's program and, failing that, in the
//! spill-over part of D-1's program; fallback tiers (`||`) are consulted in order.

use std::collections::HashMap;
use std::rc::Rc;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::parse::{
    HolidayKind, MonthdayRange, Rule, Selector, Sep, SolarEvent, TimePoint, WeekRange,
    WeekdayRange, YearRange,
};
use crate::sun::{SunDay, ZENITH_CIVIL, ZENITH_SUNRISE, sun_day, utc_minutes_to_instant};
use crate::{Context, State};

const DAY_MIN: i32 = 24 * 60;
const TWO_DAYS_MIN: i32 = 48 * 60;

/// One interval of a day program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Iv {
    /// Minutes from the date's 00:00, `0..=2880`.
    pub start: i32,
    pub end: i32,
    pub state: State,
    pub tier: u32,
    /// Index of the rule that produced it.
    pub rule: usize,
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month >= 12 {
        (year.saturating_add(1), 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => u32::try_from(b.signed_duration_since(a).num_days()).unwrap_or(31),
        _ => 31,
    }
}

impl YearRange {
    fn matches(&self, year: i32) -> bool {
        year >= self.start
            && year <= self.end
            && (i64::from(year) - i64::from(self.start)) % i64::from(self.step.max(1)) == 0
    }
}

impl MonthdayRange {
    fn matches(&self, date: NaiveDate) -> bool {
        let key = |(m, d): (u32, u32)| m * 100 + d;
        let x = key((date.month(), date.day()));
        let (s, e) = (key(self.start), key(self.end));
        if s <= e {
            s <= x && x <= e
        } else {
            x >= s || x <= e
        }
    }
}

impl WeekRange {
    fn matches(&self, date: NaiveDate) -> bool {
        let w = date.iso_week().week();
        if self.start <= self.end {
            self.start <= w && w <= self.end && (w - self.start).is_multiple_of(self.step.max(1))
        } else {
            w >= self.start || w <= self.end
        }
    }
}

impl WeekdayRange {
    fn matches(&self, date: NaiveDate) -> bool {
        let wd = date.weekday().num_days_from_monday();
        let in_range = if self.start <= self.end {
            self.start <= wd && wd <= self.end
        } else {
            wd >= self.start || wd <= self.end
        };
        if !in_range {
            return false;
        }
        if self.nth.is_empty() {
            return true;
        }
        let day = date.day();
        let dim = days_in_month(date.year(), date.month());
        let from_start = i32::try_from((day - 1) / 7 + 1).unwrap_or(0);
        let from_end = -i32::try_from(dim.saturating_sub(day) / 7 + 1).unwrap_or(0);
        self.nth.iter().any(|&(a, b)| {
            let k = if a > 0 { from_start } else { from_end };
            a <= k && k <= b
        })
    }
}

impl Selector {
    pub(crate) fn matches(&self, date: NaiveDate, ctx: &Context<'_>) -> bool {
        if !self.years.is_empty() && !self.years.iter().any(|y| y.matches(date.year())) {
            return false;
        }
        if !self.monthdays.is_empty() && !self.monthdays.iter().any(|m| m.matches(date)) {
            return false;
        }
        if !self.weeks.is_empty() && !self.weeks.iter().any(|w| w.matches(date)) {
            return false;
        }
        let wd = || self.weekdays.iter().any(|w| w.matches(date));
        let hol = || {
            self.holidays.iter().any(|h| match h {
                HolidayKind::Public => ctx.holidays.is_public_holiday(date),
                HolidayKind::School => ctx.holidays.is_school_holiday(date),
            })
        };
        match (self.weekdays.is_empty(), self.holidays.is_empty()) {
            (true, true) => true,
            (true, false) => hol(),
            (false, true) => wd(),
            (false, false) if self.holiday_weekday_intersect => hol() && wd(),
            (false, false) => hol() || wd(),
        }
    }
}

/// Wall-clock time of `t` in `tz`; `None` at the very ends of chrono's range
/// (where `DateTime::naive_local` would panic).
pub(crate) fn to_local(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let naive = t.naive_utc();
    naive.checked_add_offset(tz.offset_from_utc_datetime(&naive).fix())
}

/// Minutes from local 00:00 of `date` to a solar event, or `None` if it cannot be
/// computed (no location, bad coordinates).
fn resolve(point: TimePoint, date: NaiveDate, tz: Tz, ctx: &Context<'_>) -> Option<i32> {
    let (event, offset) = match point {
        TimePoint::Fixed(m) => return Some(m),
        TimePoint::Event { event, offset_min } => (event, offset_min),
    };
    let (lat, lon) = ctx.location?;
    let zenith = match event {
        SolarEvent::Sunrise | SolarEvent::Sunset => ZENITH_SUNRISE,
        SolarEvent::Dawn | SolarEvent::Dusk => ZENITH_CIVIL,
    };
    let rising = matches!(event, SolarEvent::Sunrise | SolarEvent::Dawn);
    let minutes = match sun_day(date, lat, lon, zenith)? {
        SunDay::AlwaysUp => {
            if rising {
                0
            } else {
                DAY_MIN
            }
        }
        SunDay::AlwaysDown => DAY_MIN / 2,
        SunDay::RiseSet(r, s) => {
            let utc = utc_minutes_to_instant(date, if rising { r } else { s })?;
            let local = to_local(tz, utc)?;
            let midnight = date.and_hms_opt(0, 0, 0)?;
            i32::try_from(local.signed_duration_since(midnight).num_minutes()).ok()?
        }
    };
    Some(minutes.saturating_add(offset).clamp(0, TWO_DAYS_MIN))
}

fn rule_intervals(
    rule: &Rule,
    idx: usize,
    date: NaiveDate,
    tz: Tz,
    ctx: &Context<'_>,
    out: &mut Vec<Iv>,
) {
    let iv = |start: i32, end: i32, state: State| Iv {
        start,
        end,
        state,
        tier: rule.tier,
        rule: idx,
    };
    if rule.times.is_empty() {
        out.push(iv(0, DAY_MIN, rule.state));
        return;
    }
    for span in &rule.times {
        let Some(start) = resolve(span.start, date, tz, ctx) else {
            // A solar time without a location: we cannot tell.
            out.push(iv(0, DAY_MIN, State::Unknown));
            continue;
        };
        let start = start.clamp(0, DAY_MIN);
        match span.end {
            None => {
                // `18:00+`: open, but for how long is unknown.
                let state = if rule.state == State::Open {
                    State::Unknown
                } else {
                    rule.state
                };
                if start < DAY_MIN {
                    out.push(iv(start, DAY_MIN, state));
                }
            }
            Some(end_point) => {
                let Some(mut end) = resolve(end_point, date, tz, ctx) else {
                    out.push(iv(0, DAY_MIN, State::Unknown));
                    continue;
                };
                if end < start {
                    end += DAY_MIN;
                }
                let end = end.clamp(start, TWO_DAYS_MIN);
                if end > start {
                    out.push(iv(start, end, rule.state));
                }
            }
        }
    }
}

/// Evaluates one `OpeningHours` in one time zone and context, caching day programs.
pub(crate) struct Evaluator<'o, 'c, 'h> {
    rules: &'o [Rule],
    tz: Tz,
    ctx: &'c Context<'h>,
    cache: HashMap<NaiveDate, Rc<Vec<Iv>>>,
}

impl<'o, 'c, 'h> Evaluator<'o, 'c, 'h> {
    pub(crate) fn new(rules: &'o [Rule], tz: Tz, ctx: &'c Context<'h>) -> Self {
        Self {
            rules,
            tz,
            ctx,
            cache: HashMap::new(),
        }
    }

    pub(crate) fn program(&mut self, date: NaiveDate) -> Rc<Vec<Iv>> {
        if let Some(p) = self.cache.get(&date) {
            return Rc::clone(p);
        }
        let mut prog: Vec<Iv> = Vec::new();
        for (idx, rule) in self.rules.iter().enumerate() {
            if !rule.selector.matches(date, self.ctx) {
                continue;
            }
            if rule.sep == Sep::Normal {
                prog.retain(|iv| iv.tier != rule.tier);
            }
            rule_intervals(rule, idx, date, self.tz, self.ctx, &mut prog);
        }
        let prog = Rc::new(prog);
        if self.cache.len() > 4096 {
            self.cache.clear();
        }
        self.cache.insert(date, Rc::clone(&prog));
        prog
    }

    /// State and deciding interval at a local wall-clock time.
    pub(crate) fn at_local(&mut self, local: NaiveDateTime) -> (State, Option<Iv>) {
        let date = local.date();
        let sec = i64::from(local.time().num_seconds_from_midnight());
        let own = self.program(date);
        let prev = date.pred_opt().map(|d| self.program(d)).unwrap_or_default();
        let max_tier = own.iter().chain(prev.iter()).map(|iv| iv.tier).max();
        let Some(max_tier) = max_tier else {
            return (State::Closed, None);
        };
        let covers = |iv: &Iv, s: i64| i64::from(iv.start) * 60 <= s && s < i64::from(iv.end) * 60;
        for tier in 0..=max_tier {
            if let Some(iv) = own
                .iter()
                .rev()
                .find(|iv| iv.tier == tier && covers(iv, sec))
            {
                return (iv.state, Some(*iv));
            }
            if let Some(iv) = prev
                .iter()
                .rev()
                .find(|iv| iv.tier == tier && covers(iv, sec + 86_400))
            {
                return (iv.state, Some(*iv));
            }
        }
        (State::Closed, None)
    }

    pub(crate) fn at_instant(&mut self, t: DateTime<Utc>) -> (State, Option<Iv>) {
        match to_local(self.tz, t) {
            Some(local) => self.at_local(local),
            None => (State::Unknown, None),
        }
    }

    /// UTC instants showing the local wall-clock time `naive` (none in a DST gap).
    fn local_to_utc(&self, naive: NaiveDateTime, out: &mut Vec<DateTime<Utc>>) {
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(x) => out.push(x.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(a, b) => {
                out.push(a.with_timezone(&Utc));
                out.push(b.with_timezone(&Utc));
            }
            chrono::LocalResult::None => {}
        }
    }

    fn offset_secs(&self, t: DateTime<Utc>) -> i32 {
        self.tz
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    }

    /// Instants in `(from, to]` where the UTC offset changes.
    fn transitions(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        let step = Duration::hours(6);
        let mut a = from;
        while a < to {
            let b = a.checked_add_signed(step).map_or(to, |b| b.min(to));
            if self.offset_secs(a) != self.offset_secs(b) {
                // Binary search on whole seconds: offset(lo) == offset(a) != offset(hi).
                let off_lo = self.offset_secs(a);
                let (mut lo, mut hi) = (a.timestamp(), b.timestamp());
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    let Some(m) = DateTime::<Utc>::from_timestamp(mid, 0) else {
                        break;
                    };
                    if self.offset_secs(m) == off_lo {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let hi = DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or(b);
                out.push(hi);
            }
            if b <= a {
                break;
            }
            a = b;
        }
    }

    /// Candidate change instants in `(t, limit]`, sorted and deduplicated: every
    /// interval end point of the day programs from the local day before `t`
    /// onwards, and every UTC offset change. The state is constant between two
    /// consecutive candidates. `None` where `t` has no local time.
    fn candidates(&mut self, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<Vec<DateTime<Utc>>> {
        let local_date = to_local(self.tz, t)?.date();
        let first_day = local_date.pred_opt().unwrap_or(local_date);
        let span_days = limit.signed_duration_since(t).num_days();
        let n_days = span_days.saturating_add(3).clamp(1, 405);
        let mut cands: Vec<DateTime<Utc>> = Vec::new();
        let mut day = first_day;
        for _ in 0..n_days {
            let prog = self.program(day);
            if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
                for iv in prog.iter() {
                    for m in [iv.start, iv.end] {
                        if let Some(naive) =
                            midnight.checked_add_signed(Duration::minutes(i64::from(m)))
                        {
                            self.local_to_utc(naive, &mut cands);
                        }
                    }
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        self.transitions(t, limit, &mut cands);
        cands.retain(|c| *c > t && *c <= limit);
        cands.sort_unstable();
        cands.dedup();
        Some(cands)
    }

    /// First instant in `(t, limit]` where the state differs from the state at `t`.
    pub(crate) fn next_change(
        &mut self,
        t: DateTime<Utc>,
        limit: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if limit <= t {
            return None;
        }
        let (s0, _) = self.at_instant(t);
        let cands = self.candidates(t, limit)?;
        cands.into_iter().find(|&c| self.at_instant(c).0 != s0)
    }

    /// The state at `from` and every change in `(from, to]` with the state it
    /// changes to, in order (each differs from the one before).
    pub(crate) fn changes(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (State, Vec<(DateTime<Utc>, State)>) {
        let (s0, _) = self.at_instant(from);
        let mut out = Vec::new();
        if to <= from {
            return (s0, out);
        }
        let mut cur = s0;
        for c in self.candidates(from, to).unwrap_or_default() {
            let s = self.at_instant(c).0;
            if s != cur {
                out.push((c, s));
                cur = s;
            }
        }
        (s0, out)
    }
}
