//! NENA-STA-021 Emergency Incident Data Object (EIDO, JSON, `eidoVersion`
//! "1.0") → firstlink drafts.
//!
//! # Validation
//! Hand-written checks against `openapi.yaml` for the parts read here (the
//! NIEM `$ref`s of the schema are not available). Errors name the JSON path,
//! e.g. `$.locationComponent[1].lastUpdateTimeStamp`.
//! - the document: an object with the `PrologueType` properties (`$id`,
//!   `lastUpdateTimeStamp` as RFC 3339 date-time, `updatedByAgencyReference`
//!   with a string `$ref`), `eidoVersion` = "1.0", `issuingElementIdentification`
//!   (string) and `agencyComponent` (array of objects with a prologue);
//! - `incidentComponent` (one object) when present: prologue and
//!   `incidentTypeCommonRegistryText` (string), optional string
//!   `incidentTypeInternalCode`, `locationReference` / `notesReference` arrays
//!   of `{ "$ref": string }`;
//! - `callComponent[]`: prologue, `callStateRegistryText`,
//!   `standardPrimaryCallType` (strings), `direction` (incoming | outgoing |
//!   internal), `callStartTimestamp` (date-time);
//! - `locationComponent[]`: prologue, `locationTypeDescriptionRegistryText`,
//!   optional strings `locationByValue`, `locationByReferenceUrl`,
//!   `locationDescriptionText`;
//! - `notesComponent[]`: prologue and `notesActionComments` (string).
//!
//! Other components are not read and only need to be of the declared JSON
//! type (arrays), so a foreign object cannot hide there as something else.
//! Duplicate JSON keys are not detected (the last one wins).
//!
//! # Mapping
//! - incident id: the document `$id` (e.g. `urn:emergency:uid:incidentid:…`);
//!   key `"eido|<$id>"`, `external_id` = `$id` (at most
//!   [`limits::EXTERNAL_ID_MAX`] bytes).
//! - cardiac arrest: `incidentComponent.incidentTypeCommonRegistryText` in
//!   [`EidoMapping::incident_types`] or `incidentTypeInternalCode` in
//!   [`EidoMapping::internal_codes`] (trimmed, case-insensitive). No
//!   `incidentComponent` → [`EidoError::NotCardiacArrest`] with `None`. The
//!   NENA sample (`Sample call transfer EIDO.json`) has no
//!   `incidentComponent`, hence no incident type code at all; its only
//!   classification is `callComponent[0].standardPrimaryCallType` =
//!   "emergency", which says nothing about the kind of incident.
//! - location: the locations the incident references (in order), then all
//!   other `locationComponent`s. `locationByValue` is a PIDF-LO document,
//!   read with the same hardened XML reader as CAP. The first geodetic shape
//!   wins: `gml:Point`, `gs:Circle`, `gs:Ellipse`, `gs:ArcBand`, `gs:Sphere`,
//!   `gs:Ellipsoid` (their centre `gml:pos`, "lat lon", EPSG 4326/4979), or the
//!   centroid of a `gml:Polygon` exterior ring. `locationByReferenceUrl` is
//!   never dereferenced. Civic-only (or no) location →
//!   [`EidoError::NoGeodeticLocation`], which carries the civic address as
//!   text so that the caller may geocode it and retry by hand; firstlink
//!   does not alert without coordinates.
//! - `address`: the PIDF-LO civic address of the chosen location, else the
//!   first civic address in the document, else `locationDescriptionText`,
//!   else empty.
//! - `location_type`: from the civic address `PLC` place type (RFC 4589):
//!   residence → Residence, hospital / nursing-home / care-facility →
//!   CareFacility, a few plainly public places → Public, else Unknown.
//! - `reported_at`: the earliest `callComponent[].callStartTimestamp`, else
//!   `incidentComponent.lastUpdateTimeStamp`, else the document's
//!   `lastUpdateTimeStamp`. `updated_at`: the document's `lastUpdateTimeStamp`.
//! - `notes`: `notesComponent[].notesActionComments`, in order, bounded.
//! - EMS ETA, exclusions and `test` have no EIDO equivalent: None / empty /
//!   false.
//!
//! # Updates
//! An EIDO carries the whole incident every time; whether it is new or an
//! update depends on what the receiver already holds. [`parse_eido_with`]
//! asks the caller for the `lastUpdateTimeStamp` it stored under the key:
//! none → [`EidoMessage::Incident`]; an older one → [`EidoMessage::Update`];
//! the same or a newer one → [`EidoError::NotNewer`]. [`parse_eido`] assumes
//! nothing is stored.

