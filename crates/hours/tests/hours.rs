//! Integration tests for firstlink-hours: hand-checked cases, DST nights,
//! holidays, solar times, parse errors, real AED data and property tests.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::{Copenhagen, Stockholm};
use chrono_tz::Tz;
use firstlink_hours::{
    Context, Country, CountryHolidays, HolidayCalendar, NoHolidays, OpeningHours, State,
    sunrise_sunset,
};
use proptest::prelude::*;

const DK: CountryHolidays = CountryHolidays(Country::Denmark);
const SE: CountryHolidays = CountryHolidays(Country::Sweden);
const NONE: NoHolidays = NoHolidays;

fn oh(s: &str) -> OpeningHours {
    OpeningHours::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|x| x.and_hms_opt(h, min, 0))
        .expect("valid test time")
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid test instant")
}

/// Local wall-clock time in `tz` to UTC (must be unambiguous).
fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz.from_local_datetime(&local(y, m, d, h, min))
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

fn state(o: &OpeningHours, ctx: &Context<'_>, t: NaiveDateTime) -> State {
    o.state_at(t, Copenhagen, ctx)
}

// ---------------------------------------------------------------- basic rules

#[test]
fn weekdays_with_lunch_break() {
    let ctx = Context::new(&NONE);
    let o = oh("Mo-Fr 08:00-12:00, 13:30-17:00");
    // 2025-03-04 is a Tuesday.
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 7, 59)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 8, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 11, 59)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 12, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 13, 29)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 13, 30)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 16, 59)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 17, 0)), State::Closed);
    // Saturday 2025-03-08.
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 10, 0)), State::Closed);
}

#[test]
fn overriding_and_additional_rules() {
    let ctx = Context::new(&NONE);
    // Friday shorter; Thursday 2025-03-06, Friday 2025-03-07.
    let o = oh("Mo-Th 08:00-12:00,13:30-17:00, Fr 08:00-12:00,13:30-15:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 6, 16, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 16, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 14, 0)), State::Open);
    // `;` replaces the day: Wednesday only 14-18.
    let o = oh("Mo-Fr 08:00-12:00; We 14:00-18:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 10, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 15, 0)), State::Open);
    // `,` adds: Wednesday both.
    let o = oh("Mo-Fr 08:00-12:00, We 14:00-18:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 10, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 15, 0)), State::Open);
    // Additional `off` wins where it overlaps.
    let o = oh("Mo-Fr 08:00-18:00, We 12:00-13:00 off");
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 12, 30)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 5, 13, 0)), State::Open);
}

#[test]
fn twenty_four_seven() {
    let ctx = Context::new(&DK);
    for s in [
        "24/7",
        " 24/7 ",
        "Mo-Su 00:00-24:00",
        "00:00-24:00",
        "open",
        "Mo-Su 00:00-24:00;",
    ] {
        let o = oh(s);
        assert!(o.is_24_7(), "{s}");
        assert_eq!(
            o.state_at_instant(utc(2025, 12, 25, 3, 0), Copenhagen, &ctx),
            State::Open,
            "{s}"
        );
        assert_eq!(
            o.next_change(utc(2025, 12, 25, 3, 0), Copenhagen, &ctx),
            None,
            "{s}"
        );
    }
    for s in [
        "Mo-Fr 00:00-24:00",
        "24/7; PH off",
        "Mo-Su 00:00-23:59",
        "24/7 unknown",
        "18:00+",
    ] {
        assert!(!oh(s).is_24_7(), "{s}");
    }
}

#[test]
fn wrapping_weekday_and_month_ranges() {
    let ctx = Context::new(&NONE);
    let o = oh("Sa-Mo 10:00-12:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 11, 0)), State::Open); // Sa
    assert_eq!(state(&o, &ctx, local(2025, 3, 9, 11, 0)), State::Open); // Su
    assert_eq!(state(&o, &ctx, local(2025, 3, 10, 11, 0)), State::Open); // Mo
    assert_eq!(state(&o, &ctx, local(2025, 3, 11, 11, 0)), State::Closed); // Tu
    let o = oh("Oct-Mar Mo-Fr 08:00-16:00; Apr-Sep Mo-Fr 07:00-18:00");
    assert_eq!(state(&o, &ctx, local(2025, 1, 7, 7, 30)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 11, 4, 8, 30)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 6, 3, 7, 30)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 6, 3, 17, 30)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 31, 17, 30)), State::Closed);
}

