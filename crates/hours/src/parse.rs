//! Hand-written recursive-descent parser for the supported `opening_hours` subset.
//!
//! The parser works on a `Vec<char>` so that every error can report a character
//! offset (not a byte offset) into the original value.

use crate::{ParseError, State};

/// How a rule is joined to the rule before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// `;` (or the first rule): overrides earlier rules of the same tier on the days it matches.
    Normal,
    /// `,`: adds to earlier rules without clearing them.
    Additional,
    /// `||`: fallback, consulted only where earlier tiers say nothing.
    Fallback,
}

/// A solar event usable as a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SolarEvent {
    Dawn,
    Sunrise,
    Sunset,
    Dusk,
}

/// A time of day: fixed minutes since midnight (0..=2880) or a solar event with an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimePoint {
    Fixed(i32),
    Event { event: SolarEvent, offset_min: i32 },
}

/// `start-end`, `start+` (open end) or `start-end+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeSpan {
    pub start: TimePoint,
    pub end: Option<TimePoint>,
    pub open_end: bool,
}

/// Inclusive year range with a step (`2024-2030/2`); `end == i32::MAX` for `2024+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YearRange {
    pub start: i32,
    pub end: i32,
    pub step: u32,
}

/// Inclusive month-day range, `(month 1..=12, day 1..=31)`; may wrap over New Year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MonthdayRange {
    pub start: (u32, u32),
    pub end: (u32, u32),
}

/// Inclusive ISO week range with a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeekRange {
    pub start: u32,
    pub end: u32,
    pub step: u32,
}

/// Weekday range (0 = Monday), may wrap (`Sa-Mo`); `nth` restricts to the n-th
/// (negative: from the end) occurrence in the month, e.g. `Su[-1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeekdayRange {
    pub start: u32,
    pub end: u32,
    pub nth: Vec<(i32, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HolidayKind {
    Public,
    School,
}

/// Date selectors of one rule. Every non-empty category must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    pub years: Vec<YearRange>,
    pub monthdays: Vec<MonthdayRange>,
    pub weeks: Vec<WeekRange>,
    pub weekdays: Vec<WeekdayRange>,
    pub holidays: Vec<HolidayKind>,
    /// `SH Mo-Fr` (space): holiday AND weekday. Otherwise (`PH,Sa`) holiday OR weekday.
    pub holiday_weekday_intersect: bool,
}

impl Selector {
    pub(crate) fn is_empty(&self) -> bool {
        self.years.is_empty()
            && self.monthdays.is_empty()
            && self.weeks.is_empty()
            && self.weekdays.is_empty()
            && self.holidays.is_empty()
    }
}

/// One rule sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub sep: Sep,
    /// Number of `||` before this rule.
    pub tier: u32,
    pub selector: Selector,
    /// Empty: the whole day.
    pub times: Vec<TimeSpan>,
    pub state: State,
    pub comment: Option<String>,
}

const WEEKDAYS: [[&str; 3]; 7] = [
    ["mo", "mon", "monday"],
    ["tu", "tue", "tuesday"],
    ["we", "wed", "wednesday"],
    ["th", "thu", "thursday"],
    ["fr", "fri", "friday"],
    ["sa", "sat", "saturday"],
    ["su", "sun", "sunday"],
];
const MONTHS: [[&str; 2]; 12] = [
    ["jan", "january"],
    ["feb", "february"],
    ["mar", "march"],
    ["apr", "april"],
    ["may", "may"],
    ["jun", "june"],
    ["jul", "july"],
    ["aug", "august"],
    ["sep", "september"],
    ["oct", "october"],
    ["nov", "november"],
    ["dec", "december"],
];

fn weekday_index(word: &str) -> Option<u32> {
    WEEKDAYS
        .iter()
        .position(|names| names.contains(&word))
        .and_then(|i| u32::try_from(i).ok())
}