use chrono::{DateTime, Utc};
use firstlink_domain::geo::LatLon;
use firstlink_domain::incident::{LocationType, NewIncident, limits};
use serde_json::{Map, Value};

use crate::IncidentDraft;
use crate::text::{join_bounded, squash_ws, truncate_in_place, truncated};
use crate::xml::{self, Element, XmlError, XmlLimits};

/// Largest EIDO document accepted, in bytes.
pub const EIDO_MAX_BYTES: usize = 512 * 1024;
const PIDF_LIMITS: XmlLimits = XmlLimits {
    max_bytes: 64 * 1024,
    max_depth: 32,
    max_elements: 2_000,
};
const ECHO: usize = 80;

const GML_NS: &str = "http://www.opengis.net/gml";
const GS_NS: &str = "http://www.opengis.net/pidflo/1.0";
const CIVIC_NS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr";

/// Which EIDO incident types mean a suspected cardiac arrest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EidoMapping {
    /// Values of `incidentComponent.incidentTypeCommonRegistryText` (the NENA
    /// Incident Type registry).
    pub incident_types: Vec<String>,
    /// Values of `incidentComponent.incidentTypeInternalCode` (the agency's
    /// own codes).
    pub internal_codes: Vec<String>,
}

/// What a valid EIDO asks firstlink to do.
#[derive(Debug, Clone, PartialEq)]
pub enum EidoMessage {
    Incident(IncidentDraft),
    Update(IncidentDraft),
}

/// Why an EIDO was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EidoError {
    #[error("document is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("not JSON (line {line}, column {column}): {reason}")]
    Json {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{path} is required")]
    Missing { path: String },
    #[error("{path} must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("{path} has the invalid value {value:?}: {reason}")]
    InvalidValue {
        path: String,
        value: String,
        reason: &'static str,
    },
    #[error("{path} is longer than {max} bytes")]
    TooLong { path: String, max: usize },
    #[error("not a suspected cardiac arrest (incident type {incident_type:?})")]
    NotCardiacArrest { incident_type: Option<String> },
    #[error("no geodetic location (civic address: {civic_address:?})")]
    NoGeodeticLocation { civic_address: Option<String> },
    #[error("{path} is not a usable PIDF-LO location: {reason}")]
    InvalidLocation { path: String, reason: String },
    #[error("lastUpdateTimeStamp {last_update} is not later than the stored {known}")]
    NotNewer {
        last_update: DateTime<Utc>,
        known: DateTime<Utc>,
    },
}

/// Parses an EIDO assuming firstlink holds nothing for its incident yet:
/// the result is always [`EidoMessage::Incident`].
pub fn parse_eido(json: &[u8], mapping: &EidoMapping) -> Result<EidoMessage, EidoError> {
    parse_eido_with(json, mapping, |_| None)
}

/// Parses an EIDO; `known(key)` returns the `updated_at` firstlink stored for
/// that draft key, if any. See the module docs.
pub fn parse_eido_with(
    json: &[u8],
    mapping: &EidoMapping,
    known: impl FnOnce(&str) -> Option<DateTime<Utc>>,
) -> Result<EidoMessage, EidoError> {
    let draft = parse_draft(json, mapping)?;
    match known(&draft.key) {
        None => Ok(EidoMessage::Incident(draft)),
        Some(known) if draft.updated_at > known => Ok(EidoMessage::Update(draft)),
        Some(known) => Err(EidoError::NotNewer {
            last_update: draft.updated_at,
            known,
        }),
    }
}

// ---------------------------------------------------------------------------
// Typed access with paths
// ---------------------------------------------------------------------------

struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

fn as_obj<'a>(v: &'a Value, path: String) -> Result<Obj<'a>, EidoError> {
    match v {
        Value::Object(map) => Ok(Obj { path, map }),
        _ => Err(EidoError::WrongType {
            path,
            expected: "an object",
        }),
    }
}

