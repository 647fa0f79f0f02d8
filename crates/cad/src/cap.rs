//! OASIS Common Alerting Protocol (CAP) 1.2 and 1.1 → firstlink drafts.
//!
//! # What is accepted
//! The root must be `alert` in namespace `urn:oasis:names:tc:emergency:cap:1.2`
//! or `…:cap:1.1`, with or without a prefix (`<cap:alert xmlns:cap=…>`). The
//! two versions are read the same way; 1.1 only differs in allowing any
//! `xs:dateTime` with a zone (`Z`, fractions) where 1.2 requires the CAP
//! pattern `YYYY-MM-DDThh:mm:ss±hh:mm`, and in its `responseType` list.
//!
//! # Checks beyond well-formedness
//! (the hardening of the XML itself is in [`crate::xml`])
//! - required `alert` elements: identifier, sender, sent, status, msgType,
//!   scope; each single-valued CAP element at most once; no unknown element in
//!   the CAP namespace as a child of `alert`, `info` or `area` (elements in
//!   other namespaces are ignored, except an enveloped XML-DSig `Signature`,
//!   which sets [`ParsedCap::signed`]; it is *not* verified here, see
//!   [`crate::dsig`]);
//! - identifier and sender non-empty, without whitespace, `,`, `<` or `&`;
//! - enumerations: status, msgType, scope, category, responseType, urgency,
//!   severity, certainty;
//! - `sent` (and `effective`/`onset`/`expires`) as CAP dateTime with a zone;
//! - `scope` Restricted needs a non-empty `restriction`, Private non-empty
//!   `addresses`;
//! - `references`, when present, a non-empty, space-separated list of
//!   `sender,identifier,sent` triples; Update and Cancel must have it;
//! - every `info`: at least one category, event, urgency, severity, certainty;
//!   every `area`: an `areaDesc`; `circle`s and `polygon`s are checked when
//!   they are used for the location.
//!
//! The checks run in this order: alert-level elements, then each `info` in
//! document order, then references and the message type.
//!
//! # Mapping to a draft
//! - `status` Actual → live; Test / Exercise → `test: true`; System and Draft
//!   are refused ([`CapError::NotAnIncident`]), as are msgType Ack and Error.
//! - The first `info` that matches the [`CapMapping`] is used; none matching →
//!   [`CapError::NotCardiacArrest`] with the first block's event. An Alert or
//!   Update without any `info` → [`CapError::NoInfo`]. A Cancel needs no info.
//! - Location: in that `info`, the centre of the first `circle` of any area;
//!   otherwise the area-weighted centroid of the first `polygon`; otherwise
//!   [`CapError::NoLocation`]. `address` is the `areaDesc` of that area
//!   (whitespace collapsed, cut to [`limits::ADDRESS_MAX`] bytes).
//! - `reported_at` = `sent`; `external_id` = `identifier`; the draft key is
//!   `"<sender>|<identifier>"`.
//! - `notes`: alert `note`, then info `description`, then `instruction`,
//!   separated by blank lines, cut to [`limits::NOTES_MAX`] bytes.
//! - firstlink parameters (`<parameter><valueName>…</valueName><value>…</value>`
//!   in the matching info; names case-insensitive, other parameters ignored):
//!   - `EMS_ETA_SECONDS`: integer 0..=[`limits::EMS_ETA_MAX_S`];
//!   - `LOCATION_TYPE`: `residence` | `public` | `care_facility` | `unknown`;
//!   - `EXCLUSION` (repeatable, at most [`limits::EXCLUSIONS_MAX`]):
//!     `patient_under_8` | `trauma` | `unsafe_scene` | `care_facility` |
//!     `do_not_resuscitate`.
//!
//!   A malformed value is refused ([`CapError::InvalidParameter`]), never
//!   guessed.

use chrono::{DateTime, Utc};
use firstlink_domain::geo::LatLon;
use firstlink_domain::incident::{Exclusion, LocationType, NewIncident, limits};

use crate::IncidentDraft;
use crate::text::{join_bounded, squash_ws, truncate_in_place, truncated};
use crate::xml::{self, Element, XmlError, XmlLimits};

/// Largest CAP document accepted, in bytes.
pub const CAP_MAX_BYTES: usize = 256 * 1024;
pub(crate) const LIMITS: XmlLimits = XmlLimits {
    max_bytes: CAP_MAX_BYTES,
    max_depth: 16,
    max_elements: 10_000,
};
/// How much of an offending value is echoed in an error.
const ECHO: usize = 80;

