//! [`WalkingEstimator`] backed by an external routing server: OSRM's table
//! service or Valhalla's matrix service, queried synchronously with a short
//! timeout; any failure falls back to the straight line.

use std::time::Duration;

use firstlink_domain::geo::{LatLon, StraightLine, WalkingEstimator};
use serde_json::Value;

/// Which server API to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavour {
    /// OSRM `GET {base}/table/v1/{profile}/{lon,lat;…}?sources=0&destinations=1;…&annotations=distance`.
    Osrm {
        /// OSRM profile in the URL, usually `foot`.
        profile: String,
    },
    /// Valhalla `POST {base}/sources_to_targets` with `costing` (usually `pedestrian`).
    Valhalla {
        /// Valhalla costing model, usually `pedestrian`.
        costing: String,
    },
}

impl Flavour {
    /// OSRM with the `foot` profile.
    pub fn osrm() -> Self {
        Flavour::Osrm {
            profile: "foot".into(),
        }
    }

    /// Valhalla with `pedestrian` costing.
    pub fn valhalla() -> Self {
        Flavour::Valhalla {
            costing: "pedestrian".into(),
        }
    }
}

/// A sensible per-request timeout for dispatch: long enough for a matrix
/// query on a local server, short enough that the fallback still helps.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);

/// Why a query to the routing server failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Connection, timeout or HTTP status error.
    #[error("routing server request failed: {0}")]
    Transport(String),
    /// The answer was not the JSON expected.
    #[error("routing server sent an unexpected answer: {0}")]
    BadResponse(String),
}

/// Distances from an OSRM or Valhalla server. The server's distances are
/// physical metres along its route (its own profile decides slow ground), so
/// they are only roughly walking-equivalent metres.
///
/// On any error (unreachable server, timeout, HTTP error, malformed answer,
/// wrong number of entries) the whole query falls back to `fallback`
/// (straight line × detour factor), so dispatch always gets an answer.
#[derive(Debug)]
pub struct HttpEstimator {
    base_url: String,
    flavour: Flavour,
    agent: ureq::Agent,
    fallback: StraightLine,
}

impl HttpEstimator {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:5000`)
    /// with an overall per-request `timeout` and the default fallback.
    pub fn new(base_url: impl Into<String>, flavour: Flavour, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .build()
            .into();
        let base_url = base_url.into().trim_end_matches('/').to_string();
        Self {
            base_url,
            flavour,
            agent,
            fallback: StraightLine::default(),
        }
    }

    /// Replace the straight-line fallback.
    pub fn with_fallback(mut self, fallback: StraightLine) -> Self {
        self.fallback = fallback;
        self
    }

    /// Ask the server for metres from `origin` to each target (`None` where
    /// the server found no route). No fallback, no budget.
    pub fn query(&self, origin: LatLon, targets: &[LatLon]) -> Result<Vec<Option<f64>>, HttpError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let transport = |e: ureq::Error| HttpError::Transport(e.to_string());
        let body = match &self.flavour {
            Flavour::Osrm { profile } => {
                let coords: Vec<String> = std::iter::once(origin)
                    .chain(targets.iter().copied())
                    .map(|p| format!("{:.7},{:.7}", p.lon, p.lat))
                    .collect();
                let dests: Vec<String> = (1..=targets.len()).map(|i| i.to_string()).collect();
                let url = format!(
                    "{}/table/v1/{}/{}?sources=0&destinations={}&annotations=distance",
                    self.base_url,
                    profile,
                    coords.join(";"),
                    dests.join(";")
                );
                self.agent
                    .get(&url)
                    .call()
                    .map_err(transport)?
                    .body_mut()
                    .read_to_string()
                    .map_err(transport)?
            }
            Flavour::Valhalla { costing } => {
                let loc = |p: &LatLon| serde_json::json!({ "lat": p.lat, "lon": p.lon });
                let req = serde_json::json!({
                    "sources": [loc(&origin)],
                    "targets": targets.iter().map(loc).collect::<Vec<_>>(),
                    "costing": costing,
                    "units": "kilometers",
                });
                let url = format!("{}/sources_to_targets", self.base_url);
                self.agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(req.to_string())
                    .map_err(transport)?
                    .body_mut()
                    .read_to_string()
                    .map_err(transport)?
            }
        };
        let json: Value =
            serde_json::from_str(&body).map_err(|e| HttpError::BadResponse(e.to_string()))?;
        match self.flavour {
            Flavour::Osrm { .. } => parse_osrm(&json, targets.len()),
            Flavour::Valhalla { .. } => parse_valhalla(&json, targets.len()),
        }
    }
}

fn bad(msg: &str) -> HttpError {
    HttpError::BadResponse(msg.to_string())
}

/// A distance entry: `null` → no route; otherwise a finite non-negative number.
fn metres(v: &Value, scale: f64) -> Result<Option<f64>, HttpError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(d) if d.is_finite() && d >= 0.0 => Ok(Some(d * scale)),
            _ => Err(bad("distance is not a non-negative number")),
        },
        _ => Err(bad("distance is not a number")),
    }
}

fn parse_osrm(json: &Value, n: usize) -> Result<Vec<Option<f64>>, HttpError> {
    if json.get("code").and_then(Value::as_str) != Some("Ok") {
        return Err(bad("OSRM code is not Ok"));
    }
    let row = json
        .get("distances")
        .and_then(|d| d.get(0))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no distances row"))?;
    if row.len() != n {
        return Err(bad("wrong number of distances"));
    }
    row.iter().map(|v| metres(v, 1.0)).collect()
}

fn parse_valhalla(json: &Value, n: usize) -> Result<Vec<Option<f64>>, HttpError> {
    let row = json
        .get("sources_to_targets")
        .and_then(|d| d.get(0))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no sources_to_targets row"))?;
    if row.len() != n {
        return Err(bad("wrong number of entries"));
    }
    let mut out = vec![None; n];
    for (i, cell) in row.iter().enumerate() {
        let j = match cell.get("to_index").and_then(Value::as_u64) {
            Some(j) if (j as usize) < n => j as usize,
            Some(_) => return Err(bad("to_index out of range")),
            None => i,
        };
        out[j] = metres(cell.get("distance").unwrap_or(&Value::Null), 1000.0)?;
    }
    Ok(out)
}

impl WalkingEstimator for HttpEstimator {
    fn distances_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>> {
        match self.query(origin, targets) {
            Ok(d) => d.into_iter().map(|d| d.filter(|&m| m <= max_m)).collect(),
            Err(_) => self.fallback.distances_from(origin, targets, max_m),
        }
    }
}
