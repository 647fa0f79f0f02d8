//! Wire types shared by several parts of the API, and validation helpers.

use chrono::{DateTime, Utc};
use firstlink_domain::geo::{CoordError, LatLon};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// A WGS84 position.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Degrees north, -90..90.
    pub lat: f64,
    /// Degrees east, -180..180.
    pub lon: f64,
}

impl Location {
    pub fn validate(self, field: &str) -> ApiResult<LatLon> {
        LatLon::new(self.lat, self.lon).map_err(|e| match e {
            CoordError::Latitude => ApiError::field(format!("{field}.lat"), e.to_string()),
            CoordError::Longitude => ApiError::field(format!("{field}.lon"), e.to_string()),
        })
    }
}

impl From<LatLon> for Location {
    fn from(p: LatLon) -> Self {
        Self {
            lat: p.lat,
            lon: p.lon,
        }
    }
}

/// A position with the time it was fixed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub at: DateTime<Utc>,
}

/// Checks a required text field: trimmed, non-empty, at most `max` characters, no control characters.
pub fn text(field: &str, s: &str, max: usize) -> ApiResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    opt_text(field, Some(t), max).map(|o| o.unwrap_or_default())
}

/// Checks an optional text field; an empty string counts as absent.
/// Optional OpenStreetMap `opening_hours`: trimmed, at most 500 characters,
/// and parseable (the error names the position).
pub fn opt_hours(field: &str, s: Option<&str>) -> ApiResult<Option<String>> {
    let h = opt_text(field, s, 500)?;
    if let Some(h) = &h {
        firstlink_hours::OpeningHours::parse(h)
            .map_err(|e| ApiError::field(field, e.to_string()))?;
    }
    Ok(h)
}

pub fn opt_text(field: &str, s: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(t) = s.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(t.to_string()))
}
