//! firstlink-cad: pure, hardened parsers for what dispatch centres (CAD
//! systems) send, turned into firstlink incident drafts.
//!
//! - [`parse_cap`]: OASIS Common Alerting Protocol 1.2 and 1.1 (XML).
//! - [`parse_eido`] / [`parse_eido_with`]: NENA-STA-021 Emergency Incident
//!   Data Objects (JSON).
//! - [`verify_cap_signature`]: XML-DSig verification of a CAP alert's
//!   enveloped signature against pinned certificates ([`dsig`]).
//!
//! No I/O: nothing here opens a socket or a file, resolves a URL, an entity
//! or a DTD. Every refusal is a specific error value; no input makes these
//! functions panic (checked by property tests and fuzzing, see `FUZZING.md`).

use chrono::{DateTime, Utc};
use firstlink_domain::incident::NewIncident;

pub mod cap;
pub mod dsig;
pub mod eido;
mod geom;
mod text;
pub mod xml;

pub use cap::{
    CAP_MAX_BYTES, CapError, CapMapping, CapMessage, CapRef, CapVersion, ParsedCap, parse_cap,
};
pub use dsig::{
    C14nMethod, CertError, DsigError, SignatureMethod, TrustStore, TrustedCert, VerifiedSignature,
    verify_cap_signature,
};
pub use eido::{EIDO_MAX_BYTES, EidoError, EidoMapping, EidoMessage, parse_eido, parse_eido_with};
pub use xml::XmlError;

/// A validated incident as one message describes it, with the key under which
/// it must be stored idempotently.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDraft {
    /// Idempotency key: `"<sender>|<identifier>"` for CAP,
    /// `"eido|<incident id>"` for EIDO.
    pub key: String,
    pub incident: NewIncident,
    /// When the source last changed this information (CAP `sent`, EIDO
    /// `lastUpdateTimeStamp`): lets the caller drop out-of-order updates.
    pub updated_at: DateTime<Utc>,
}