#[test]
fn month_days_years_weeks_and_nth_weekday() {
    let ctx = Context::new(&NONE);
    let o = oh("Mo-Su 08:00-20:00; Dec 24-26 off; Dec 31 08:00-12:00");
    assert_eq!(state(&o, &ctx, local(2025, 12, 23, 10, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 12, 25, 10, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 12, 27, 10, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 12, 31, 13, 0)), State::Closed);
    let o = oh("Jan 01-Feb 15 10:00-14:00");
    assert_eq!(state(&o, &ctx, local(2025, 2, 15, 11, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 2, 16, 11, 0)), State::Closed);
    let o = oh("2024-2026 Jun-Aug 10:00-14:00");
    assert_eq!(state(&o, &ctx, local(2026, 7, 1, 11, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2027, 7, 1, 11, 0)), State::Closed);
    // ISO week 1 of 2025 starts Monday 2024-12-30.
    let o = oh("week 01-10 Mo 09:00-10:00");
    assert_eq!(state(&o, &ctx, local(2024, 12, 30, 9, 30)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 10, 9, 30)), State::Closed); // week 11
    // Last Sunday of the month: 2025-03-30; 2025-03-23 is not.
    let o = oh("Su[-1] 10:00-12:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 30, 11, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 23, 11, 0)), State::Closed);
}

#[test]
fn modifiers_comments_and_fallback() {
    let ctx = Context::new(&NONE);
    let o = oh("\"by appointment\"");
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 11, 0)), State::Unknown);
    let o = oh("Mo-Fr 08:00-12:00 || \"by appointment\"");
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 11, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 14, 0)), State::Unknown);
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 14, 0)), State::Unknown);
    let t = at(Copenhagen, 2025, 3, 4, 14, 0);
    assert_eq!(
        o.comment_at_instant(t, Copenhagen, &ctx),
        Some("by appointment")
    );
    let o = oh("Mo-Fr 08:00-17:00 unknown; Sa 10:00-12:00 open \"weekend\"; Su closed");
    assert_eq!(state(&o, &ctx, local(2025, 3, 4, 11, 0)), State::Unknown);
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 11, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 9, 11, 0)), State::Closed);
    // Open end is unknown.
    let o = oh("Fr 18:00+");
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 17, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 19, 0)), State::Unknown);
}

#[test]
fn lenient_real_world_spellings() {
    let ctx = Context::new(&NONE);
    let reference = oh("Mo-Fr 08:00-17:00");
    for s in [
        "mo-fr 08:00-17:00",
        "MO-FR 08:00-17:00",
        "Mo-Fr 08:00 - 17:00",
        "Mo-Fr 8:00-17:00",
        "Mo - Fr 08:00-17:00",
        "Mon-Fri 08:00-17:00",
        "Monday-Friday 08:00-17:00",
        "Mo-Fr: 08:00-17:00",
        "Mo-Fr 08:00\u{2013}17:00",
        "  Mo-Fr   08:00-17:00 ; ",
    ] {
        let o = oh(s);
        for (d, h) in [(4, 7), (4, 8), (4, 16), (4, 17), (8, 10)] {
            let t = local(2025, 3, d, h, 30);
            assert_eq!(state(&o, &ctx, t), state(&reference, &ctx, t), "{s} at {t}");
        }
    }
}

// ---------------------------------------------------------------- holidays

#[test]
fn danish_public_holidays_off() {
    let ctx = Context::new(&DK);
    let o = oh("Mo-Fr 08:00-16:00; PH off");
    let open_at = |y, m, d| o.state_at_instant(at(Copenhagen, y, m, d, 10, 0), Copenhagen, &ctx);
    // Christmas Day 2025 is a Thursday; Christmas Eve is not a Danish public holiday.
    assert_eq!(open_at(2025, 12, 24), State::Open);
    assert_eq!(open_at(2025, 12, 25), State::Closed);
    assert_eq!(open_at(2025, 12, 26), State::Closed);
    // Easter 2025-04-20: Maundy Thursday, Good Friday and Easter Monday are off.
    assert_eq!(open_at(2025, 4, 17), State::Closed);
    assert_eq!(open_at(2025, 4, 18), State::Closed);
    assert_eq!(open_at(2025, 4, 21), State::Closed);
    assert_eq!(open_at(2025, 4, 22), State::Open);
    // Store Bededag (4th Friday after Easter): a holiday in 2023 (5 May), abolished
    // from 2024 (it would have been Friday 26 April 2024).
    assert_eq!(open_at(2023, 5, 5), State::Closed);
    assert_eq!(open_at(2024, 4, 26), State::Open);
    assert!(DK.is_public_holiday(NaiveDate::from_ymd_opt(2023, 5, 5).expect("date")));
    assert!(!DK.is_public_holiday(NaiveDate::from_ymd_opt(2024, 4, 26).expect("date")));
    // Ascension 2025-05-29 and Whit Monday 2025-06-09.
    assert_eq!(open_at(2025, 5, 29), State::Closed);
    assert_eq!(open_at(2025, 6, 9), State::Closed);
}