pub const CAP12_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
pub const CAP11_NS: &str = "urn:oasis:names:tc:emergency:cap:1.1";
const CAP_NS_PREFIX: &str = "urn:oasis:names:tc:emergency:cap:";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Which CAP alerts describe a suspected cardiac arrest.
///
/// An `info` block matches when its `event` equals one of `events` or one of
/// its `eventCode`s equals one of `event_codes` (all comparisons trimmed and
/// case-insensitive), **and**, if `categories` is not empty, it also carries
/// one of those categories. Categories alone never make a match: "Health" or
/// "Rescue" are far too broad to send volunteers on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapMapping {
    pub events: Vec<String>,
    /// `(valueName, value)` pairs, e.g. `("SAME", "CAE")`.
    pub event_codes: Vec<(String, String)>,
    /// Optional extra filter on `category` (e.g. `"Health"`, `"Rescue"`).
    pub categories: Vec<String>,
}

/// The CAP version of a parsed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapVersion {
    V1_1,
    V1_2,
}

/// One entry of `<references>`: an earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapRef {
    pub sender: String,
    pub identifier: String,
    pub sent: DateTime<Utc>,
}

impl CapRef {
    /// The draft key of the referenced message, `"<sender>|<identifier>"`.
    pub fn key(&self) -> String {
        format!("{}|{}", self.sender, self.identifier)
    }
}

/// What a valid CAP message asks firstlink to do.
#[derive(Debug, Clone, PartialEq)]
pub enum CapMessage {
    /// A new suspected cardiac arrest.
    Alert(IncidentDraft),
    /// Replaces the incident(s) of the referenced earlier message(s).
    Update {
        references: Vec<CapRef>,
        draft: IncidentDraft,
    },
    /// Withdraws the referenced earlier message(s). `reason` is the alert `note`.
    Cancel {
        references: Vec<CapRef>,
        reason: Option<String>,
    },
}

/// A parsed CAP message with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCap {
    pub version: CapVersion,
    /// `"<sender>|<identifier>"` of this message.
    pub key: String,
    pub sent: DateTime<Utc>,
    /// `status` was Test or Exercise.
    pub test: bool,
    /// An enveloped XML-DSig `Signature` element is present (not verified).
    pub signed: bool,
    /// When the alert stops being valid: the latest `info/expires` when every
    /// `info` block has one; None when any block has none, or there is none.
    pub expires: Option<DateTime<Utc>>,
    pub message: CapMessage,
}