impl<'a> Obj<'a> {
    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, EidoError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(EidoError::WrongType {
                path: self.at(key),
                expected: "a string",
            }),
        }
    }

    fn req_str(&self, key: &str) -> Result<&'a str, EidoError> {
        self.opt_str(key)?
            .ok_or_else(|| EidoError::Missing { path: self.at(key) })
    }

    fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, EidoError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_obj(v, self.at(key)).map(Some),
        }
    }

    fn opt_array(&self, key: &str) -> Result<&'a [Value], EidoError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(EidoError::WrongType {
                path: self.at(key),
                expected: "an array",
            }),
        }
    }

    fn req_array(&self, key: &str) -> Result<&'a [Value], EidoError> {
        if !self.map.contains_key(key) {
            return Err(EidoError::Missing { path: self.at(key) });
        }
        self.opt_array(key)
    }

    /// Items of an array of objects.
    fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>, EidoError> {
        let base = self.at(key);
        self.opt_array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| as_obj(v, format!("{base}[{i}]")))
            .collect()
    }

    fn timestamp(&self, key: &str, required: bool) -> Result<Option<DateTime<Utc>>, EidoError> {
        let value = if required {
            Some(self.req_str(key)?)
        } else {
            self.opt_str(key)?
        };
        value
            .map(|v| {
                DateTime::parse_from_rfc3339(v.trim())
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| EidoError::InvalidValue {
                        path: self.at(key),
                        value: truncated(v, ECHO),
                        reason: "not an RFC 3339 date-time",
                    })
            })
            .transpose()
    }

    /// `{ "$ref": string }`.
    fn reference(&self, key: &str, required: bool) -> Result<Option<&'a str>, EidoError> {
        match self.opt_obj(key)? {
            None if required => Err(EidoError::Missing { path: self.at(key) }),
            None => Ok(None),
            Some(r) => r.req_str("$ref").map(Some),
        }
    }

    fn references(&self, key: &str) -> Result<Vec<&'a str>, EidoError> {
        self.objects(key)?
            .iter()
            .map(|r| r.req_str("$ref"))
            .collect()
    }

    /// `PrologueType`: `$id`, `lastUpdateTimeStamp`, `updatedByAgencyReference`.
    fn prologue(&self) -> Result<(&'a str, DateTime<Utc>), EidoError> {
        let id = self.req_str("$id")?;
        let ts = self
            .timestamp("lastUpdateTimeStamp", true)?
            .ok_or_else(|| EidoError::Missing {
                path: self.at("lastUpdateTimeStamp"),
            })?;
        self.reference("updatedByAgencyReference", true)?;
        self.reference("updatedByAgentReference", false)?;
        Ok((id, ts))
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

/// Arrays the schema declares on the document that are not read here.
const OTHER_ARRAYS: &[&str] = &[
    "eidoExtensionId",
    "mergeComponent",
    "linkComponent",
    "callbackComponent",
    "dispatchComponent",
    "emergencyResourceComponent",
    "alarmsSensorsComponent",
    "agentComponent",
    "additionalDataComponent",
    "personComponent",
    "vehicleComponent",
    "cautionComponent",
    "mediaComponent",
    "sharedCommunicationResourceComponent",
    "externalInformationSourceComponent",
];

struct Location<'a> {
    path: String,
    id: &'a str,
    by_value: Option<&'a str>,
    description: Option<&'a str>,
}