#[test]
fn swedish_midsummer_eve() {
    let ctx = Context::new(&SE);
    let o = oh("Mo-Fr 08:00-16:00; PH off");
    let open_at = |y, m, d| o.state_at_instant(at(Stockholm, y, m, d, 10, 0), Stockholm, &ctx);
    // Midsummer Eve: Friday 20 June 2025, Friday 21 June 2024, Friday 19 June 2026.
    assert_eq!(open_at(2025, 6, 19), State::Open);
    assert_eq!(open_at(2025, 6, 20), State::Closed);
    assert_eq!(open_at(2024, 6, 21), State::Closed);
    assert_eq!(open_at(2024, 6, 20), State::Open);
    assert_eq!(open_at(2026, 6, 19), State::Closed);
    // National day 6 June 2025 (Friday).
    assert_eq!(open_at(2025, 6, 6), State::Closed);
    let names: Vec<_> = SE
        .holidays(2025)
        .into_iter()
        .filter(|h| h.date.format("%m").to_string() == "06")
        .collect();
    assert!(names.iter().any(|h| h.name == "Midsommarafton"
        && h.date == NaiveDate::from_ymd_opt(2025, 6, 20).expect("date")));
    assert!(names.iter().any(|h| h.name == "Midsommardagen"
        && h.date == NaiveDate::from_ymd_opt(2025, 6, 21).expect("date")));
}

#[test]
fn holiday_weekday_union_and_intersection() {
    let ctx = Context::new(&DK);
    // 2025-12-25 Thursday (PH), 2025-12-27 Saturday.
    let o = oh("Mo-Su 08:00-20:00; PH,Sa off");
    assert_eq!(
        o.state_at(local(2025, 12, 25, 10, 0), Copenhagen, &ctx),
        State::Closed
    );
    assert_eq!(
        o.state_at(local(2025, 12, 27, 10, 0), Copenhagen, &ctx),
        State::Closed
    );
    assert_eq!(
        o.state_at(local(2025, 12, 28, 10, 0), Copenhagen, &ctx),
        State::Open
    );
    let o = oh("PH Mo-Fr 10:00-12:00");
    assert_eq!(
        o.state_at(local(2025, 12, 25, 11, 0), Copenhagen, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2025, 12, 23, 11, 0), Copenhagen, &ctx),
        State::Closed
    );
}

// ---------------------------------------------------------------- solar

#[test]
fn sunrise_sunset_copenhagen_matches_published_times() {
    // Copenhagen city hall, 55.6761 N 12.5683 E.
    let (lat, lon) = (55.6761, 12.5683);
    let within = |got: DateTime<Utc>, want: DateTime<Utc>| {
        let diff = (got - want).num_seconds().abs();
        assert!(diff <= 120, "got {got}, published {want} (diff {diff} s)");
    };
    // Source: The Local Denmark, "It only gets better from here: Longer days on the way
    // for Denmark", 2016-12-21: "In Copenhagen on Wednesday, the sun rose at 8.37am and
    // will set again at 3.38pm" (CET = UTC+1).
    let (rise, set) = sunrise_sunset(
        NaiveDate::from_ymd_opt(2016, 12, 21).expect("date"),
        lat,
        lon,
    )
    .expect("sun");
    within(rise, utc(2016, 12, 21, 7, 37));
    within(set, utc(2016, 12, 21, 14, 38));
    // Source: The Local Denmark, "Today is the year's longest day", 2014-06-21:
    // "Copenhagen residents will have daylight until 9.58pm" (CEST = UTC+2).
    let (_, set) = sunrise_sunset(
        NaiveDate::from_ymd_opt(2014, 6, 21).expect("date"),
        lat,
        lon,
    )
    .expect("sun");
    within(set, utc(2014, 6, 21, 19, 58));
}