fn month_index(word: &str) -> Option<u32> {
    if word == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|names| names.contains(&word))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn solar_event(word: &str) -> Option<SolarEvent> {
    match word {
        "dawn" => Some(SolarEvent::Dawn),
        "sunrise" => Some(SolarEvent::Sunrise),
        "sunset" => Some(SolarEvent::Sunset),
        "dusk" => Some(SolarEvent::Dusk),
        _ => None,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

type PResult<T> = Result<T, ParseError>;

/// Parse a complete value into rules.
pub(crate) fn parse(input: &str) -> PResult<Vec<Rule>> {
    let mut p = Parser {
        chars: input.chars().collect(),
        pos: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err("empty value; expected a rule such as \"Mo-Fr 08:00-17:00\""));
    }
    let mut rules = Vec::new();
    let mut sep = Sep::Normal;
    let mut tier = 0u32;
    loop {
        let rule = p.rule(sep, tier)?;
        rules.push(rule);
        p.skip_ws();
        if p.at_end() {
            break;
        }
        if p.eat_str("||") {
            sep = Sep::Fallback;
            tier = tier.saturating_add(1);
        } else if p.eat(';') {
            sep = Sep::Normal;
        } else if p.eat(',') {
            sep = Sep::Additional;
        } else {
            return Err(p.err("expected ';', ',' or '||' before the next rule"));
        }
        p.skip_ws();
        // Lenient: a trailing ';' is a common, harmless mistake.
        if p.at_end() && sep == Sep::Normal {
            break;
        }
    }
    Ok(rules)
}

impl Parser {
    fn err(&self, message: &str) -> ParseError {
        self.err_at(self.pos, message)
    }

    fn err_at(&self, position: usize, message: &str) -> ParseError {
        ParseError {
            position,
            message: message.to_owned(),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos.saturating_add(offset)).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Range dash: `-`, and leniently the en dash and em dash.
    fn eat_dash(&mut self) -> bool {
        matches!(self.peek(), Some('-' | '\u{2013}' | '\u{2014}')) && {
            self.pos += 1;
            true
        }
    }

    fn peek_dash(&self) -> bool {
        matches!(self.peek(), Some('-' | '\u{2013}' | '\u{2014}'))
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        let matches = s
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c));
        if matches {
            self.pos += n;
        }
        matches
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The alphabetic word at the cursor, lower-cased, and its length in chars.
    fn peek_word(&self) -> (String, usize) {
        let mut word = String::new();
        let mut n = 0;
        while let Some(c) = self.peek_at(n) {
            if !c.is_alphabetic() {
                break;
            }
            word.extend(c.to_lowercase());
            n += 1;
        }
        (word, n)
    }

    /// Number of ASCII digits at the cursor.
    fn digit_run(&self) -> usize {
        let mut n = 0;
        while self.peek_at(n).is_some_and(|c| c.is_ascii_digit()) {
            n += 1;
        }
        n
    }

    /// Reads up to `max` digits (at least one) as a number.
    fn number(&mut self, max_digits: usize, what: &str) -> PResult<u32> {
        let n = self.digit_run();
        if n == 0 || n > max_digits {
            return Err(self.err(what));
        }
        let mut v: u32 = 0;
        for _ in 0..n {
            let d = self.peek().and_then(|c| c.to_digit(10)).unwrap_or(0);
            v = v.saturating_mul(10).saturating_add(d);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Is the cursor at a 1-2 digit number that is *not* the start of a time (`8:00`)?
    fn at_plain_small_number(&self) -> bool {
        let n = self.digit_run();
        (1..=2).contains(&n) && self.peek_at(n) != Some(':')
    }

    fn at_time_start(&self) -> bool {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => self.digit_run() <= 2 && self.looks_like_time(),
            Some('(') => true,
            _ => solar_event(&self.peek_word().0).is_some(),
        }
    }

    fn rule(&mut self, sep: Sep, tier: u32) -> PResult<Rule> {
        self.skip_ws();
        let start = self.pos;
        let mut selector = Selector::default();
        let mut times = Vec::new();
        let mut is_247 = false;
        if self.eat_str("24/7") {
            is_247 = true;
        } else {
            selector = self.selectors()?;
            self.skip_ws();
            if !selector.is_empty() && self.peek() == Some(':') {
                // Lenient: `Mo-Fr: 08:00-17:00`.
                self.pos += 1;
                self.skip_ws();
            }
            if self.at_time_start() {
                times = self.time_list()?;
            }
        }
        self.skip_ws();
        let (word, n) = self.peek_word();
        let modifier = match word.as_str() {
            "open" => Some(State::Open),
            "closed" | "off" => Some(State::Closed),
            "unknown" => Some(State::Unknown),
            _ => None,
        };
        if modifier.is_some() {
            self.pos += n;
        }
        self.skip_ws();
        let comment = if self.peek() == Some('"') {
            Some(self.comment()?)
        } else {
            None
        };
        let nothing = !is_247
            && selector.is_empty()
            && times.is_empty()
            && modifier.is_none()
            && comment.is_none();
        if nothing {
            let msg = if self.at_end() {
                "expected a rule such as \"Mo-Fr 08:00-17:00\""
            } else {
                "expected a weekday (Mo-Su), month, PH, a time like 08:00, \"24/7\", off or a comment"
            };
            return Err(self.err_at(start.max(self.pos), msg));
        }
        // Anything unconsumed that is not a separator is an error at this position.
        self.skip_ws();
        if let Some(c) = self.peek()
            && !matches!(c, ';' | ',' | '|')
        {
            let msg = if times.is_empty() && !is_247 && modifier.is_none() && comment.is_none() {
                "expected a time like 08:00"
            } else {
                "expected ';', ',' or '||' before the next rule"
            };
            return Err(self.err(msg));
        }
        let state = match modifier {
            Some(s) => s,
            // A rule that is only a comment (`"by appointment"`, `Mo "on call"`) is unknown.
            None if comment.is_some() && times.is_empty() && !is_247 => State::Unknown,
            None => State::Open,
        };
        Ok(Rule {
            sep,
            tier,
            selector,
            times,
            state,
            comment,
        })
    }

    fn comment(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err_at(open, "unterminated comment: missing closing '\"'")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn selectors(&mut self) -> PResult<Selector> {
        let mut sel = Selector::default();
        self.skip_ws();
        if self.digit_run() == 4 && self.peek_at(4) != Some(':') {
            sel.years = self.year_ranges()?;
            self.skip_ws();
        }
        if month_index(&self.peek_word().0).is_some() {
            sel.monthdays = self.monthday_ranges()?;
            self.skip_ws();
        }
        if self.peek_word().0 == "week" {
            sel.weeks = self.week_ranges()?;
            self.skip_ws();
        }
        let (w, _) = self.peek_word();
        if weekday_index(&w).is_some() || w == "ph" || w == "sh" {
            let (weekdays, holidays) = self.weekday_holiday_list()?;
            sel.weekdays = weekdays;
            sel.holidays = holidays;
            let save = self.pos;
            self.skip_ws();
            let (w2, _) = self.peek_word();
            if sel.weekdays.is_empty() && weekday_index(&w2).is_some() {
                // `SH Mo-Fr`: school holidays that are weekdays.
                let (weekdays, holidays) = self.weekday_holiday_list()?;
                if !holidays.is_empty() {
                    return Err(self.err_at(save, "a holiday may only be followed by weekdays"));
                }
                sel.weekdays = weekdays;
                sel.holiday_weekday_intersect = true;
            } else {
                self.pos = save;
            }
        }
        Ok(sel)
    }

    fn year(&mut self) -> PResult<i32> {
        let at = self.pos;
        if self.digit_run() != 4 {
            return Err(self.err("expected a four-digit year"));
        }
        let y = self.number(4, "expected a four-digit year")?;
        if y < 1900 {
            return Err(self.err_at(at, "year must be 1900 or later"));
        }
        i32::try_from(y).map_err(|_| self.err_at(at, "year out of range"))
    }

    fn year_ranges(&mut self) -> PResult<Vec<YearRange>> {
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            let start = self.year()?;
            let mut end = start;
            let mut step = 1;
            if self.eat('+') {
                end = i32::MAX;
            } else if self.peek_dash() && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
                end = self.year()?;
                if end < start {
                    return Err(self.err_at(at, "year range must not go backwards"));
                }
                if self.eat('/') {
                    step = self.number(3, "expected a year step such as /2")?.max(1);
                }
            }
            out.push(YearRange { start, end, step });
            let save = self.pos;
            self.skip_ws();
            if self.eat(',') {
                self.skip_ws();
                if self.digit_run() == 4 && self.peek_at(4) != Some(':') {
                    continue;
                }
            }
            self.pos = save;
            return Ok(out);
        }
    }

    fn month(&mut self) -> PResult<u32> {
        let (w, n) = self.peek_word();
        match month_index(&w) {
            Some(m) => {
                self.pos += n;
                Ok(m)
            }
            None => Err(self.err("expected a month such as Jan")),
        }
    }

    fn day(&mut self) -> PResult<u32> {
        let at = self.pos;
        let d = self.number(2, "expected a day of the month")?;
        if !(1..=31).contains(&d) {
            return Err(self.err_at(at, "day of the month must be 1-31"));
        }
        Ok(d)
    }

    fn monthday_ranges(&mut self) -> PResult<Vec<MonthdayRange>> {
        let mut out = Vec::new();
        let mut last_month = 1;
        loop {
            // Either a full item starting with a month, or (after a day) just a day: `Dec 25,26`.
            let (m1, d1) = if month_index(&self.peek_word().0).is_some() {
                let m = self.month()?;
                let save = self.pos;
                self.skip_ws();
                if self.at_plain_small_number() {
                    (m, Some(self.day()?))
                } else {
                    self.pos = save;
                    (m, None)
                }
            } else {
                (last_month, Some(self.day()?))
            };
            let range = match d1 {
                Some(d1) => {
                    let save = self.pos;
                    self.skip_ws();
                    if self.eat_dash() {
                        self.skip_ws();
                        if month_index(&self.peek_word().0).is_some() {
                            let m2 = self.month()?;
                            self.skip_ws();
                            let d2 = self.day()?;
                            MonthdayRange {
                                start: (m1, d1),
                                end: (m2, d2),
                            }
                        } else if self.at_plain_small_number() {
                            let d2 = self.day()?;
                            MonthdayRange {
                                start: (m1, d1),
                                end: (m1, d2),
                            }
                        } else {
                            return Err(self.err("expected a day of the month or a month"));
                        }
                    } else {
                        self.pos = save;
                        MonthdayRange {
                            start: (m1, d1),
                            end: (m1, d1),
                        }
                    }
                }
                None => {
                    let save = self.pos;
                    self.skip_ws();
                    if self.eat_dash() {
                        self.skip_ws();
                        let m2 = self.month()?;
                        MonthdayRange {
                            start: (m1, 1),
                            end: (m2, 31),
                        }
                    } else {
                        self.pos = save;
                        MonthdayRange {
                            start: (m1, 1),
                            end: (m1, 31),
                        }
                    }
                }
            };
            last_month = range.end.0;
            let last_had_day = d1.is_some();
            out.push(range);
            let save = self.pos;
            self.skip_ws();
            if self.eat(',') {
                self.skip_ws();
                if month_index(&self.peek_word().0).is_some()
                    || (last_had_day && self.at_plain_small_number())
                {
                    continue;
                }
            }
            self.pos = save;
            return Ok(out);
        }
    }

    fn week_ranges(&mut self) -> PResult<Vec<WeekRange>> {
        let (_, n) = self.peek_word();
        self.pos += n; // "week"
        self.skip_ws();
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            let start = self.number(2, "expected a week number 01-53")?;
            let mut end = start;
            let mut step = 1;
            if self.peek_dash() && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
                end = self.number(2, "expected a week number 01-53")?;
                if self.eat('/') {
                    step = self.number(2, "expected a week step such as /2")?.max(1);
                }
            }
            if !(1..=53).contains(&start) || !(1..=53).contains(&end) {
                return Err(self.err_at(at, "week number must be 01-53"));
            }
            out.push(WeekRange { start, end, step });
            let save = self.pos;
            if self.eat(',')
                && self.peek().is_some_and(|c| c.is_ascii_digit())
                && !self.looks_like_time()
            {
                continue;
            }
            self.pos = save;
            return Ok(out);
        }
    }

    /// Digits at the cursor followed by ':' (a time, not a number).
    fn looks_like_time(&self) -> bool {
        let n = self.digit_run();
        n > 0 && self.peek_at(n) == Some(':')
    }

    fn weekday(&mut self) -> PResult<u32> {
        let (w, n) = self.peek_word();
        match weekday_index(&w) {
            Some(d) => {
                self.pos += n;
                Ok(d)
            }
            None => Err(self.err("expected a weekday (Mo, Tu, We, Th, Fr, Sa, Su)")),
        }
    }

    fn nth_list(&mut self) -> PResult<Vec<(i32, i32)>> {
        let mut out = Vec::new();
        if !self.eat('[') {
            return Ok(out);
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            let neg = self.eat('-');
            let a = i32::try_from(self.number(1, "expected 1-5 or -1..-5")?).unwrap_or(0);
            let a = if neg { -a } else { a };
            let mut b = a;
            if self.peek_dash() && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
                b = i32::try_from(self.number(1, "expected 1-5")?).unwrap_or(0);
            }
            let ok = |v: i32| (1..=5).contains(&v.abs());
            if !ok(a) || !ok(b) || (a < 0) != (b < 0) || b < a {
                return Err(self.err_at(at, "expected an occurrence 1-5 or -1..-5"));
            }
            out.push((a, b));
            self.skip_ws();
            if self.eat(',') {
                continue;
            }
            if self.eat(']') {
                return Ok(out);
            }
            return Err(self.err("expected ']'"));
        }
    }

    fn weekday_holiday_list(&mut self) -> PResult<(Vec<WeekdayRange>, Vec<HolidayKind>)> {
        let mut weekdays = Vec::new();
        let mut holidays = Vec::new();
        loop {
            let (w, n) = self.peek_word();
            if w == "ph" || w == "sh" {
                self.pos += n;
                holidays.push(if w == "ph" {
                    HolidayKind::Public
                } else {
                    HolidayKind::School
                });
            } else {
                let start = self.weekday()?;
                let nth = self.nth_list()?;
                let save = self.pos;
                self.skip_ws();
                let end = if self.eat_dash() {
                    self.skip_ws();
                    self.weekday()?
                } else {
                    self.pos = save;
                    start
                };
                weekdays.push(WeekdayRange { start, end, nth });
            }
            let save = self.pos;
            self.skip_ws();
            if self.eat(',') {
                self.skip_ws();
                let (w, _) = self.peek_word();
                if weekday_index(&w).is_some() || w == "ph" || w == "sh" {
                    continue;
                }
            }
            self.pos = save;
            return Ok((weekdays, holidays));
        }
    }

    fn time_list(&mut self) -> PResult<Vec<TimeSpan>> {
        let mut out = Vec::new();
        loop {
            out.push(self.time_span()?);
            let save = self.pos;
            self.skip_ws();
            if self.eat(',') {
                self.skip_ws();
                if self.at_time_start() {
                    continue;
                }
            }
            self.pos = save;
            return Ok(out);
        }
    }

    fn time_span(&mut self) -> PResult<TimeSpan> {
        let start_at = self.pos;
        let start = self.time_point()?;
        if let TimePoint::Fixed(m) = start
            && m > 24 * 60
        {
            return Err(self.err_at(start_at, "a start time must not be after 24:00"));
        }
        let save = self.pos;
        self.skip_ws();
        if self.eat_dash() {
            self.skip_ws();
            let end_at = self.pos;
            let mut end = self.time_point()?;
            if let (TimePoint::Fixed(s), TimePoint::Fixed(e)) = (start, end) {
                // Past midnight: `18:00-02:00` means until 02:00 the next day.
                let e = if e <= s { e + 24 * 60 } else { e };
                if e > 48 * 60 {
                    return Err(self.err_at(end_at, "end time must not be after 48:00"));
                }
                end = TimePoint::Fixed(e);
            }
            let open_end = self.eat('+');
            Ok(TimeSpan {
                start,
                end: Some(end),
                open_end,
            })
        } else if self.eat('+') {
            Ok(TimeSpan {
                start,
                end: None,
                open_end: true,
            })
        } else {
            self.pos = save;
            Err(self.err("expected '-' and an end time, as in 08:00-17:00"))
        }
    }

    fn clock(&mut self) -> PResult<i32> {
        let at = self.pos;
        let n = self.digit_run();
        if n == 0 || n > 2 {
            return Err(self.err("expected a time like 08:00"));
        }
        let h = self.number(2, "expected a time like 08:00")?;
        if !self.eat(':') {
            return Err(self.err("expected ':' and minutes, as in 08:00"));
        }
        if self.digit_run() != 2 {
            return Err(self.err("expected two-digit minutes, as in 08:00"));
        }
        let m = self.number(2, "expected two-digit minutes")?;
        if m >= 60 {
            return Err(self.err_at(at, "minutes must be 00-59"));
        }
        if h > 48 || (h == 48 && m > 0) {
            return Err(self.err_at(at, "hour must be at most 48"));
        }
        i32::try_from(h * 60 + m).map_err(|_| self.err_at(at, "time out of range"))
    }

    fn time_point(&mut self) -> PResult<TimePoint> {
        if self.peek() == Some('(') {
            self.pos += 1;
            self.skip_ws();
            let (w, n) = self.peek_word();
            let Some(event) = solar_event(&w) else {
                return Err(self.err("expected sunrise, sunset, dawn or dusk"));
            };
            self.pos += n;
            self.skip_ws();
            let sign = if self.eat('+') {
                1
            } else if self.eat_dash() {
                -1
            } else {
                return Err(self.err("expected '+' or '-' and an offset like 01:00"));
            };
            self.skip_ws();
            let at = self.pos;
            let off = self.clock()?;
            if off > 24 * 60 {
                return Err(self.err_at(at, "offset must be at most 24:00"));
            }
            self.skip_ws();
            if !self.eat(')') {
                return Err(self.err("expected ')'"));
            }
            return Ok(TimePoint::Event {
                event,
                offset_min: sign * off,
            });
        }
        let (w, n) = self.peek_word();
        if let Some(event) = solar_event(&w) {
            self.pos += n;
            return Ok(TimePoint::Event {
                event,
                offset_min: 0,
            });
        }
        Ok(TimePoint::Fixed(self.clock()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_tiers() {
        let rules = parse("Mo-Fr 08:00-12:00, 13:00-17:00; Sa 09:00-12:00, Su off || \"call\"")
            .expect("parses");
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].times.len(), 2);
        assert_eq!(rules[1].sep, Sep::Normal);
        assert_eq!(rules[2].sep, Sep::Additional);
        assert_eq!(rules[2].state, State::Closed);
        assert_eq!(rules[3].sep, Sep::Fallback);
        assert_eq!(rules[3].tier, 1);
        assert_eq!(rules[3].state, State::Unknown);
    }

    #[test]
    fn weekday_lists_vs_additional_rules() {
        let rules =
            parse("Mo, Tu, We, Fr 08:00-12:00, 14:00-18:00, Th 08:00-12:00").expect("parses");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].selector.weekdays.len(), 4);
        assert_eq!(rules[0].times.len(), 2);
        assert_eq!(
            rules[1].selector.weekdays,
            vec![WeekdayRange {
                start: 3,
                end: 3,
                nth: vec![]
            }]
        );
    }

    #[test]
    fn times_after_midnight_are_normalised() {
        let rules = parse("Fr 18:00-02:00; Sa 22:00-26:00; Su 08:00-08:00").expect("parses");
        assert_eq!(rules[0].times[0].end, Some(TimePoint::Fixed(26 * 60)));
        assert_eq!(rules[1].times[0].end, Some(TimePoint::Fixed(26 * 60)));
        assert_eq!(rules[2].times[0].end, Some(TimePoint::Fixed(32 * 60)));
    }

    #[test]
    fn monthdays_and_years() {
        let rules =
            parse("2024-2026 Dec 24-26, Jan 01-Feb 15, Oct-Mar Mo-Fr 10:00-12:00").expect("parses");
        let sel = &rules[0].selector;
        assert_eq!(
            sel.years,
            vec![YearRange {
                start: 2024,
                end: 2026,
                step: 1
            }]
        );
        assert_eq!(
            sel.monthdays,
            vec![
                MonthdayRange {
                    start: (12, 24),
                    end: (12, 26)
                },
                MonthdayRange {
                    start: (1, 1),
                    end: (2, 15)
                },
                MonthdayRange {
                    start: (10, 1),
                    end: (3, 31)
                },
            ]
        );
        assert_eq!(sel.weekdays.len(), 1);
    }

    #[test]
    fn solar_times() {
        let rules = parse("(sunrise-00:30)-(sunset+01:00)").expect("parses");
        assert_eq!(
            rules[0].times[0].start,
            TimePoint::Event {
                event: SolarEvent::Sunrise,
                offset_min: -30
            }
        );
        assert_eq!(
            rules[0].times[0].end,
            Some(TimePoint::Event {
                event: SolarEvent::Sunset,
                offset_min: 60
            })
        );
    }

    #[test]
    fn holiday_weekday_combinations() {
        let union = parse("PH,Sa off").expect("parses");
        assert!(!union[0].selector.holiday_weekday_intersect);
        let inter = parse("SH Mo-Fr 10:00-12:00").expect("parses");
        assert!(inter[0].selector.holiday_weekday_intersect);
    }
}