/// Why a CAP document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CapError {
    #[error("document is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("document type declarations (DOCTYPE) are not allowed")]
    DoctypeNotAllowed,
    #[error("unknown entity reference &{name};")]
    UnknownEntity { name: String },
    #[error("invalid character reference &{reference};")]
    InvalidCharRef { reference: String },
    #[error("elements nested deeper than {max}")]
    TooDeep { max: usize },
    #[error("more than {max} elements")]
    TooManyElements { max: usize },
    #[error("unsupported character encoding {encoding:?}")]
    UnsupportedEncoding { encoding: String },
    #[error("document is not valid {encoding}")]
    InvalidEncoding { encoding: &'static str },
    #[error("not well-formed XML: {reason}")]
    Malformed { reason: String },
    #[error("not a CAP alert: root <{root}> in namespace {namespace:?}")]
    NotCap {
        root: String,
        namespace: Option<String>,
    },
    #[error("unsupported CAP version (namespace {namespace})")]
    UnsupportedVersion { namespace: String },
    #[error("<{parent}> lacks the required <{element}>")]
    MissingElement {
        parent: &'static str,
        element: &'static str,
    },
    #[error("<{parent}> has more than one <{element}>")]
    DuplicateElement {
        parent: &'static str,
        element: &'static str,
    },
    #[error("<{parent}> has an unexpected CAP element <{element}>")]
    UnexpectedElement {
        parent: &'static str,
        element: String,
    },
    #[error("<{element}> is empty")]
    EmptyElement { element: &'static str },
    #[error("<{element}> must not contain whitespace, ',', '<' or '&': {value:?}")]
    InvalidIdentifier {
        element: &'static str,
        value: String,
    },
    #[error("<{element}> has the invalid value {value:?}")]
    InvalidValue {
        element: &'static str,
        value: String,
    },
    #[error("<{element}> is not a CAP dateTime with a time zone: {value:?}")]
    InvalidDateTime {
        element: &'static str,
        value: String,
    },
    #[error("<{element}> is longer than {max} bytes")]
    TooLong { element: &'static str, max: usize },
    #[error("<references> is present but empty")]
    EmptyReferences,
    #[error("<references> entry {value:?} is not sender,identifier,sent: {reason}")]
    InvalidReference { value: String, reason: &'static str },
    #[error("msgType {msg_type} needs <references>")]
    MissingReferences { msg_type: &'static str },
    #[error("not an incident: {reason}")]
    NotAnIncident { reason: String },
    #[error("the alert has no <info> block")]
    NoInfo,
    #[error("not a suspected cardiac arrest (event {event:?})")]
    NotCardiacArrest { event: Option<String> },
    #[error("no <circle> or <polygon> in the matching <info>")]
    NoLocation,
    #[error("invalid <{element}> {value:?}: {reason}")]
    InvalidGeometry {
        element: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("invalid firstlink parameter {name}={value:?}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl From<XmlError> for CapError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::TooLarge { size, max } => Self::TooLarge { size, max },
            XmlError::DoctypeNotAllowed => Self::DoctypeNotAllowed,
            XmlError::UnknownEntity { name } => Self::UnknownEntity { name },
            XmlError::InvalidCharRef { reference } => Self::InvalidCharRef { reference },
            XmlError::TooDeep { max } => Self::TooDeep { max },
            XmlError::TooManyElements { max } => Self::TooManyElements { max },
            XmlError::UnsupportedEncoding { encoding } => Self::UnsupportedEncoding { encoding },
            XmlError::InvalidEncoding { encoding } => Self::InvalidEncoding { encoding },
            XmlError::Malformed { reason } => Self::Malformed { reason },
            XmlError::NoRoot => Self::Malformed {
                reason: "no root element".into(),
            },
        }
    }
}

/// Parses and validates one CAP 1.2 / 1.1 document.
pub fn parse_cap(xml: &[u8], mapping: &CapMapping) -> Result<ParsedCap, CapError> {
    let root = xml::parse(xml, LIMITS)?;
    let (version, ns) = version_of(&root)?;
    let alert = read_alert(&root, ns, version)?;
    alert.into_message(mapping)
}

fn version_of(root: &Element) -> Result<(CapVersion, &str), CapError> {
    let ns = root.ns.as_deref();
    let version = match ns {
        Some(CAP12_NS) => CapVersion::V1_2,
        Some(CAP11_NS) => CapVersion::V1_1,
        Some(other) if root.name == "alert" && other.starts_with(CAP_NS_PREFIX) => {
            return Err(CapError::UnsupportedVersion {
                namespace: truncated(other, ECHO),
            });
        }
        _ => {
            return Err(CapError::NotCap {
                root: truncated(&root.name, ECHO),
                namespace: ns.map(|n| truncated(n, ECHO)),
            });
        }
    };
    if root.name != "alert" {
        return Err(CapError::NotCap {
            root: truncated(&root.name, ECHO),
            namespace: ns.map(|n| truncated(n, ECHO)),
        });
    }
    Ok((
        version,
        if version == CapVersion::V1_2 {
            CAP12_NS
        } else {
            CAP11_NS
        },
    ))
}

// ---------------------------------------------------------------------------
// Reading the tree
// ---------------------------------------------------------------------------

/// Children of `parent` in the CAP namespace, checked against the allowed
/// names; elements of other namespaces are returned separately.
struct Children<'a> {
    cap: Vec<&'a Element>,
    foreign: Vec<&'a Element>,
}

fn children<'a>(
    parent_el: &'a Element,
    parent: &'static str,
    ns: &str,
    allowed: &[&str],
) -> Result<Children<'a>, CapError> {
    let mut out = Children {
        cap: Vec::new(),
        foreign: Vec::new(),
    };
    for c in &parent_el.children {
        if c.ns.as_deref() == Some(ns) {
            if !allowed.contains(&c.name.as_str()) {
                return Err(CapError::UnexpectedElement {
                    parent,
                    element: truncated(&c.name, ECHO),
                });
            }
            out.cap.push(c);
        } else {
            out.foreign.push(c);
        }
    }
    Ok(out)
}

impl<'a> Children<'a> {
    fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a Element> + 's {
        self.cap.iter().copied().filter(move |c| c.name == name)
    }

    fn opt(
        &self,
        parent: &'static str,
        name: &'static str,
    ) -> Result<Option<&'a Element>, CapError> {
        let mut it = self.all(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(CapError::DuplicateElement {
                parent,
                element: name,
            });
        }
        Ok(first)
    }

    fn req(&self, parent: &'static str, name: &'static str) -> Result<&'a Element, CapError> {
        self.opt(parent, name)?.ok_or(CapError::MissingElement {
            parent,
            element: name,
        })
    }

    /// Trimmed text of a required element; empty is refused.
    fn req_text(&self, parent: &'static str, name: &'static str) -> Result<&'a str, CapError> {
        let t = self.req(parent, name)?.text.trim();
        if t.is_empty() {
            return Err(CapError::EmptyElement { element: name });
        }
        Ok(t)
    }

    fn opt_text(
        &self,
        parent: &'static str,
        name: &'static str,
    ) -> Result<Option<&'a str>, CapError> {
        Ok(self.opt(parent, name)?.map(|e| e.text.trim()))
    }
}