#[test]
fn polar_day_and_night_have_no_sunrise() {
    // Tromsø, 69.65 N.
    assert!(
        sunrise_sunset(
            NaiveDate::from_ymd_opt(2025, 6, 21).expect("date"),
            69.65,
            18.96
        )
        .is_none()
    );
    assert!(
        sunrise_sunset(
            NaiveDate::from_ymd_opt(2025, 12, 21).expect("date"),
            69.65,
            18.96
        )
        .is_none()
    );
    assert!(
        sunrise_sunset(
            NaiveDate::from_ymd_opt(2025, 3, 21).expect("date"),
            69.65,
            18.96
        )
        .is_some()
    );
    assert!(
        sunrise_sunset(
            NaiveDate::from_ymd_opt(2025, 3, 21).expect("date"),
            f64::NAN,
            0.0
        )
        .is_none()
    );
    // sunrise-sunset is open all polar day, closed all polar night.
    let o = oh("sunrise-sunset");
    let ctx = Context::new(&NONE).with_location(69.65, 18.96);
    let oslo: Tz = chrono_tz::Europe::Oslo;
    assert_eq!(
        o.state_at(local(2025, 6, 21, 1, 0), oslo, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2025, 12, 21, 12, 0), oslo, &ctx),
        State::Closed
    );
}

#[test]
fn sunrise_sunset_rules() {
    let ctx = Context::new(&NONE).with_location(55.6761, 12.5683);
    let o = oh("sunrise-sunset");
    // 2016-12-21: 08:37 to 15:38 local.
    assert_eq!(
        o.state_at(local(2016, 12, 21, 8, 30), Copenhagen, &ctx),
        State::Closed
    );
    assert_eq!(
        o.state_at(local(2016, 12, 21, 8, 45), Copenhagen, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2016, 12, 21, 15, 30), Copenhagen, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2016, 12, 21, 15, 45), Copenhagen, &ctx),
        State::Closed
    );
    let o = oh("(sunrise-00:30)-(sunset+01:00)");
    assert_eq!(
        o.state_at(local(2016, 12, 21, 8, 15), Copenhagen, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2016, 12, 21, 16, 30), Copenhagen, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at(local(2016, 12, 21, 16, 45), Copenhagen, &ctx),
        State::Closed
    );
    let o = oh("dawn-dusk");
    assert_eq!(
        o.state_at(local(2016, 12, 21, 8, 15), Copenhagen, &ctx),
        State::Open
    );
    // Without a location, solar rules are unknown rather than guessed.
    let no_loc = Context::new(&NONE);
    assert_eq!(
        oh("sunrise-sunset").state_at(local(2016, 12, 21, 12, 0), Copenhagen, &no_loc),
        State::Unknown
    );
}

// ---------------------------------------------------------------- DST and midnight