fn parse_draft(json: &[u8], mapping: &EidoMapping) -> Result<IncidentDraft, EidoError> {
    if json.len() > EIDO_MAX_BYTES {
        return Err(EidoError::TooLarge {
            size: json.len(),
            max: EIDO_MAX_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(json).map_err(|e| EidoError::Json {
        line: e.line(),
        column: e.column(),
        reason: truncated(&e.to_string(), 160),
    })?;
    let doc = as_obj(&value, "$".into())?;

    // --- document-level schema checks -------------------------------------
    let (incident_id, last_update) = doc.prologue()?;
    let version = doc.req_str("eidoVersion")?;
    if version != "1.0" {
        return Err(EidoError::InvalidValue {
            path: doc.at("eidoVersion"),
            value: truncated(version, ECHO),
            reason: "only eidoVersion 1.0 is supported",
        });
    }
    doc.req_str("issuingElementIdentification")?;
    doc.req_array("agencyComponent")?;
    for agency in doc.objects("agencyComponent")? {
        agency.prologue()?;
    }
    for key in OTHER_ARRAYS {
        doc.opt_array(key)?;
    }
    let incident_id = incident_id.trim();
    if incident_id.is_empty() {
        return Err(EidoError::InvalidValue {
            path: doc.at("$id"),
            value: String::new(),
            reason: "empty incident id",
        });
    }
    if incident_id.len() > limits::EXTERNAL_ID_MAX {
        return Err(EidoError::TooLong {
            path: doc.at("$id"),
            max: limits::EXTERNAL_ID_MAX,
        });
    }

    let incident = doc.opt_obj("incidentComponent")?;
    let mut incident_ts = None;
    let mut incident_type = None;
    let mut internal_code = None;
    let mut location_refs = Vec::new();
    if let Some(inc) = &incident {
        incident_ts = Some(inc.prologue()?.1);
        incident_type = Some(inc.req_str("incidentTypeCommonRegistryText")?);
        internal_code = inc.opt_str("incidentTypeInternalCode")?;
        location_refs = inc.references("locationReference")?;
        inc.references("notesReference")?;
    }

    let mut call_start: Option<DateTime<Utc>> = None;
    for call in doc.objects("callComponent")? {
        call.prologue()?;
        call.req_str("callStateRegistryText")?;
        call.req_str("standardPrimaryCallType")?;
        let direction = call.req_str("direction")?;
        if !matches!(direction, "incoming" | "outgoing" | "internal") {
            return Err(EidoError::InvalidValue {
                path: call.at("direction"),
                value: truncated(direction, ECHO),
                reason: "must be incoming, outgoing or internal",
            });
        }
        if let Some(t) = call.timestamp("callStartTimestamp", true)? {
            call_start = Some(call_start.map_or(t, |c| c.min(t)));
        }
    }

    let mut locations = Vec::new();
    for loc in doc.objects("locationComponent")? {
        let (id, _) = loc.prologue()?;
        loc.req_str("locationTypeDescriptionRegistryText")?;
        loc.opt_str("locationByReferenceUrl")?;
        locations.push(Location {
            path: loc.at("locationByValue"),
            id,
            by_value: loc.opt_str("locationByValue")?,
            description: loc.opt_str("locationDescriptionText")?,
        });
    }

    let mut notes = Vec::new();
    for note in doc.objects("notesComponent")? {
        note.prologue()?;
        notes.push(note.req_str("notesActionComments")?);
    }

    // --- classification ----------------------------------------------------
    let is_cardiac_arrest = incident_type
        .is_some_and(|t| mapping.incident_types.iter().any(|m| eq_ci(m, t)))
        || internal_code.is_some_and(|c| mapping.internal_codes.iter().any(|m| eq_ci(m, c)));
    if !is_cardiac_arrest {
        return Err(EidoError::NotCardiacArrest {
            incident_type: incident_type.or(internal_code).map(|t| truncated(t, ECHO)),
        });
    }

    // --- location ----------------------------------------------------------
    let mut ordered: Vec<&Location<'_>> = Vec::new();
    for r in &location_refs {
        if let Some(l) = locations.iter().find(|l| l.id == *r)
            && !ordered.iter().any(|o| std::ptr::eq(*o, l))
        {
            ordered.push(l);
        }
    }
    for l in &locations {
        if !ordered.iter().any(|o| std::ptr::eq(*o, l)) {
            ordered.push(l);
        }
    }
    // Every PIDF-LO is read (and so validated), then the first geodetic one wins.
    let mut parsed = Vec::new();
    for loc in &ordered {
        if let Some(pidf) = loc.by_value {
            parsed.push((read_pidf(pidf, &loc.path)?, loc.description));
        }
    }
    let first_civic = parsed.iter().find_map(|(p, _)| p.civic.clone());
    let Some((location, civic, description)) = parsed
        .into_iter()
        .find_map(|(p, d)| p.point.map(|pt| (pt, p.civic, d)))
    else {
        return Err(EidoError::NoGeodeticLocation {
            civic_address: first_civic.map(|c| c.text),
        });
    };
    let civic = civic.or(first_civic);
    let location_type = civic
        .as_ref()
        .map_or(LocationType::Unknown, |c| c.location_type);
    let mut address = civic
        .map(|c| c.text)
        .or_else(|| description.map(squash_ws))
        .unwrap_or_default();
    truncate_in_place(&mut address, limits::ADDRESS_MAX);

    let reported_at = call_start.or(incident_ts).unwrap_or(last_update);
    let incident = NewIncident {
        external_id: incident_id.to_owned(),
        location,
        address,
        reported_at,
        location_type,
        ems_eta_seconds: None,
        exclusions: Vec::new(),
        notes: join_bounded(notes, limits::NOTES_MAX),
        test: false,
    };
    Ok(IncidentDraft {
        key: format!("eido|{incident_id}"),
        incident,
        updated_at: last_update,
    })
}

// ---------------------------------------------------------------------------
// PIDF-LO
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Civic {
    text: String,
    location_type: LocationType,
}

struct Pidf {
    point: Option<LatLon>,
    civic: Option<Civic>,
}

fn read_pidf(doc: &str, path: &str) -> Result<Pidf, EidoError> {
    let bad = |reason: String| EidoError::InvalidLocation {
        path: path.to_owned(),
        reason,
    };
    let root = xml::parse(doc.as_bytes(), PIDF_LIMITS).map_err(|e: XmlError| bad(e.to_string()))?;
    let shape = root.find(&|e| {
        (e.ns.as_deref() == Some(GML_NS) && matches!(e.name.as_str(), "Point" | "Polygon"))
            || (e.ns.as_deref() == Some(GS_NS)
                && matches!(
                    e.name.as_str(),
                    "Circle" | "Ellipse" | "ArcBand" | "Sphere" | "Ellipsoid"
                ))
    });
    let point = match shape {
        None => None,
        Some(shape) => Some(shape_point(shape).map_err(|r| bad(r.to_owned()))?),
    };
    let civic = root
        .find(&|e| e.is(CIVIC_NS, "civicAddress"))
        .map(civic_text);
    Ok(Pidf { point, civic })
}

fn parse_numbers(text: &str) -> Result<Vec<f64>, &'static str> {
    let nums = text
        .split_whitespace()
        .map(|n| n.parse::<f64>().map_err(|_| "coordinate is not a number"))
        .collect::<Result<Vec<_>, _>>()?;
    if nums.iter().any(|n| !n.is_finite()) {
        return Err("coordinate is not finite");
    }
    Ok(nums)
}

fn shape_point(shape: &Element) -> Result<LatLon, &'static str> {
    let gml = |e: &Element, name: &str| e.ns.as_deref() == Some(GML_NS) && e.name == name;
    if shape.name == "Polygon" {
        let ring = shape
            .find(&|e| gml(e, "exterior"))
            .ok_or("polygon without gml:exterior")?;
        let coords: Vec<f64> = if let Some(list) = ring.find(&|e| gml(e, "posList")) {
            parse_numbers(&list.text)?
        } else {
            let mut v = Vec::new();
            for pos in ring
                .children
                .iter()
                .flat_map(|lr| lr.children.iter())
                .filter(|e| gml(e, "pos"))
            {
                let n = parse_numbers(&pos.text)?;
                if n.len() != 2 {
                    return Err("gml:pos in a polygon must be \"lat lon\"");
                }
                v.extend(n);
            }
            v
        };
        if !coords.len().is_multiple_of(2) || coords.len() < 8 {
            return Err("polygon needs at least four lat lon pairs");
        }
        let points: Vec<(f64, f64)> = coords.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        if points.first() != points.last() {
            return Err("polygon ring is not closed");
        }
        for &(lat, lon) in &points {
            LatLon::new(lat, lon).map_err(|_| "coordinates out of range")?;
        }
        let (lat, lon) = crate::geom::ring_centroid(&points).ok_or("no centroid")?;
        return LatLon::new(lat, lon).map_err(|_| "centroid out of range");
    }
    let pos = shape
        .find(&|e| gml(e, "pos"))
        .ok_or("shape without gml:pos")?;
    let n = parse_numbers(&pos.text)?;
    if !(2..=3).contains(&n.len()) {
        return Err("gml:pos must be \"lat lon\" or \"lat lon alt\"");
    }
    LatLon::new(n[0], n[1]).map_err(|_| "coordinates out of range")
}

fn civic_text(addr: &Element) -> Civic {
    let get = |name: &str| {
        addr.children
            .iter()
            .find(|c| c.ns.as_deref() == Some(CIVIC_NS) && c.name == name)
            .map(|c| squash_ws(&c.text))
            .filter(|t| !t.is_empty())
    };
    let street: Vec<String> = ["HNO", "HNS", "PRD", "RD", "STS", "POD"]
        .into_iter()
        .filter_map(get)
        .collect();
    let mut parts = Vec::new();
    if let Some(name) = get("NAM") {
        parts.push(name);
    }
    if !street.is_empty() {
        parts.push(street.join(" "));
    }
    for unit in ["BLD", "FLR", "UNIT", "ROOM"] {
        if let Some(v) = get(unit) {
            parts.push(format!("{unit} {v}"));
        }
    }
    for area in ["A6", "A5", "A4", "A3", "A2", "A1", "PC", "country"] {
        if let Some(v) = get(area) {
            parts.push(v);
        }
    }
    let location_type = match get("PLC").map(|p| p.to_ascii_lowercase()).as_deref() {
        Some("residence") => LocationType::Residence,
        Some("hospital" | "nursing-home" | "care-facility") => LocationType::CareFacility,
        Some(
            "airport" | "arena" | "bank" | "bar" | "bus-station" | "cafe" | "club" | "library"
            | "outdoors" | "parking" | "place-of-worship" | "public" | "restaurant" | "shop"
            | "stadium" | "street" | "theater" | "train-station",
        ) => LocationType::Public,
        _ => LocationType::Unknown,
    };
    let mut text = parts.join(", ");
    truncate_in_place(&mut text, limits::ADDRESS_MAX);
    Civic {
        text,
        location_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pidf(inner: &str) -> String {
        format!(
            r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"><gp:geopriv><gp:location-info>{inner}</gp:location-info></gp:geopriv></presence>"#
        )
    }

    #[test]
    fn pidf_shapes() {
        let p = read_pidf(&pidf(r#"<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>55.68 12.57</gml:pos></gml:Point>"#), "$").unwrap();
        assert_eq!(
            p.point,
            Some(LatLon {
                lat: 55.68,
                lon: 12.57
            })
        );
        let p = read_pidf(&pidf(r#"<gs:Circle><gml:pos>47.1 9.5 400</gml:pos><gs:radius uom="urn:ogc:def:uom:EPSG::9001">30</gs:radius></gs:Circle>"#), "$").unwrap();
        assert_eq!(
            p.point,
            Some(LatLon {
                lat: 47.1,
                lon: 9.5
            })
        );
        let p = read_pidf(&pidf(r#"<gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>0 0 0 2 2 2 2 0 0 0</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"#), "$").unwrap();
        let ll = p.point.unwrap();
        assert!((ll.lat - 1.0).abs() < 1e-9 && (ll.lon - 1.0).abs() < 1e-9);
        let p = read_pidf(&pidf(r#"<ca:civicAddress><ca:country>SE</ca:country><ca:A3>Stockholm</ca:A3><ca:RD>Götgatan</ca:RD><ca:HNO>12</ca:HNO><ca:PLC>residence</ca:PLC></ca:civicAddress>"#), "$").unwrap();
        assert_eq!(p.point, None);
        let c = p.civic.unwrap();
        assert_eq!(c.text, "12 Götgatan, Stockholm, SE");
        assert_eq!(c.location_type, LocationType::Residence);
        for bad in [
            r#"<gml:Point><gml:pos>95 12</gml:pos></gml:Point>"#,
            r#"<gml:Point><gml:pos>1</gml:pos></gml:Point>"#,
            r#"<gml:Point><gml:pos>a b</gml:pos></gml:Point>"#,
            r#"<gml:Point/>"#,
            r#"<gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>0 0 0 2 2 2</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"#,
        ] {
            assert!(read_pidf(&pidf(bad), "$").is_err(), "{bad}");
        }
        assert!(read_pidf("<!DOCTYPE x><x/>", "$").is_err());
    }
}
