//! firstlink's AED readiness monitoring core: plain data and pure functions,
//! no I/O, no clock, no async.
//!
//! - [`signal`]: what a unit reports ([`Reading`], [`Signal`]);
//! - [`key`]: per-unit secrets derived from a master key ([`UnitKey`]);
//! - [`codec`]: the unit topic layout and the JSON and compact binary
//!   payloads ([`decode_json`], [`decode_binary`], …);
//! - [`lorawan`]: The Things Stack v3 uplinks and the supported LoRaWAN
//!   cabinet sensors' payloads;
//! - [`rules`]: the readiness rules ([`UnitState`]).
//!
//! Every decoder takes untrusted bytes and returns an error rather than
//! panicking. The wire formats are specified in this crate's README.md.

pub mod codec;
pub mod key;
pub mod lorawan;
pub mod rules;
pub mod signal;

pub use codec::{
    DecodeError, MAX_PAYLOAD, UNIT_TOPIC_FILTER, UnitTopic, decode_binary, decode_json,
    encode_binary, encode_json, parse_unit_topic,
};
pub use key::UnitKey;
pub use lorawan::{
    LorawanCodec, TTS_TOPIC_FILTER, TtsUplink, decode_lorawan, decode_lorawan_raw, parse_tts_uplink,
};
pub use rules::{
    Cause, LastValues, ModelRules, Rejected, Severity, Transition, UnitCtx, UnitEvent, UnitState,
    readiness_of,
};
pub use signal::{Reading, Signal, SignalKind, StatusLight};

/// Re-exported so callers need not depend on the domain crate for these.
pub use firstlink_domain::aed::Readiness;
pub use firstlink_domain::geo::LatLon;