fn check_dst_night(tz: Tz) {
    let ctx = Context::new(&NONE);
    let o = oh("00:00-03:00");
    // Spring forward 2025-03-30: 02:00 CET -> 03:00 CEST (01:00 UTC). Open 2 real hours.
    assert_eq!(
        o.state_at_instant(utc(2025, 3, 29, 22, 59), tz, &ctx),
        State::Closed
    );
    assert_eq!(
        o.state_at_instant(utc(2025, 3, 29, 23, 0), tz, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at_instant(utc(2025, 3, 30, 0, 59), tz, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at_instant(utc(2025, 3, 30, 1, 0), tz, &ctx),
        State::Closed
    );
    assert_eq!(
        o.next_change(utc(2025, 3, 29, 23, 0), tz, &ctx),
        Some(utc(2025, 3, 30, 1, 0))
    );
    assert!(o.open_throughout(utc(2025, 3, 29, 23, 0), Duration::minutes(119), tz, &ctx));
    assert!(!o.open_throughout(utc(2025, 3, 29, 23, 0), Duration::minutes(120), tz, &ctx));
    // Fall back 2025-10-26: 03:00 CEST -> 02:00 CET (01:00 UTC). Open 4 real hours.
    assert_eq!(
        o.state_at_instant(utc(2025, 10, 25, 21, 59), tz, &ctx),
        State::Closed
    );
    assert_eq!(
        o.state_at_instant(utc(2025, 10, 25, 22, 0), tz, &ctx),
        State::Open
    );
    assert_eq!(
        o.state_at_instant(utc(2025, 10, 26, 0, 30), tz, &ctx),
        State::Open
    ); // 02:30 CEST
    assert_eq!(
        o.state_at_instant(utc(2025, 10, 26, 1, 30), tz, &ctx),
        State::Open
    ); // 02:30 CET
    assert_eq!(
        o.state_at_instant(utc(2025, 10, 26, 2, 0), tz, &ctx),
        State::Closed
    ); // 03:00 CET
    assert_eq!(
        o.next_change(utc(2025, 10, 25, 22, 0), tz, &ctx),
        Some(utc(2025, 10, 26, 2, 0))
    );
    assert!(o.open_throughout(utc(2025, 10, 25, 22, 0), Duration::minutes(239), tz, &ctx));
    assert!(!o.open_throughout(utc(2025, 10, 25, 22, 0), Duration::minutes(240), tz, &ctx));
    // The repeated hour: 02:30-03:00 is open twice on the fall-back night.
    let o = oh("02:30-03:00");
    assert_eq!(
        o.next_change(utc(2025, 10, 26, 0, 40), tz, &ctx),
        Some(utc(2025, 10, 26, 1, 0))
    );
    assert_eq!(
        o.next_change(utc(2025, 10, 26, 1, 0), tz, &ctx),
        Some(utc(2025, 10, 26, 1, 30))
    );
    // A range that does not exist on the spring-forward night never opens that night.
    let o = oh("02:00-02:30");
    assert_eq!(
        o.next_change(utc(2025, 3, 29, 12, 0), tz, &ctx),
        Some(utc(2025, 3, 31, 0, 0))
    );
}

#[test]
fn dst_nights_copenhagen() {
    check_dst_night(Copenhagen);
}

#[test]
fn dst_nights_stockholm() {
    check_dst_night(Stockholm);
}

#[test]
fn closing_after_midnight() {
    let ctx = Context::new(&NONE);
    let o = oh("Fr-Sa 18:00-02:00");
    // 2025-03-07 Friday.
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 1, 0)), State::Closed); // Fri 01:00 (Thu night)
    assert_eq!(state(&o, &ctx, local(2025, 3, 7, 19, 0)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 1, 0)), State::Open); // Sat 01:00
    assert_eq!(state(&o, &ctx, local(2025, 3, 8, 2, 0)), State::Closed);
    assert_eq!(state(&o, &ctx, local(2025, 3, 9, 1, 0)), State::Open); // Sun 01:00
    assert_eq!(state(&o, &ctx, local(2025, 3, 10, 1, 0)), State::Closed); // Mon 01:00
    let o = oh("Sa 22:00-26:00");
    assert_eq!(state(&o, &ctx, local(2025, 3, 9, 1, 59)), State::Open);
    assert_eq!(state(&o, &ctx, local(2025, 3, 9, 2, 0)), State::Closed);
    // A later day's own rule wins over the spill from the evening before.
    let o = oh("Mo-Su 18:00-02:00; PH off");
    let dk = Context::new(&DK);
    // 2025-12-24 18:00 (Wed) opens; 2025-12-25 is PH -> closed from midnight.
    assert_eq!(state(&o, &dk, local(2025, 12, 24, 23, 0)), State::Open);
    assert_eq!(state(&o, &dk, local(2025, 12, 25, 1, 0)), State::Closed);
    // 2025-12-27 (Sat) 01:00: spill from Friday 26 (PH, off) -> closed.
    assert_eq!(state(&o, &dk, local(2025, 12, 27, 1, 0)), State::Closed);
    assert_eq!(state(&o, &dk, local(2025, 12, 28, 1, 0)), State::Open);
}

#[test]
fn open_throughout_and_next_change() {
    let ctx = Context::new(&DK);
    let o = oh("Mo-Fr 08:00-16:00; PH off");
    // Tuesday 2025-03-04 15:50 local.
    let t = at(Copenhagen, 2025, 3, 4, 15, 50);
    assert!(o.open_throughout(t, Duration::minutes(5), Copenhagen, &ctx));
    assert!(o.open_throughout(t, Duration::minutes(9), Copenhagen, &ctx));
    assert!(!o.open_throughout(t, Duration::minutes(10), Copenhagen, &ctx)); // closes at 16:00
    assert!(!o.open_throughout(t, Duration::minutes(15), Copenhagen, &ctx));
    assert!(!o.open_throughout(t, Duration::minutes(-1), Copenhagen, &ctx));
    assert!(!o.open_throughout(
        at(Copenhagen, 2025, 3, 4, 7, 50),
        Duration::minutes(5),
        Copenhagen,
        &ctx
    ));
    assert_eq!(
        o.next_change(t, Copenhagen, &ctx),
        Some(at(Copenhagen, 2025, 3, 4, 16, 0))
    );
    // Saturday noon -> Monday 08:00.
    let sat = at(Copenhagen, 2025, 3, 8, 12, 0);
    assert_eq!(
        o.next_change(sat, Copenhagen, &ctx),
        Some(at(Copenhagen, 2025, 3, 10, 8, 0))
    );
    // Christmas Eve 17:00 -> 25th, 26th PH, weekend -> Monday 29 December 08:00.
    let eve = at(Copenhagen, 2025, 12, 24, 17, 0);
    assert_eq!(
        o.next_change(eve, Copenhagen, &ctx),
        Some(at(Copenhagen, 2025, 12, 29, 8, 0))
    );
    // Never open -> no change.
    assert_eq!(oh("off").next_change(eve, Copenhagen, &ctx), None);
    // Only open once, in the future within the horizon.
    let o = oh("2026 Jan 15 10:00-11:00");
    assert_eq!(
        o.next_change(eve, Copenhagen, &ctx),
        Some(at(Copenhagen, 2026, 1, 15, 10, 0))
    );
    let o = oh("2030 Jan 15 10:00-11:00");
    assert_eq!(o.next_change(eve, Copenhagen, &ctx), None);
}