fn enum_value<'v>(
    element: &'static str,
    value: &'v str,
    allowed: &[&str],
) -> Result<&'v str, CapError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(CapError::InvalidValue {
            element,
            value: truncated(value, ECHO),
        })
    }
}

fn check_identifier(element: &'static str, value: &str) -> Result<(), CapError> {
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&'))
    {
        return Err(CapError::InvalidIdentifier {
            element,
            value: truncated(value, ECHO),
        });
    }
    Ok(())
}

/// CAP dateTime. 1.2: exactly `YYYY-MM-DDThh:mm:ss±hh:mm`. 1.1: an
/// `xs:dateTime` that carries a zone (`Z` or `±hh:mm`, fractions allowed).
fn parse_datetime(
    element: &'static str,
    value: &str,
    version: CapVersion,
) -> Result<DateTime<Utc>, CapError> {
    let err = || CapError::InvalidDateTime {
        element,
        value: truncated(value, ECHO),
    };
    let b = value.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let head_ok = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head_ok {
        return Err(err());
    }
    let mut rest = &b[19..];
    if version == CapVersion::V1_1 && rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(err());
        }
        rest = &rest[1 + n..];
    }
    let zone_ok = match rest {
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        [b'Z'] => version == CapVersion::V1_1,
        _ => false,
    };
    if !zone_ok {
        return Err(err());
    }
    DateTime::parse_from_rfc3339(value)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| err())
}

const ALERT_CHILDREN: &[&str] = &[
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
];
const INFO_CHILDREN: &[&str] = &[
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "eventCode",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
    "parameter",
    "resource",
    "area",
];
const AREA_CHILDREN: &[&str] = &[
    "areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling",
];

const STATUS: &[&str] = &["Actual", "Exercise", "System", "Test", "Draft"];
const MSG_TYPE: &[&str] = &["Alert", "Update", "Cancel", "Ack", "Error"];
const SCOPE: &[&str] = &["Public", "Restricted", "Private"];
const CATEGORY: &[&str] = &[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
];
const RESPONSE_11: &[&str] = &[
    "Shelter", "Evacuate", "Prepare", "Execute", "Monitor", "Assess", "None",
];
const RESPONSE_12: &[&str] = &[
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None",
];
const URGENCY: &[&str] = &["Immediate", "Expected", "Future", "Past", "Unknown"];
const SEVERITY: &[&str] = &["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
const CERTAINTY: &[&str] = &["Observed", "Likely", "Possible", "Unlikely", "Unknown"];

struct Alert<'a> {
    version: CapVersion,
    ns: &'a str,
    sender: &'a str,
    identifier: &'a str,
    sent: DateTime<Utc>,
    status: &'a str,
    msg_type: &'a str,
    note: Option<&'a str>,
    references: Option<Vec<CapRef>>,
    infos: Vec<&'a Element>,
    signed: bool,
    expires: Option<DateTime<Utc>>,
}

