//! Sunrise, sunset, dawn and dusk after the NOAA solar calculator equations
//! (Jean Meeus, *Astronomical Algorithms*, as used in NOAA's spreadsheet).
//! Accuracy is about a minute for latitudes below the polar circles.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Zenith angle for sunrise/sunset: 90° plus refraction (34') and solar radius (16').
pub(crate) const ZENITH_SUNRISE: f64 = 90.833;
/// Zenith angle for civil twilight (dawn/dusk).
pub(crate) const ZENITH_CIVIL: f64 = 96.0;

/// Result of a rise/set computation for one day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SunDay {
    /// Rise and set as minutes after 00:00 UTC of the date (may be negative or > 1440).
    RiseSet(f64, f64),
    /// The sun stays above the zenith threshold all day (polar day).
    AlwaysUp,
    /// The sun stays below the threshold all day (polar night).
    AlwaysDown,
}

fn julian_day_midnight(date: NaiveDate) -> f64 {
    // 1970-01-01T00:00Z is JD 2440587.5.
    let days = date
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN))
        .num_days();
    #[allow(clippy::cast_precision_loss)]
    let d = days as f64;
    d + 2_440_587.5
}

/// Declination (degrees) and equation of time (minutes) at Julian day `jd`.
fn sun_position(jd: f64) -> (f64, f64) {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let l0 = (280.466_46 + t * (36_000.769_83 + t * 0.000_303_2)).rem_euclid(360.0);
    let m = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let e = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let mr = m.to_radians();
    let c = mr.sin() * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + (2.0 * mr).sin() * (0.019_993 - 0.000_101 * t)
        + (3.0 * mr).sin() * 0.000_289;
    let true_long = l0 + c;
    let omega = 125.04 - 1934.136 * t;
    let lambda = true_long - 0.005_69 - 0.004_78 * omega.to_radians().sin();
    let eps0 =
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813))) / 60.0) / 60.0;
    let eps = eps0 + 0.002_56 * omega.to_radians().cos();
    let decl = (eps.to_radians().sin() * lambda.to_radians().sin())
        .asin()
        .to_degrees();
    let y = (eps.to_radians() / 2.0).tan().powi(2);
    let l0r = l0.to_radians();
    let eot = 4.0
        * (y * (2.0 * l0r).sin() - 2.0 * e * mr.sin() + 4.0 * e * y * mr.sin() * (2.0 * l0r).cos()
            - 0.5 * y * y * (4.0 * l0r).sin()
            - 1.25 * e * e * (2.0 * mr).sin())
        .to_degrees();
    (decl, eot)
}

/// Hour angle (degrees) at which the sun reaches `zenith`, or the polar case.
fn hour_angle(lat: f64, decl: f64, zenith: f64) -> Result<f64, SunDay> {
    let (latr, declr) = (lat.to_radians(), decl.to_radians());
    let cos_h = zenith.to_radians().cos() / (latr.cos() * declr.cos()) - latr.tan() * declr.tan();
    if cos_h.is_nan() {
        return Err(SunDay::AlwaysDown);
    }
    if cos_h > 1.0 {
        Err(SunDay::AlwaysDown)
    } else if cos_h < -1.0 {
        Err(SunDay::AlwaysUp)
    } else {
        Ok(cos_h.acos().to_degrees())
    }
}

/// Rise/set for `date` at `lat`/`lon` (degrees, east positive) for a zenith angle.
/// Returns `None` for non-finite or out-of-range coordinates.
pub(crate) fn sun_day(date: NaiveDate, lat: f64, lon: f64, zenith: f64) -> Option<SunDay> {
    if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
        return None;
    }
    // Keep away from the poles' singularity.
    let lat = lat.clamp(-89.999, 89.999);
    let jd0 = julian_day_midnight(date);
    // First pass at approximate local solar noon.
    let noon_guess = 720.0 - 4.0 * lon;
    let (decl, eot) = sun_position(jd0 + noon_guess / 1440.0);
    let noon = 720.0 - 4.0 * lon - eot;
    let ha = match hour_angle(lat, decl, zenith) {
        Ok(h) => h,
        Err(polar) => return Some(polar),
    };
    // Second pass: recompute the sun's position at the approximate event times.
    let refine = |approx: f64, sign: f64| -> Option<f64> {
        let (decl, eot) = sun_position(jd0 + approx / 1440.0);
        let ha = hour_angle(lat, decl, zenith).ok()?;
        Some(720.0 - 4.0 * lon - eot + sign * 4.0 * ha)
    };
    let rise = refine(noon - 4.0 * ha, -1.0).unwrap_or(noon - 4.0 * ha);
    let set = refine(noon + 4.0 * ha, 1.0).unwrap_or(noon + 4.0 * ha);
    Some(SunDay::RiseSet(rise, set))
}

/// Minutes after 00:00 UTC of `date` to an instant, rounded to the minute.
pub(crate) fn utc_minutes_to_instant(date: NaiveDate, minutes: f64) -> Option<DateTime<Utc>> {
    if !minutes.is_finite() || minutes.abs() > 10_000.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let m = minutes.round() as i64;
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc();
    midnight.checked_add_signed(Duration::try_minutes(m)?)
}

/// Sunrise and sunset (UTC, rounded to the minute) on `date` at latitude `lat` and
/// longitude `lon` (degrees, north and east positive), computed with the NOAA solar
/// equations (standard refraction, zenith 90.833°).
///
/// `date` is the local calendar date at that longitude. Returns `None` during polar
/// day or polar night (the sun does not cross the horizon), and for invalid coordinates.
#[must_use]
pub fn sunrise_sunset(
    date: NaiveDate,
    lat: f64,
    lon: f64,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match sun_day(date, lat, lon, ZENITH_SUNRISE)? {
        SunDay::RiseSet(r, s) => Some((
            utc_minutes_to_instant(date, r)?,
            utc_minutes_to_instant(date, s)?,
        )),
        SunDay::AlwaysUp | SunDay::AlwaysDown => None,
    }
}

/// Civil dawn and dusk (sun 6° below the horizon), like [`sunrise_sunset`].
#[must_use]
pub fn dawn_dusk(date: NaiveDate, lat: f64, lon: f64) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match sun_day(date, lat, lon, ZENITH_CIVIL)? {
        SunDay::RiseSet(r, s) => Some((
            utc_minutes_to_instant(date, r)?,
            utc_minutes_to_instant(date, s)?,
        )),
        SunDay::AlwaysUp | SunDay::AlwaysDown => None,
    }
}
