//! One AED as an import source describes it, and what went wrong with rows.
//!
//! Every format (OSM PBF, GeoJSON, CSV) is turned into a map of
//! OpenStreetMap-style keys first and then read by [`from_tags`], so the rules
//! (what is rejected, what only warns) are the same for all of them.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use firstlink_domain::aed::AedAccess;
use firstlink_domain::geo::LatLon;
use firstlink_hours::OpeningHours;
use serde::Serialize;

/// An AED read from a source, before it is matched against stored records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedAed {
    /// Row (CSV line, GeoJSON feature, n-th OSM defibrillator), starting at 1.
    pub row: usize,
    pub source_id: String,
    pub name: String,
    pub position: LatLon,
    pub access: AedAccess,
    /// A value that parsed; `None` = unknown.
    pub opening_hours: Option<String>,
    /// The value that did not parse and why (the AED is kept as "hours unknown").
    pub hours_error: Option<String>,
    pub indoor: Option<bool>,
    pub level: Option<String>,
    pub location_desc: Vec<(String, String)>,
    pub locked: Option<bool>,
    pub access_code: Option<String>,
    pub owner_name: Option<String>,
    pub owner_contact: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub pad_expiry: Option<NaiveDate>,
    pub battery_expiry: Option<NaiveDate>,
    pub last_maintenance: Option<NaiveDate>,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub row: usize,
    pub source_id: Option<String>,
    pub field: String,
    pub reason: String,
}

/// A row that was imported with a field left empty or marked unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub row: usize,
    pub source_id: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(id) = &self.source_id {
            write!(f, " ({id})")?;
        }
        write!(f, ", field {}: {}", self.field, self.reason)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(id) = &self.source_id {
            write!(f, " ({id})")?;
        }
        write!(f, ", field {}: {}", self.field, self.message)
    }
}

/// What a parser produced: records, rejected rows, warnings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Parsed {
    pub records: Vec<ImportedAed>,
    pub rejected: Vec<Rejection>,
    pub warnings: Vec<Warning>,
}

impl Parsed {
    /// Adds the outcome of [`from_tags`].
    pub fn push(&mut self, r: Result<(ImportedAed, Vec<Warning>), Rejection>) {
        match r {
            Ok((a, w)) => {
                self.records.push(a);
                self.warnings.extend(w);
            }
            Err(e) => self.rejected.push(e),
        }
    }
}

/// Settings shared by all parsers.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Language tag for untagged descriptions (`defibrillator:location`).
    pub default_lang: String,
    /// Access when the source does not say.
    pub default_access: AedAccess,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            default_lang: "und".into(),
            default_access: AedAccess::Public,
        }
    }
}

const MAX_TEXT: usize = 500;

fn clean(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    Some(
        t.chars()
            .filter(|c| !c.is_control())
            .take(MAX_TEXT)
            .collect(),
    )
}

/// Reads an access value (OSM vocabulary plus our own names).
pub fn parse_access(v: &str) -> Option<AedAccess> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "public" | "permissive" | "designated" => Some(AedAccess::Public),
        "customers" | "customer" => Some(AedAccess::Customers),
        "staff" | "employees" | "permit" | "members" => Some(AedAccess::Staff),
        "private" | "no" => Some(AedAccess::Private),
        _ => None,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "y" | "ja" | "room" | "corridor" | "area" => Some(true),
        "no" | "false" | "0" | "n" | "nej" | "nein" => Some(false),
        _ => None,
    }
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    let v = v.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d.%m.%Y"))
        .or_else(|_| NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d"))
        .ok()
}

/// Checks a coordinate pair; `field` names the column for the message.
pub fn check_position(
    lat: Option<f64>,
    lon: Option<f64>,
) -> Result<LatLon, (&'static str, String)> {
    let lat = lat.ok_or(("lat", "missing latitude".to_string()))?;
    let lon = lon.ok_or(("lon", "missing longitude".to_string()))?;
    let p = LatLon::new(lat, lon).map_err(|e| {
        let f = if e.to_string().starts_with("latitude") {
            "lat"
        } else {
            "lon"
        };
        (f, format!("{e} (got {lat}, {lon})"))
    })?;
    if lat == 0.0 && lon == 0.0 {
        return Err(("lat", "0, 0 is not a real position".into()));
    }
    Ok(p)
}