// ---------------------------------------------------------------- errors

#[test]
fn parse_errors_report_positions() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty"),
        ("Mo-Fr 08:00-1700", 12, "time like 08:00"),
        ("Mo-Fx 08:00-12:00", 3, "weekday"),
        ("Mo-Fr 25:00-26:00", 6, "after 24:00"),
        ("Mo-Fr 08:00-12:60", 12, "minutes"),
        ("Mo-Fr 08:00-12:00 foo", 18, "';', ',' or '||'"),
        ("Mo-Fr 08:00", 11, "'-' and an end time"),
        ("Mo-Fr 08:00-12:00 \"open", 18, "unterminated"),
        ("Mo-Fr 08:00-12:00 \"ÅÅ\" x", 23, "';', ',' or '||'"),
        ("Mo-Fr 08:00-50:00", 12, "at most 48"),
        ("Mo-Fr foo", 6, "time like 08:00"),
        ("Dec 32", 4, "1-31"),
        ("Mo-Fr 08:00-12:00;;", 18, "expected a weekday"),
        ("(sunrise+1h)-sunset", 10, "':' and minutes"),
        ("bogus", 0, "expected a weekday"),
    ];
    for &(input, pos, msg) in cases {
        match OpeningHours::parse(input) {
            Ok(_) => panic!("{input:?} should not parse"),
            Err(e) => {
                assert_eq!(e.position, pos, "{input:?}: {e}");
                assert!(e.message.contains(msg), "{input:?}: {e}");
            }
        }
    }
    let e = OpeningHours::parse("Mo-Fr 08:00-12:00 foo").expect_err("must fail");
    assert_eq!(
        e.to_string(),
        "at position 18: expected ';', ',' or '||' before the next rule"
    );
    let e = OpeningHours::parse("Mo-Fr 08:00-1700").expect_err("must fail");
    assert_eq!(e.to_string(), "at position 12: expected a time like 08:00");
}

// ---------------------------------------------------------------- real data

#[test]
fn liechtenstein_aed_data_parses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/aed/liechtenstein.geojson");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid GeoJSON");
    let features = json["features"].as_array().expect("features array");
    let values: Vec<&str> = features
        .iter()
        .filter_map(|f| f["properties"]["opening_hours"].as_str())
        .collect();
    let failures: Vec<(String, String)> = values
        .iter()
        .filter_map(|v| {
            OpeningHours::parse(v)
                .err()
                .map(|e| ((*v).to_owned(), e.to_string()))
        })
        .collect();
    assert_eq!(features.len(), 222);
    assert_eq!(values.len(), 207, "features with an opening_hours tag");
    assert!(failures.is_empty(), "failed to parse: {failures:#?}");
    let always = values.iter().filter(|v| oh(v).is_24_7()).count();
    assert_eq!(always, 126);
    // Every parsed value evaluates, and the lunch-break values close at lunch.
    let li = CountryHolidays(Country::Liechtenstein);
    let ctx = Context::new(&li);
    let vaduz: Tz = chrono_tz::Europe::Vaduz;
    let noon = at(vaduz, 2025, 3, 4, 12, 45); // Tuesday
    let lunch = values
        .iter()
        .filter(|v| v.contains("12:00, 13:30") || v.contains("12:00,13:30"))
        .count();
    assert!(lunch >= 18, "{lunch}");
    for v in &values {
        let o = oh(v);
        let s = o.state_at_instant(noon, vaduz, &ctx);
        if v.contains("12:00, 13:30") || v.contains("12:00,13:30") {
            assert_eq!(s, State::Closed, "{v}");
        }
        let _ = o.next_change(noon, vaduz, &ctx);
    }
}

