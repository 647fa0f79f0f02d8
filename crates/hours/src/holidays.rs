//! Public holiday calendars, computed from rules (no tables that expire).

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// Answers whether a date is a holiday; used for the `PH` and `SH` selectors.
pub trait HolidayCalendar {
    /// Is `date` a public holiday (`PH`)?
    fn is_public_holiday(&self, date: NaiveDate) -> bool;
    /// Is `date` in the school holidays (`SH`)? Defaults to never.
    fn is_school_holiday(&self, date: NaiveDate) -> bool {
        let _ = date;
        false
    }
}

/// A calendar without any holidays.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHolidays;

impl HolidayCalendar for NoHolidays {
    fn is_public_holiday(&self, _date: NaiveDate) -> bool {
        false
    }
}

/// Countries whose national public holidays are built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    /// DK
    Denmark,
    /// SE
    Sweden,
    /// NO
    Norway,
    /// FI
    Finland,
    /// DE (nationwide holidays only, no state holidays)
    Germany,
    /// LI
    Liechtenstein,
    /// MC
    Monaco,
    /// CH (holidays observed in (nearly) all cantons)
    Switzerland,
}

impl Country {
    /// From an ISO 3166-1 alpha-2 code, case-insensitive (`"dk"`, `"SE"`, ...).
    #[must_use]
    pub fn from_iso_code(code: &str) -> Option<Self> {
        Some(match code.to_ascii_uppercase().as_str() {
            "DK" => Self::Denmark,
            "SE" => Self::Sweden,
            "NO" => Self::Norway,
            "FI" => Self::Finland,
            "DE" => Self::Germany,
            "LI" => Self::Liechtenstein,
            "MC" => Self::Monaco,
            "CH" => Self::Switzerland,
            _ => return None,
        })
    }

    /// The ISO 3166-1 alpha-2 code.
    #[must_use]
    pub fn iso_code(self) -> &'static str {
        match self {
            Self::Denmark => "DK",
            Self::Sweden => "SE",
            Self::Norway => "NO",
            Self::Finland => "FI",
            Self::Germany => "DE",
            Self::Liechtenstein => "LI",
            Self::Monaco => "MC",
            Self::Switzerland => "CH",
        }
    }
}

/// One public holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// The date it is observed on.
    pub date: NaiveDate,
    /// Local name.
    pub name: &'static str,
}

/// The national public holidays of a [`Country`], computed for any year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryHolidays(pub Country);

/// Easter Sunday (Gregorian calendar) with the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher). `None` outside 1583..=9999.
#[must_use]
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    if !(1583..=9999).contains(&year) {
        return None;
    }
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The first `weekday` on or after `from`.
fn weekday_on_or_after(from: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let ahead = (7 + weekday.num_days_from_monday() - from.weekday().num_days_from_monday()) % 7;
    from.checked_add_days(Days::new(u64::from(ahead)))
}

