//! Coverage at this hour: for each cell of a grid over the region, how many
//! volunteers could be alerted there now (available, fresh position, not in
//! quiet hours, not busy, within the policy's first radius) and how many AEDs
//! are usable there now (the dispatch view: open, ready, unclaimed, within
//! the AED search radius). Counts only — never a position.

use axum::Json;
use axum::extract::{Query, State};
use chrono::Timelike;
use firstlink_domain::geo::{EARTH_RADIUS_M, LatLon};
use firstlink_domain::index::CandidateFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Auth};
use crate::error::{ApiError, ApiResult};

/// At most this many cells per answer.
const MAX_CELLS: usize = 10_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(coverage))
}

#[derive(Deserialize, IntoParams)]
pub struct CoverageQuery {
    pub region: String,
    /// Cell size in metres (200–5,000; default 500).
    pub cell_m: Option<f64>,
    /// `min_lon,min_lat,max_lon,max_lat`; default: around the region's AEDs.
    pub bbox: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Coverage {
    pub at: chrono::DateTime<chrono::Utc>,
    pub cell_m: f64,
    /// Volunteers count within this distance of a cell's centre (the policy's first radius).
    pub radius_m: f64,
    /// AEDs count within this distance (the policy's AED search radius).
    pub aed_radius_m: f64,
    pub cells: Vec<CoverageCell>,
}

#[derive(Serialize, ToSchema)]
pub struct CoverageCell {
    /// The cell's centre.
    pub lat: f64,
    pub lon: f64,
    pub volunteers: u32,
    pub aeds: u32,
}

fn parse_bbox(s: &str) -> Option<(f64, f64, f64, f64)> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d] = v.as_slice() else {
        return None;
    };
    let ok = (-180.0..=180.0).contains(a)
        && (-180.0..=180.0).contains(c)
        && (-90.0..=90.0).contains(b)
        && (-90.0..=90.0).contains(d)
        && a < c
        && b < d;
    ok.then_some((*a, *b, *c, *d))
}

/// Coverage at this hour over a grid (operators of the region).
#[utoipa::path(get, path = "/api/v1/coverage", tag = "operator", params(CoverageQuery),
    responses((status = 200, body = Coverage), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn coverage(
    State(app): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<CoverageQuery>,
) -> ApiResult<Json<Coverage>> {
    let rt = app
        .region_by_slug(&q.region)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(rt.region.id) {
        return Err(ApiError::forbidden());
    }
    let cell_m = q.cell_m.unwrap_or(500.0);
    if !(200.0..=5_000.0).contains(&cell_m) {
        return Err(ApiError::field("cell_m", "between 200 and 5000 metres"));
    }
    let policy = &rt.region.policy;
    let (radius_m, aed_radius_m) = (policy.radius_m, policy.aed_search_radius_m);
    let (min_lon, min_lat, max_lon, max_lat) = match q.bbox.as_deref() {
        Some(b) => parse_bbox(b).ok_or_else(|| {
            ApiError::field(
                "bbox",
                "min_lon,min_lat,max_lon,max_lat within the world, min below max",
            )
        })?,
        None => {
            let aeds = app.aeds();
            let pts: Vec<LatLon> = aeds.all(Some(rt.region.id)).map(|a| a.position).collect();
            if pts.is_empty() {
                return Err(ApiError::field(
                    "bbox",
                    "the region has no AEDs to frame it; give a bbox",
                ));
            }
            let pad_lat = (1_000.0 / EARTH_RADIUS_M).to_degrees();
            let lat0 = pts.iter().map(|p| p.lat).sum::<f64>() / pts.len() as f64;
            let pad_lon = pad_lat / lat0.to_radians().cos().max(0.01);
            let f = |g: fn(f64, f64) -> f64, init: f64, sel: fn(&LatLon) -> f64| {
                pts.iter().map(sel).fold(init, g)
            };
            (
                f(f64::min, f64::MAX, |p| p.lon) - pad_lon,
                f(f64::min, f64::MAX, |p| p.lat) - pad_lat,
                f(f64::max, f64::MIN, |p| p.lon) + pad_lon,
                f(f64::max, f64::MIN, |p| p.lat) + pad_lat,
            )
        }
    };
    let mid_lat = (min_lat + max_lat) / 2.0;
    let dlat = (cell_m / EARTH_RADIUS_M).to_degrees();
    let dlon = dlat / mid_lat.to_radians().cos().max(0.01);
    // A box that is a whole number of cells (up to rounding) gets exactly that many.
    let rows = ((max_lat - min_lat) / dlat - 1e-3).ceil().max(1.0) as usize;
    let cols = ((max_lon - min_lon) / dlon - 1e-3).ceil().max(1.0) as usize;
    if rows.saturating_mul(cols) > MAX_CELLS {
        return Err(ApiError::field(
            "cell_m",
            format!(
                "{rows} × {cols} cells is more than {MAX_CELLS}; use larger cells or a smaller bbox"
            ),
        ));
    }
    let now = app.now();
    let local = now.with_timezone(&rt.tz);
    let fresh = (now.timestamp() - i64::from(policy.position_max_age_s))
        .clamp(0, i64::from(u32::MAX)) as u32;
    let filter = CandidateFilter {
        fresh_since: fresh,
        minute_of_day: (local.hour() * 60 + local.minute()) as u16,
        homes_required: false,
        regions: firstlink_domain::index::RegionMask::NONE,
    };
    // What the region's missions could use: its own and its agreed neighbours'.
    let regions = app.dispatch_regions(rt.region.id);
    let idx = app.index();
    let filter = CandidateFilter {
        regions: idx.mask_of(&regions),
        ..filter
    };
    let aeds = app.aeds();
    let mut cells = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let (lat, lon) = (
                min_lat + (r as f64 + 0.5) * dlat,
                min_lon + (c as f64 + 0.5) * dlon,
            );
            let Ok(centre) = LatLon::new(lat, lon) else {
                continue;
            };
            let volunteers = idx
                .nearest(centre, radius_m, 1_000, &filter, &|v| idx.is_busy(v))
                .len() as u32;
            let aeds = aeds
                .usable_near_in(&regions, centre, aed_radius_m, now, None)
                .len() as u32;
            cells.push(CoverageCell {
                lat,
                lon,
                volunteers,
                aeds,
            });
        }
    }
    Ok(Json(Coverage {
        at: now,
        cell_m,
        radius_m,
        aed_radius_m,
        cells,
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_bbox;

    #[test]
    fn bboxes() {
        assert_eq!(
            parse_bbox("12.5,55.6,12.7,55.7"),
            Some((12.5, 55.6, 12.7, 55.7))
        );
        assert_eq!(parse_bbox("12.7,55.6,12.5,55.7"), None);
        assert_eq!(parse_bbox("12.5,55.6,12.7"), None);
        assert_eq!(parse_bbox("a,b,c,d"), None);
        assert_eq!(parse_bbox("12.5,95,12.7,96"), None);
    }
}