#[test]
fn extreme_instants_do_not_panic() {
    let cal = CountryHolidays(Country::Sweden);
    let ctx = Context::new(&cal).with_location(55.6761, 12.5683);
    let values = [
        "Mo-Fr 08:00-16:00; PH off",
        "24/7",
        "sunrise-sunset",
        "Su[-1] 18:00-02:00",
        "week 52-02 10:00+",
    ];
    let instants = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        utc(1900, 1, 1, 0, 0),
    ];
    for v in values {
        let o = oh(v);
        for t in instants {
            for tz in ZONES {
                let _ = o.state_at_instant(t, *tz, &ctx);
                let _ = o.next_change(t, *tz, &ctx);
                let _ = o.open_throughout(t, Duration::days(3), *tz, &ctx);
                let _ = o.open_throughout(t, Duration::MAX, *tz, &ctx);
                let _ = o.state_at(t.naive_utc(), *tz, &ctx);
            }
        }
        let _ = o.state_at(NaiveDateTime::MAX, Copenhagen, &ctx);
        let _ = o.state_at(NaiveDateTime::MIN, Copenhagen, &ctx);
    }
}

#[test]
fn compact_spellings_parse() {
    // Values without the usual spaces are still unambiguous and accepted.
    let runner_values = [
        "Mo-Fr08:00-12:00",
        "PH off",
        "Dec 24 off",
        "sunrise-sunset",
        "24/7;Su off",
    ];
    for v in runner_values {
        assert!(OpeningHours::parse(v).is_ok(), "{v}");
    }
}

// ---------------------------------------------------------------- properties

const TOKENS: &[&str] = &[
    "Mo",
    "Tu",
    "We",
    "Th",
    "Fr",
    "Sa",
    "Su",
    "PH",
    "SH",
    "-",
    ",",
    ";",
    " ",
    "||",
    ":",
    "+",
    "(",
    ")",
    "[",
    "]",
    "Jan",
    "Mar",
    "Oct",
    "Dec",
    "24",
    "1",
    "-1",
    "08:00",
    "12:00",
    "17:30",
    "24:00",
    "26:00",
    "00:00",
    "02:00",
    "sunrise",
    "sunset",
    "dawn",
    "dusk",
    "off",
    "open",
    "closed",
    "unknown",
    "\"c\"",
    "24/7",
    "2024",
    "2026",
    "week",
    "01",
    "10",
    "/",
    "/2",
    "Mo-Fr",
    "18:00-02:00",
    "00:00-03:00",
    "02:00-02:30",
];

fn token_string() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..14).prop_map(|v| v.join(""))
}

fn token_string_spaced() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..10).prop_map(|v| v.join(" "))
}

const SELECTORS: &[&str] = &[
    "",
    "Mo-Fr ",
    "Sa-Mo ",
    "PH ",
    "PH,Sa ",
    "Su,PH ",
    "SH Mo-Fr ",
    "Dec 24-26 ",
    "Oct-Mar ",
    "2024-2026 ",
    "week 01-10 ",
    "Su[-1] ",
    "Jan 01-Feb 15 We ",
    "Mo,We,Fr ",
    "Dec 25,26 ",
    "2025 Mar Sa,Su ",
];
const TIMES: &[&str] = &[
    "",
    "08:00-12:00",
    "08:00-12:00,13:00-17:00",
    "18:00-02:00",
    "22:00-26:00",
    "18:00+",
    "sunrise-sunset",
    "(sunrise-00:30)-(sunset+01:00)",
    "dawn-dusk",
    "00:00-03:00",
    "02:00-02:30",
    "sunset-sunrise",
    "00:00-24:00",
    "02:30-03:00",
    "08:00-08:00",
];
const MODIFIERS: &[&str] = &[
    "",
    " off",
    " open",
    " unknown",
    " \"c\"",
    " closed \"holiday\"",
];
const SEPARATORS: &[&str] = &["; ", ", ", " || ", ";"];