fn easter_offset(easter: Option<NaiveDate>, days: i64) -> Option<NaiveDate> {
    let e = easter?;
    if days >= 0 {
        e.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        e.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

impl CountryHolidays {
    /// All public holidays of the country in `year`, in calendar order.
    #[must_use]
    #[allow(clippy::too_many_lines)]
    pub fn holidays(&self, year: i32) -> Vec<Holiday> {
        let e = easter_sunday(year);
        let ez = |d: i64| easter_offset(e, d);
        let mut v: Vec<(Option<NaiveDate>, &'static str)> = Vec::new();
        match self.0 {
            Country::Denmark => {
                v.push((ymd(year, 1, 1), "Nytårsdag"));
                v.push((ez(-3), "Skærtorsdag"));
                v.push((ez(-2), "Langfredag"));
                v.push((ez(0), "Påskedag"));
                v.push((ez(1), "2. påskedag"));
                // Store Bededag (4th Friday after Easter) was abolished from 2024.
                if year < 2024 {
                    v.push((ez(26), "Store bededag"));
                }
                v.push((ez(39), "Kristi himmelfartsdag"));
                v.push((ez(49), "Pinsedag"));
                v.push((ez(50), "2. pinsedag"));
                v.push((ymd(year, 12, 25), "Juledag"));
                v.push((ymd(year, 12, 26), "2. juledag"));
            }
            Country::Sweden => {
                v.push((ymd(year, 1, 1), "Nyårsdagen"));
                v.push((ymd(year, 1, 6), "Trettondedag jul"));
                v.push((ez(-2), "Långfredagen"));
                v.push((ez(0), "Påskdagen"));
                v.push((ez(1), "Annandag påsk"));
                v.push((ymd(year, 5, 1), "Första maj"));
                v.push((ez(39), "Kristi himmelsfärdsdag"));
                v.push((ez(49), "Pingstdagen"));
                if year >= 2005 {
                    v.push((ymd(year, 6, 6), "Sveriges nationaldag"));
                } else {
                    // Replaced by the national day in 2005.
                    v.push((ez(50), "Annandag pingst"));
                }
                // Midsummer Eve (de facto holiday) is the Friday between 19 and 25 June,
                // Midsummer Day the Saturday after it.
                let eve = ymd(year, 6, 19).and_then(|d| weekday_on_or_after(d, Weekday::Fri));
                v.push((eve, "Midsommarafton"));
                v.push((eve.and_then(|d| d.succ_opt()), "Midsommardagen"));
                // All Saints' Day: the Saturday between 31 October and 6 November.
                v.push((
                    ymd(year, 10, 31).and_then(|d| weekday_on_or_after(d, Weekday::Sat)),
                    "Alla helgons dag",
                ));
                v.push((ymd(year, 12, 24), "Julafton"));
                v.push((ymd(year, 12, 25), "Juldagen"));
                v.push((ymd(year, 12, 26), "Annandag jul"));
                v.push((ymd(year, 12, 31), "Nyårsafton"));
            }
            Country::Norway => {
                v.push((ymd(year, 1, 1), "Første nyttårsdag"));
                v.push((ez(-3), "Skjærtorsdag"));
                v.push((ez(-2), "Langfredag"));
                v.push((ez(0), "Første påskedag"));
                v.push((ez(1), "Andre påskedag"));
                v.push((ymd(year, 5, 1), "Arbeidernes dag"));
                v.push((ymd(year, 5, 17), "Grunnlovsdag"));
                v.push((ez(39), "Kristi himmelfartsdag"));
                v.push((ez(49), "Første pinsedag"));
                v.push((ez(50), "Andre pinsedag"));
                v.push((ymd(year, 12, 25), "Første juledag"));
                v.push((ymd(year, 12, 26), "Andre juledag"));
            }
            Country::Finland => {
                v.push((ymd(year, 1, 1), "Uudenvuodenpäivä"));
                v.push((ymd(year, 1, 6), "Loppiainen"));
                v.push((ez(-2), "Pitkäperjantai"));
                v.push((ez(0), "Pääsiäispäivä"));
                v.push((ez(1), "Toinen pääsiäispäivä"));
                v.push((ymd(year, 5, 1), "Vappu"));
                v.push((ez(39), "Helatorstai"));
                v.push((ez(49), "Helluntaipäivä"));
                // Midsummer Eve (de facto holiday): Friday between 19 and 25 June;
                // Midsummer Day: the Saturday after it.
                let eve = ymd(year, 6, 19).and_then(|d| weekday_on_or_after(d, Weekday::Fri));
                v.push((eve, "Juhannusaatto"));
                v.push((eve.and_then(|d| d.succ_opt()), "Juhannuspäivä"));
                // All Saints' Day: Saturday between 31 October and 6 November.
                v.push((
                    ymd(year, 10, 31).and_then(|d| weekday_on_or_after(d, Weekday::Sat)),
                    "Pyhäinpäivä",
                ));
                v.push((ymd(year, 12, 6), "Itsenäisyyspäivä"));
                v.push((ymd(year, 12, 24), "Jouluaatto"));
                v.push((ymd(year, 12, 25), "Joulupäivä"));
                v.push((ymd(year, 12, 26), "Tapaninpäivä"));
            }
            Country::Germany => {
                v.push((ymd(year, 1, 1), "Neujahr"));
                v.push((ez(-2), "Karfreitag"));
                v.push((ez(1), "Ostermontag"));
                v.push((ymd(year, 5, 1), "Tag der Arbeit"));
                v.push((ez(39), "Christi Himmelfahrt"));
                v.push((ez(50), "Pfingstmontag"));
                if (1954..=1990).contains(&year) {
                    v.push((ymd(year, 6, 17), "Tag der deutschen Einheit (17. Juni)"));
                }
                if year >= 1990 {
                    v.push((ymd(year, 10, 3), "Tag der Deutschen Einheit"));
                }
                if year == 2017 {
                    // 500th anniversary of the Reformation: nationwide once.
                    v.push((ymd(year, 10, 31), "Reformationstag"));
                }
                if year <= 1994 {
                    // Buß- und Bettag, nationwide until 1994: Wednesday between 16 and 22 Nov.
                    v.push((
                        ymd(year, 11, 16).and_then(|d| weekday_on_or_after(d, Weekday::Wed)),
                        "Buß- und Bettag",
                    ));
                }
                v.push((ymd(year, 12, 25), "1. Weihnachtstag"));
                v.push((ymd(year, 12, 26), "2. Weihnachtstag"));
            }
            Country::Liechtenstein => {
                v.push((ymd(year, 1, 1), "Neujahr"));
                v.push((ymd(year, 1, 6), "Heilige Drei Könige"));
                v.push((ymd(year, 2, 2), "Mariä Lichtmess"));
                v.push((ymd(year, 3, 19), "Josefstag"));
                v.push((ez(1), "Ostermontag"));
                v.push((ymd(year, 5, 1), "Tag der Arbeit"));
                v.push((ez(39), "Christi Himmelfahrt"));
                v.push((ez(50), "Pfingstmontag"));
                v.push((ez(60), "Fronleichnam"));
                v.push((ymd(year, 8, 15), "Staatsfeiertag"));
                v.push((ymd(year, 9, 8), "Mariä Geburt"));
                v.push((ymd(year, 11, 1), "Allerheiligen"));
                v.push((ymd(year, 12, 8), "Mariä Empfängnis"));
                v.push((ymd(year, 12, 25), "Weihnachten"));
                v.push((ymd(year, 12, 26), "Stephanstag"));
            }
            Country::Monaco => {
                // Fixed-date holidays falling on a Sunday are observed on the Monday.
                let fixed = [
                    (1, 1, "Jour de l'An"),
                    (1, 27, "Sainte Dévote"),
                    (5, 1, "Fête du Travail"),
                    (8, 15, "Assomption"),
                    (11, 1, "Toussaint"),
                    (11, 19, "Fête du Prince"),
                    (12, 8, "Immaculée Conception"),
                    (12, 25, "Noël"),
                ];
                for (m, d, name) in fixed {
                    let date = ymd(year, m, d).and_then(|dt| {
                        if dt.weekday() == Weekday::Sun {
                            dt.succ_opt()
                        } else {
                            Some(dt)
                        }
                    });
                    v.push((date, name));
                }
                v.push((ez(1), "Lundi de Pâques"));
                v.push((ez(39), "Ascension"));
                v.push((ez(50), "Lundi de Pentecôte"));
                v.push((ez(60), "Fête-Dieu"));
            }
            Country::Switzerland => {
                v.push((ymd(year, 1, 1), "Neujahr"));
                v.push((ez(-2), "Karfreitag"));
                v.push((ez(1), "Ostermontag"));
                v.push((ez(39), "Auffahrt"));
                v.push((ez(50), "Pfingstmontag"));
                v.push((ymd(year, 8, 1), "Bundesfeier"));
                v.push((ymd(year, 12, 25), "Weihnachten"));
                v.push((ymd(year, 12, 26), "Stephanstag"));
            }
        }
        let mut out: Vec<Holiday> = v
            .into_iter()
            .filter_map(|(d, name)| d.map(|date| Holiday { date, name }))
            .collect();
        out.sort_by_key(|h| h.date);
        out
    }

    /// The holiday on `date`, if any.
    #[must_use]
    pub fn holiday_on(&self, date: NaiveDate) -> Option<Holiday> {
        self.holidays(date.year())
            .into_iter()
            .find(|h| h.date == date)
    }
}

impl HolidayCalendar for CountryHolidays {
    fn is_public_holiday(&self, date: NaiveDate) -> bool {
        self.holiday_on(date).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn easter_known_dates() {
        // Published Western Easter dates.
        assert_eq!(easter_sunday(1818), Some(d(1818, 3, 22)));
        assert_eq!(easter_sunday(1943), Some(d(1943, 4, 25)));
        assert_eq!(easter_sunday(2000), Some(d(2000, 4, 23)));
        assert_eq!(easter_sunday(2019), Some(d(2019, 4, 21)));
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(easter_sunday(1500), None);
    }

    #[test]
    fn easter_is_always_a_sunday_in_range() {
        for y in 1583..=4099 {
            let e = easter_sunday(y).expect("in range");
            assert_eq!(e.weekday(), Weekday::Sun, "{y}");
            assert!((d(y, 3, 22)..=d(y, 4, 25)).contains(&e), "{y}: {e}");
        }
    }

    #[test]
    fn weekday_on_or_after_works() {
        // 2025-06-19 is a Thursday.
        assert_eq!(
            weekday_on_or_after(d(2025, 6, 19), Weekday::Fri),
            Some(d(2025, 6, 20))
        );
        assert_eq!(
            weekday_on_or_after(d(2025, 6, 19), Weekday::Thu),
            Some(d(2025, 6, 19))
        );
        assert_eq!(
            weekday_on_or_after(d(2025, 6, 19), Weekday::Wed),
            Some(d(2025, 6, 25))
        );
    }

    #[test]
    fn every_country_has_new_year_and_sorted_dates() {
        for c in [
            Country::Denmark,
            Country::Sweden,
            Country::Norway,
            Country::Finland,
            Country::Germany,
            Country::Liechtenstein,
            Country::Monaco,
            Country::Switzerland,
        ] {
            assert_eq!(Country::from_iso_code(c.iso_code()), Some(c));
            for y in [1990, 2023, 2024, 2025, 2100] {
                let hs = CountryHolidays(c).holidays(y);
                assert!(
                    hs.iter()
                        .any(|h| h.date == d(y, 1, 1) || h.date == d(y, 1, 2)),
                    "{c:?} {y}"
                );
                // Sorted, and all in the requested year (feasts may coincide, e.g.
                // Norway 2100: Whit Monday on 17 May).
                assert!(hs.windows(2).all(|w| w[0].date <= w[1].date), "{c:?} {y}");
                assert!(hs.iter().all(|h| h.date.year() == y), "{c:?} {y}");
            }
        }
    }

    #[test]
    fn monaco_sunday_moves_to_monday() {
        // 2024-12-08 (Immaculate Conception) was a Sunday: observed Monday 9 Dec.
        let mc = CountryHolidays(Country::Monaco);
        assert!(!mc.is_public_holiday(d(2024, 12, 8)));
        assert!(mc.is_public_holiday(d(2024, 12, 9)));
        // 2025-01-27 Sainte Dévote is a Monday anyway.
        assert!(mc.is_public_holiday(d(2025, 1, 27)));
    }

    #[test]
    fn germany_by_year() {
        let de = CountryHolidays(Country::Germany);
        assert!(de.is_public_holiday(d(2017, 10, 31)));
        assert!(!de.is_public_holiday(d(2018, 10, 31)));
        assert!(de.is_public_holiday(d(2025, 10, 3)));
        assert!(!de.is_public_holiday(d(1989, 10, 3)));
        // Buß- und Bettag 1994-11-16 (Wednesday), abolished from 1995.
        assert!(de.is_public_holiday(d(1994, 11, 16)));
        assert!(!de.is_public_holiday(d(1995, 11, 22)));
    }

    #[test]
    fn sweden_by_year() {
        let se = CountryHolidays(Country::Sweden);
        assert!(se.is_public_holiday(d(2025, 6, 6)));
        assert!(!se.is_public_holiday(d(2004, 6, 6)));
        // Whit Monday 2004 (Easter 2004-04-11 + 50) was still a holiday.
        assert!(se.is_public_holiday(d(2004, 5, 31)));
        assert!(!se.is_public_holiday(d(2025, 6, 9)));
        // All Saints' Day: Saturday 2024-11-02 and 2025-11-01.
        assert!(se.is_public_holiday(d(2024, 11, 2)));
        assert!(!se.is_public_holiday(d(2024, 11, 1)));
        assert!(se.is_public_holiday(d(2025, 11, 1)));
    }

    #[test]
    fn finland_midsummer() {
        let fi = CountryHolidays(Country::Finland);
        // 2025: Eve Friday 20 June, Day Saturday 21 June; 2026: 19/20 June.
        assert!(fi.is_public_holiday(d(2025, 6, 20)));
        assert!(fi.is_public_holiday(d(2025, 6, 21)));
        assert!(!fi.is_public_holiday(d(2025, 6, 24)));
        assert!(fi.is_public_holiday(d(2026, 6, 19)));
        assert!(fi.is_public_holiday(d(2026, 6, 20)));
    }
}