/// Builds an [`ImportedAed`] from OSM-style tags. Rejects the row only for a
/// missing id, a bad position or an unknown access value; every other
/// problem is a warning and the field stays empty (an opening_hours value
/// that does not parse leaves the AED with unknown hours).
pub fn from_tags(
    row: usize,
    source_id: Option<&str>,
    position: Result<LatLon, (&'static str, String)>,
    tags: &HashMap<String, String>,
    opts: &ParseOptions,
) -> Result<(ImportedAed, Vec<Warning>), Rejection> {
    let sid = source_id.and_then(clean);
    let reject = |field: &str, reason: String| Rejection {
        row,
        source_id: sid.clone(),
        field: field.into(),
        reason,
    };
    let Some(source_id) = sid.clone() else {
        return Err(reject("id", "missing source id".into()));
    };
    let position = position.map_err(|(f, m)| reject(f, m))?;
    let get = |k: &str| tags.get(k).and_then(|v| clean(v));
    let mut warnings = Vec::new();
    let mut warn = |field: &str, message: String| {
        warnings.push(Warning {
            row,
            source_id: Some(source_id.clone()),
            field: field.into(),
            message,
        });
    };

    let access = match get("access") {
        None => opts.default_access,
        Some(v) => parse_access(&v).ok_or_else(|| {
            reject("access", format!("unknown value {v:?} (expected yes/public/permissive, customers, staff, private/no)"))
        })?,
    };
    let (opening_hours, hours_error) = match get("opening_hours") {
        None => (None, None),
        Some(v) => match OpeningHours::parse(&v) {
            Ok(_) => (Some(v), None),
            Err(e) => {
                let msg = format!("{v:?} does not parse {e}; kept with hours unknown");
                warn("opening_hours", msg.clone());
                (None, Some(msg))
            }
        },
    };
    let mut boolean = |key: &str| -> Option<bool> {
        let v = get(key)?;
        let b = parse_bool(&v);
        if b.is_none() {
            warn(
                key,
                format!("unknown value {v:?} (expected yes or no); left empty"),
            );
        }
        b
    };
    let indoor = boolean("indoor");
    let locked = boolean("locked");
    let mut date = |key: &str| -> Option<NaiveDate> {
        let v = get(key)?;
        let d = parse_date(&v);
        if d.is_none() {
            warn(
                key,
                format!("{v:?} is not a date (expected YYYY-MM-DD); left empty"),
            );
        }
        d
    };
    let pad_expiry = date("pad_expiry");
    let battery_expiry = date("battery_expiry");
    let last_maintenance = date("last_maintenance");

    // Where it hangs: defibrillator:location (older aed:location), per language.
    let mut location_desc: Vec<(String, String)> = Vec::new();
    let base = get("defibrillator:location").or_else(|| get("aed:location"));
    let desc = get("description");
    let text = match (base, desc) {
        (Some(b), Some(d)) if b != d => Some(format!("{b}. {d}")),
        (Some(b), _) => Some(b),
        (None, d) => d,
    };
    if let Some(t) = text {
        location_desc.push((opts.default_lang.clone(), t));
    }
    let mut langs: Vec<(&String, &String)> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("defibrillator:location:") || k.starts_with("aed:location:"))
        .collect();
    langs.sort();
    for (k, v) in langs {
        let lang = k.rsplit(':').next().unwrap_or_default();
        if lang.is_empty()
            || lang.len() > 8
            || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            continue;
        }
        if let Some(v) = clean(v)
            && !location_desc.iter().any(|(l, _)| l == lang)
        {
            location_desc.push((lang.to_string(), v));
        }
    }

    let contact: Vec<String> = [
        "phone",
        "contact:phone",
        "email",
        "contact:email",
        "owner_contact",
    ]
    .iter()
    .filter_map(|k| get(k))
    .fold(Vec::new(), |mut acc, v| {
        if !acc.contains(&v) {
            acc.push(v);
        }
        acc
    });
    let name = get("name")
        .or_else(|| get("defibrillator:location"))
        .or_else(|| get("aed:location"))
        .or_else(|| get("operator").map(|o| format!("AED {o}")))
        .unwrap_or_else(|| "AED".into());
    let a = ImportedAed {
        row,
        source_id,
        name: name.chars().take(200).collect(),
        position,
        access,
        opening_hours,
        hours_error,
        indoor,
        level: get("level").map(|l| l.chars().take(20).collect()),
        location_desc,
        locked,
        access_code: get("access_code"),
        owner_name: get("operator").or_else(|| get("owner")),
        owner_contact: (!contact.is_empty()).then(|| contact.join("; ")),
        manufacturer: get("manufacturer"),
        model: get("model"),
        serial: get("serial").or_else(|| get("serial_number")),
        pad_expiry,
        battery_expiry,
        last_maintenance,
    };
    Ok((a, warnings))
}