/// One syntactically valid rule: selector, times (fixed list or random), modifier.
fn valid_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SELECTORS),
        prop::sample::select(TIMES),
        (0u32..=24, 0u32..60, 0u32..=48, 0u32..60, any::<bool>()),
        prop::sample::select(MODIFIERS),
    )
        .prop_map(|(sel, times, (h1, m1, h2, m2, random), modifier)| {
            let times = if random {
                let (m1, m2) = (if h1 == 24 { 0 } else { m1 }, if h2 == 48 { 0 } else { m2 });
                format!("{h1:02}:{m1:02}-{h2:02}:{m2:02}")
            } else {
                times.to_owned()
            };
            let rule = format!("{sel}{times}{modifier}");
            if rule.trim().is_empty() {
                "24/7".to_owned()
            } else {
                rule.trim().to_owned()
            }
        })
}

/// A syntactically valid value of 1-4 rules.
fn valid_value() -> impl Strategy<Value = String> {
    (
        valid_rule(),
        prop::collection::vec((prop::sample::select(SEPARATORS), valid_rule()), 0..4),
    )
        .prop_map(|(first, rest)| {
            let mut s = first;
            for (sep, rule) in rest {
                // `, ` before a rule that opens with a day or holiday selector
                // reads as the previous selector list going on ("PH,Sa, SH
                // Mo-Fr"): not a valid value, so such pairs are not generated.
                let day_first = rule.starts_with(|c: char| c.is_ascii_uppercase());
                let sep = if sep == ", " && day_first { "; " } else { sep };
                s.push_str(sep);
                s.push_str(&rule);
            }
            s
        })
}

const ZONES: &[Tz] = &[
    chrono_tz::Europe::Copenhagen,
    chrono_tz::Europe::Stockholm,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Apia,
    chrono_tz::America::Havana,
    chrono_tz::UTC,
];

fn evaluate_everything(o: &OpeningHours, secs: i64, zone: usize, loc: Option<(f64, f64)>) {
    let tz = ZONES[zone % ZONES.len()];
    let country = [
        Country::Denmark,
        Country::Sweden,
        Country::Monaco,
        Country::Finland,
    ][zone % 4];
    let cal = CountryHolidays(country);
    let ctx = Context {
        holidays: &cal,
        location: loc,
    };
    let t = DateTime::<Utc>::from_timestamp(secs, 0).expect("in range");
    let s = o.state_at_instant(t, tz, &ctx);
    let _ = o.state_at(t.naive_utc(), tz, &ctx);
    let _ = o.is_24_7();
    if let Some(c) = o.next_change(t, tz, &ctx) {
        assert!(c > t);
        assert_ne!(o.state_at_instant(c, tz, &ctx), s, "{o} at {c}");
        // Nothing changes before c: open_throughout agrees when open.
        if s == State::Open {
            assert!(o.open_throughout(t, (c - t) - Duration::seconds(1), tz, &ctx));
            assert!(!o.open_throughout(t, c - t, tz, &ctx));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,40}") {
        let _ = OpeningHours::parse(&s);
    }

    #[test]
    fn token_soup_never_panics(s in token_string(), secs in 0i64..4_102_444_800, zone in 0usize..6,
                               lat in -90.0f64..90.0, lon in -180.0f64..180.0, with_loc in any::<bool>()) {
        if let Ok(o) = OpeningHours::parse(&s) {
            evaluate_everything(&o, secs, zone, with_loc.then_some((lat, lon)));
        }
    }

    #[test]
    fn generated_valid_values_parse_and_evaluate_consistently(
        s in valid_value(), secs in 0i64..4_102_444_800, zone in 0usize..6, with_loc in any::<bool>()
    ) {
        let o = OpeningHours::parse(&s);
        prop_assert!(o.is_ok(), "{s:?}: {:?}", o.err());
        if let Ok(o) = o {
            evaluate_everything(&o, secs, zone, with_loc.then_some((55.6761, 12.5683)));
        }
    }

    #[test]
    fn spaced_tokens_never_panic(s in token_string_spaced(), secs in 0i64..4_102_444_800, zone in 0usize..6) {
        if let Ok(o) = OpeningHours::parse(&s) {
            evaluate_everything(&o, secs, zone, Some((55.6761, 12.5683)));
        }
    }

    #[test]
    fn errors_point_inside_the_input(s in "[ -~]{0,30}") {
        if let Err(e) = OpeningHours::parse(&s) {
            prop_assert!(e.position <= s.chars().count());
        }
    }

    #[test]
    fn solar_never_panics(y in 1900i32..2200, doy in 1u32..366, lat in -100.0f64..100.0, lon in -200.0f64..200.0) {
        if let Some(d) = NaiveDate::from_yo_opt(y, doy)
            && let Some((r, s)) = sunrise_sunset(d, lat, lon)
        {
            prop_assert!(r <= s);
        }
    }
}