fn read_alert<'a>(
    root: &'a Element,
    ns: &'a str,
    version: CapVersion,
) -> Result<Alert<'a>, CapError> {
    const P: &str = "alert";
    let ch = children(root, P, ns, ALERT_CHILDREN)?;

    let identifier = ch.req_text(P, "identifier")?;
    check_identifier("identifier", identifier)?;
    let sender = ch.req_text(P, "sender")?;
    check_identifier("sender", sender)?;
    let sent = parse_datetime("sent", ch.req_text(P, "sent")?, version)?;
    let status = enum_value("status", ch.req(P, "status")?.text.trim(), STATUS)?;
    let msg_type = enum_value("msgType", ch.req(P, "msgType")?.text.trim(), MSG_TYPE)?;
    ch.opt(P, "source")?;
    let scope = enum_value("scope", ch.req(P, "scope")?.text.trim(), SCOPE)?;
    let restriction = ch.opt_text(P, "restriction")?;
    let addresses = ch.opt_text(P, "addresses")?;
    if scope == "Restricted" && restriction.is_none_or(str::is_empty) {
        return Err(CapError::MissingElement {
            parent: P,
            element: "restriction",
        });
    }
    if scope == "Private" && addresses.is_none_or(str::is_empty) {
        return Err(CapError::MissingElement {
            parent: P,
            element: "addresses",
        });
    }
    let note = ch.opt_text(P, "note")?.filter(|n| !n.is_empty());
    let references_raw = ch.opt(P, "references")?;
    ch.opt(P, "incidents")?;

    let infos: Vec<&Element> = ch.all("info").collect();
    let mut expires: Option<DateTime<Utc>> = None;
    let mut every_info_expires = !infos.is_empty();
    for info in &infos {
        match check_info(info, ns, version)? {
            Some(t) => expires = Some(expires.map_or(t, |e| e.max(t))),
            None => every_info_expires = false,
        }
    }
    let expires = expires.filter(|_| every_info_expires);

    let references = match references_raw {
        None => None,
        Some(r) => Some(parse_references(&r.text, version)?),
    };

    let signed = ch
        .foreign
        .iter()
        .any(|e| e.name == "Signature" && matches!(e.ns.as_deref(), Some(DSIG_NS) | None));

    Ok(Alert {
        version,
        ns,
        sender,
        identifier,
        sent,
        status,
        msg_type,
        note,
        references,
        infos,
        signed,
        expires,
    })
}

/// Validates one `info` block; returns its `expires`, if any.
fn check_info(
    info: &Element,
    ns: &str,
    version: CapVersion,
) -> Result<Option<DateTime<Utc>>, CapError> {
    const P: &str = "info";
    let ch = children(info, P, ns, INFO_CHILDREN)?;
    ch.opt(P, "language")?;
    let mut categories = ch.all("category").peekable();
    if categories.peek().is_none() {
        return Err(CapError::MissingElement {
            parent: P,
            element: "category",
        });
    }
    for c in categories {
        enum_value("category", c.text.trim(), CATEGORY)?;
    }
    ch.req_text(P, "event")?;
    let responses = if version == CapVersion::V1_2 {
        RESPONSE_12
    } else {
        RESPONSE_11
    };
    for r in ch.all("responseType") {
        enum_value("responseType", r.text.trim(), responses)?;
    }
    enum_value("urgency", ch.req(P, "urgency")?.text.trim(), URGENCY)?;
    enum_value("severity", ch.req(P, "severity")?.text.trim(), SEVERITY)?;
    enum_value("certainty", ch.req(P, "certainty")?.text.trim(), CERTAINTY)?;
    for name in [
        "audience",
        "senderName",
        "headline",
        "description",
        "instruction",
        "web",
        "contact",
    ] {
        ch.opt(P, name)?;
    }
    let mut expires = None;
    for name in ["effective", "onset", "expires"] {
        if let Some(t) = ch.opt_text(P, name)? {
            let t = parse_datetime(name, t, version)?;
            if name == "expires" {
                expires = Some(t);
            }
        }
    }
    for area in ch.all("area") {
        let ach = children(area, "area", ns, AREA_CHILDREN)?;
        ach.req_text("area", "areaDesc")?;
        ach.opt("area", "altitude")?;
        ach.opt("area", "ceiling")?;
    }
    Ok(expires)
}

fn parse_references(raw: &str, version: CapVersion) -> Result<Vec<CapRef>, CapError> {
    let mut refs = Vec::new();
    for entry in raw.split_whitespace() {
        let bad = |reason| CapError::InvalidReference {
            value: truncated(entry, ECHO),
            reason,
        };
        let mut parts = entry.split(',');
        let (Some(sender), Some(identifier), Some(sent), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected exactly three comma-separated parts"));
        };
        if sender.is_empty() || identifier.is_empty() {
            return Err(bad("empty sender or identifier"));
        }
        if sender.contains(['<', '&']) || identifier.contains(['<', '&']) {
            return Err(bad("forbidden character"));
        }
        let sent = parse_datetime("references", sent, version).map_err(|_| bad("bad sent time"))?;
        refs.push(CapRef {
            sender: sender.to_owned(),
            identifier: identifier.to_owned(),
            sent,
        });
    }
    if refs.is_empty() {
        return Err(CapError::EmptyReferences);
    }
    Ok(refs)
}

// ---------------------------------------------------------------------------
// Turning a valid alert into a message
// ---------------------------------------------------------------------------

fn eq_ci(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

impl<'a> Alert<'a> {
    fn into_message(self, mapping: &CapMapping) -> Result<ParsedCap, CapError> {
        match self.status {
            "System" => {
                return Err(CapError::NotAnIncident {
                    reason: "status System".into(),
                });
            }
            "Draft" => {
                return Err(CapError::NotAnIncident {
                    reason: "status Draft".into(),
                });
            }
            _ => {}
        }
        let msg_type: &'static str = match self.msg_type {
            "Alert" => "Alert",
            "Update" => "Update",
            "Cancel" => "Cancel",
            other => {
                return Err(CapError::NotAnIncident {
                    reason: format!("msgType {}", truncated(other, ECHO)),
                });
            }
        };
        if self.identifier.len() > limits::EXTERNAL_ID_MAX {
            return Err(CapError::TooLong {
                element: "identifier",
                max: limits::EXTERNAL_ID_MAX,
            });
        }
        let references = match (&self.references, msg_type) {
            (None, "Update" | "Cancel") => return Err(CapError::MissingReferences { msg_type }),
            (r, _) => r.clone().unwrap_or_default(),
        };
        let key = format!("{}|{}", self.sender, self.identifier);
        let test = matches!(self.status, "Test" | "Exercise");
        let message = match msg_type {
            "Cancel" => CapMessage::Cancel {
                references,
                reason: self.note.map(|n| truncated(n, limits::NOTES_MAX)),
            },
            "Update" => CapMessage::Update {
                references,
                draft: self.draft(&key, test, mapping)?,
            },
            _ => CapMessage::Alert(self.draft(&key, test, mapping)?),
        };
        Ok(ParsedCap {
            version: self.version,
            key,
            sent: self.sent,
            test,
            signed: self.signed,
            expires: self.expires,
            message,
        })
    }

    fn matches(&self, info: &Element, mapping: &CapMapping) -> bool {
        let in_ns = |e: &&Element| e.ns.as_deref() == Some(self.ns);
        fn child_text<'e>(ns: &str, e: &'e Element, name: &str) -> Option<&'e str> {
            e.children
                .iter()
                .find(|c| c.ns.as_deref() == Some(ns) && c.name == name)
                .map(|c| c.text.as_str())
        }
        let child_text = |e, name| child_text(self.ns, e, name);
        let event = child_text(info, "event").unwrap_or_default();
        let by_event = mapping.events.iter().any(|m| eq_ci(m, event));
        let by_code = info
            .children
            .iter()
            .filter(in_ns)
            .filter(|c| c.name == "eventCode")
            .any(|code| {
                let (Some(name), Some(value)) =
                    (child_text(code, "valueName"), child_text(code, "value"))
                else {
                    return false;
                };
                mapping
                    .event_codes
                    .iter()
                    .any(|(n, v)| eq_ci(n, name) && eq_ci(v, value))
            });
        let category_ok = mapping.categories.is_empty()
            || info
                .children
                .iter()
                .filter(in_ns)
                .filter(|c| c.name == "category")
                .any(|c| mapping.categories.iter().any(|m| eq_ci(m, &c.text)));
        (by_event || by_code) && category_ok
    }

    fn draft(
        &self,
        key: &str,
        test: bool,
        mapping: &CapMapping,
    ) -> Result<IncidentDraft, CapError> {
        let Some(first) = self.infos.first() else {
            return Err(CapError::NoInfo);
        };
        let Some(info) = self.infos.iter().find(|i| self.matches(i, mapping)) else {
            let event = first
                .children
                .iter()
                .find(|c| c.ns.as_deref() == Some(self.ns) && c.name == "event")
                .map(|e| truncated(e.text.trim(), ECHO));
            return Err(CapError::NotCardiacArrest { event });
        };
        // Already validated by check_info; unwrap-free lookups.
        let ch = children(info, "info", self.ns, INFO_CHILDREN)?;
        let (location, area_desc) = self.location(&ch)?;
        let mut address = squash_ws(area_desc);
        truncate_in_place(&mut address, limits::ADDRESS_MAX);

        let description = ch.opt_text("info", "description")?.unwrap_or_default();
        let instruction = ch.opt_text("info", "instruction")?.unwrap_or_default();
        let notes = join_bounded(
            [self.note.unwrap_or_default(), description, instruction],
            limits::NOTES_MAX,
        );

        let mut incident = NewIncident {
            external_id: self.identifier.to_owned(),
            location,
            address,
            reported_at: self.sent,
            location_type: LocationType::Unknown,
            ems_eta_seconds: None,
            exclusions: Vec::new(),
            notes,
            test,
        };
        self.apply_parameters(&ch, &mut incident)?;
        Ok(IncidentDraft {
            key: key.to_owned(),
            incident,
            updated_at: self.sent,
        })
    }

    fn location(&self, info: &Children<'a>) -> Result<(LatLon, &'a str), CapError> {
        let areas: Vec<Children<'a>> = info
            .all("area")
            .map(|a| children(a, "area", self.ns, AREA_CHILDREN))
            .collect::<Result<_, _>>()?;
        for area in &areas {
            if let Some(circle) = area.all("circle").next() {
                let p = parse_circle(circle.text.trim())?;
                return Ok((p, area.req_text("area", "areaDesc")?));
            }
        }
        for area in &areas {
            if let Some(polygon) = area.all("polygon").next() {
                let p = parse_polygon(polygon.text.trim())?;
                return Ok((p, area.req_text("area", "areaDesc")?));
            }
        }
        Err(CapError::NoLocation)
    }

    fn apply_parameters(
        &self,
        info: &Children<'a>,
        incident: &mut NewIncident,
    ) -> Result<(), CapError> {
        for p in info.all("parameter") {
            let text = |name: &str| {
                p.children
                    .iter()
                    .find(|c| c.ns.as_deref() == Some(self.ns) && c.name == name)
                    .map(|c| c.text.trim())
            };
            let (Some(name), Some(value)) = (text("valueName"), text("value")) else {
                continue;
            };
            let bad = |name, reason| CapError::InvalidParameter {
                name,
                value: truncated(value, ECHO),
                reason,
            };
            if name.eq_ignore_ascii_case("EMS_ETA_SECONDS") {
                let eta: u32 = value
                    .parse()
                    .map_err(|_| bad("EMS_ETA_SECONDS", "not a whole number of seconds"))?;
                if eta > limits::EMS_ETA_MAX_S {
                    return Err(bad("EMS_ETA_SECONDS", "more than four hours"));
                }
                incident.ems_eta_seconds = Some(eta);
            } else if name.eq_ignore_ascii_case("LOCATION_TYPE") {
                incident.location_type = parse_location_type(value)
                    .ok_or_else(|| bad("LOCATION_TYPE", "unknown location type"))?;
            } else if name.eq_ignore_ascii_case("EXCLUSION") {
                let ex =
                    parse_exclusion(value).ok_or_else(|| bad("EXCLUSION", "unknown exclusion"))?;
                if !incident.exclusions.contains(&ex) {
                    if incident.exclusions.len() >= limits::EXCLUSIONS_MAX {
                        return Err(bad("EXCLUSION", "too many exclusions"));
                    }
                    incident.exclusions.push(ex);
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn parse_location_type(value: &str) -> Option<LocationType> {
    Some(match value.trim().to_ascii_lowercase().as_str() {
        "residence" => LocationType::Residence,
        "public" => LocationType::Public,
        "care_facility" => LocationType::CareFacility,
        "unknown" => LocationType::Unknown,
        _ => return None,
    })
}

pub(crate) fn parse_exclusion(value: &str) -> Option<Exclusion> {
    Some(match value.trim().to_ascii_lowercase().as_str() {
        "patient_under_8" => Exclusion::PatientUnder8,
        "trauma" => Exclusion::Trauma,
        "unsafe_scene" => Exclusion::UnsafeScene,
        "care_facility" => Exclusion::CareFacility,
        "do_not_resuscitate" => Exclusion::DoNotResuscitate,
        _ => return None,
    })
}

mod area;
use area::{parse_circle, parse_polygon};

#[cfg(test)]
mod tests;
