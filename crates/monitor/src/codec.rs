//! Payload codecs for firstlink's own monitoring units: the MQTT topic
//! layout, the JSON form and the compact binary form. The byte-level
//! specification is in the crate's README.md.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use firstlink_domain::geo::LatLon;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::key::UnitKey;
use crate::signal::{Reading, Signal, StatusLight};

/// Largest unit payload accepted (either form), in bytes.
pub const MAX_PAYLOAD: usize = 2048;

/// Lowest and highest plausible temperature, °C; outside is `OutOfRange`.
pub const TEMP_MIN_C: f32 = -60.0;
pub const TEMP_MAX_C: f32 = 100.0;

/// Longest `Malformed` message (the rest is cut; it may quote device input).
const MAX_DETAIL: usize = 160;

/// Why a payload or topic was refused. [`DecodeError::code`] is stable.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("payload too large ({len} bytes)")]
    TooLarge { len: usize },
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// Binary form: fewer bytes than the header and presence flags require.
    #[error("truncated payload: {expected} bytes expected, {got} received")]
    Truncated { expected: usize, got: usize },
    /// Binary form: more bytes than the header and presence flags require.
    #[error("trailing bytes: {expected} bytes expected, {got} received")]
    TrailingBytes { expected: usize, got: usize },
    #[error("MAC does not verify")]
    BadMac,
    #[error("MAC missing")]
    MissingMac,
    #[error("unknown payload version {0}")]
    UnknownVersion(u8),
    /// A value outside its range or a reserved code; the field's wire name.
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    #[error("unknown fPort {0}")]
    UnknownFPort(u8),
    #[error("identity in the topic differs from the payload's")]
    IdentityMismatch,
    #[error("topic does not follow the layout")]
    BadTopic,
}

impl DecodeError {
    /// Stable snake_case code, for metrics labels and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
            DecodeError::BadMac => "bad_mac",
            DecodeError::MissingMac => "missing_mac",
            DecodeError::UnknownVersion(_) => "unknown_version",
            DecodeError::OutOfRange(_) => "out_of_range",
            DecodeError::UnknownFPort(_) => "unknown_fport",
            DecodeError::IdentityMismatch => "identity_mismatch",
            DecodeError::BadTopic => "bad_topic",
        }
    }

    /// Every code [`DecodeError::code`] can return (for pre-registering metrics).
    pub const CODES: [&'static str; 11] = [
        "too_large",
        "malformed",
        "truncated",
        "trailing_bytes",
        "bad_mac",
        "missing_mac",
        "unknown_version",
        "out_of_range",
        "unknown_fport",
        "identity_mismatch",
        "bad_topic",
    ];

    /// `Malformed` with the detail cut to a bounded length.
    pub(crate) fn malformed(detail: impl fmt::Display) -> DecodeError {
        let mut s = detail.to_string();
        if s.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        DecodeError::Malformed(s)
    }
}

// ---------------------------------------------------------------- topics

/// Prefix of every unit topic.
pub const UNIT_TOPIC_PREFIX: &str = "firstlink/v1/units/";
/// Subscription filter matching every unit topic.
pub const UNIT_TOPIC_FILTER: &str = "firstlink/v1/units/+/+";

/// A unit topic: `firstlink/v1/units/{unit_uuid}/json` or `.../bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitTopic {
    Json(Uuid),
    Binary(Uuid),
}

impl UnitTopic {
    pub fn unit(self) -> Uuid {
        match self {
            UnitTopic::Json(u) | UnitTopic::Binary(u) => u,
        }
    }

    /// The topic string (the unit id lower-case and hyphenated).
    pub fn to_topic(self) -> String {
        match self {
            UnitTopic::Json(u) => format!("{UNIT_TOPIC_PREFIX}{}/json", u.hyphenated()),
            UnitTopic::Binary(u) => format!("{UNIT_TOPIC_PREFIX}{}/bin", u.hyphenated()),
        }
    }
}

impl fmt::Display for UnitTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_topic())
    }
}

/// Parses a unit topic. The unit id must be in the canonical lower-case
/// hyphenated form (36 characters), so every unit has exactly one topic
/// string per form (broker ACLs can compare strings).
pub fn parse_unit_topic(topic: &str) -> Result<UnitTopic, DecodeError> {
    let rest = topic
        .strip_prefix(UNIT_TOPIC_PREFIX)
        .ok_or(DecodeError::BadTopic)?;
    let (id, form) = rest.split_once('/').ok_or(DecodeError::BadTopic)?;
    if id.len() != 36 {
        return Err(DecodeError::BadTopic);
    }
    let unit = Uuid::try_parse(id).map_err(|_| DecodeError::BadTopic)?;
    let mut canonical = [0u8; 36];
    if unit.hyphenated().encode_lower(&mut canonical).as_bytes() != id.as_bytes() {
        return Err(DecodeError::BadTopic);
    }
    match form {
        "json" => Ok(UnitTopic::Json(unit)),
        "bin" => Ok(UnitTopic::Binary(unit)),
        _ => Err(DecodeError::BadTopic),
    }
}

// ---------------------------------------------------------------- JSON

/// Shortest JSON MAC accepted, in bytes (the encoder sends 16).
pub const JSON_MAC_LEN: usize = 16;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    t: &'a RawValue,
    #[serde(default)]
    mac: Option<String>,
}

/// `ts`: integer unix seconds or an RFC 3339 string.
struct WireTs(DateTime<Utc>);

impl<'de> Deserialize<'de> for WireTs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireTs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("integer unix seconds or an RFC 3339 date-time string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireTs, E> {
                DateTime::from_timestamp(v, 0)
                    .map(WireTs)
                    .ok_or_else(|| E::custom("ts out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireTs, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("ts out of range"))?;
                self.visit_i64(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireTs, E> {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| WireTs(t.with_timezone(&Utc)))
                    .map_err(|e| E::custom(format_args!("ts: {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Serialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum WireDoor {
    Open,
    Closed,
}

#[derive(Deserialize, Serialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum WireAed {
    Present,
    Removed,
}

#[derive(Deserialize)]
struct WireBody {
    ts: WireTs,
    seq: Option<u32>,
    light: Option<StatusLight>,
    temp_c: Option<f64>,
    beeps: Option<bool>,
    pos: Option<(f64, f64)>,
    batt_pct: Option<i64>,
    door: Option<WireDoor>,
    aed: Option<WireAed>,
    tamper: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireTsOut {
    Secs(i64),
    Text(String),
}

#[derive(Serialize)]
struct WireBodyOut {
    ts: WireTsOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    light: Option<StatusLight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temp_c: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    beeps: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pos: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batt_pct: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    door: Option<WireDoor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aed: Option<WireAed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tamper: Option<bool>,
}

/// Validates a temperature, °C (finite, −60..=100).
pub(crate) fn check_temp(t: f64, field: &'static str) -> Result<f32, DecodeError> {
    if t.is_finite() && (f64::from(TEMP_MIN_C)..=f64::from(TEMP_MAX_C)).contains(&t) {
        Ok(t as f32)
    } else {
        Err(DecodeError::OutOfRange(field))
    }
}

/// Decodes the JSON form `{"t": {...}, "mac": "..."}` (see README.md).
///
/// A present `mac` is always verified (over the exact bytes of the `t`
/// value as received) before `t` is interpreted; a missing (or `null`) mac
/// is `MissingMac` when `require_mac`, else the reading is accepted
/// unauthenticated.
pub fn decode_json(
    payload: &[u8],
    key: &UnitKey,
    require_mac: bool,
) -> Result<Reading, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge { len: payload.len() });
    }
    let env: Envelope<'_> = serde_json::from_slice(payload).map_err(DecodeError::malformed)?;
    let t = env.t.get();
    match &env.mac {
        Some(mac) => {
            let tag = URL_SAFE_NO_PAD
                .decode(mac.as_bytes())
                .map_err(|_| DecodeError::BadMac)?;
            if tag.len() < JSON_MAC_LEN || !key.verify(t.as_bytes(), &tag) {
                return Err(DecodeError::BadMac);
            }
        }
        None if require_mac => return Err(DecodeError::MissingMac),
        None => {}
    }
    let body: WireBody = serde_json::from_str(t).map_err(DecodeError::malformed)?;
    let mut signals = Vec::new();
    if let Some(l) = body.light {
        signals.push(Signal::StatusLight(l));
    }
    if let Some(t) = body.temp_c {
        signals.push(Signal::TemperatureC(check_temp(t, "temp_c")?));
    }
    if let Some(b) = body.beeps {
        signals.push(Signal::Beeps(b));
    }
    if let Some((lat, lon)) = body.pos {
        let p = LatLon::new(lat, lon).map_err(|_| DecodeError::OutOfRange("pos"))?;
        signals.push(Signal::Position(p));
    }
    if let Some(b) = body.batt_pct {
        let b = u8::try_from(b)
            .ok()
            .filter(|b| *b <= 100)
            .ok_or(DecodeError::OutOfRange("batt_pct"))?;
        signals.push(Signal::UnitBatteryPct(b));
    }
    if let Some(d) = body.door {
        signals.push(Signal::DoorOpen(matches!(d, WireDoor::Open)));
    }
    if let Some(a) = body.aed {
        signals.push(Signal::AedPresent(matches!(a, WireAed::Present)));
    }
    if let Some(t) = body.tamper {
        signals.push(Signal::Tamper(t));
    }
    Ok(Reading {
        at: body.ts.0,
        seq: body.seq,
        signals,
    })
}

/// The `t` object of a reading, exactly as [`encode_json`] sends it.
pub fn encode_json_body(reading: &Reading) -> String {
    let ts = if reading.at.timestamp_subsec_nanos() == 0 {
        WireTsOut::Secs(reading.at.timestamp())
    } else {
        WireTsOut::Text(reading.at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    };
    let mut body = WireBodyOut {
        ts,
        seq: reading.seq,
        light: None,
        temp_c: None,
        beeps: None,
        pos: None,
        batt_pct: None,
        door: None,
        aed: None,
        tamper: None,
    };
    for s in reading.canonical_signals() {
        match s {
            Signal::StatusLight(l) => body.light = Some(l),
            Signal::TemperatureC(t) => body.temp_c = Some(t),
            Signal::Beeps(b) => body.beeps = Some(b),
            Signal::Position(p) => body.pos = Some((p.lat, p.lon)),
            Signal::UnitBatteryPct(b) => body.batt_pct = Some(b),
            Signal::DoorOpen(o) => {
                body.door = Some(if o { WireDoor::Open } else { WireDoor::Closed })
            }
            Signal::AedPresent(p) => {
                body.aed = Some(if p {
                    WireAed::Present
                } else {
                    WireAed::Removed
                })
            }
            Signal::Tamper(t) => body.tamper = Some(t),
        }
    }
    // Serialising this struct cannot fail (string keys, no maps); a
    // non-finite float becomes `null`.
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
}

/// Encodes the JSON form, always with a 16-byte MAC. At most one signal per
/// kind is carried (the last of each kind).
pub fn encode_json(reading: &Reading, key: &UnitKey) -> Vec<u8> {
    let t = encode_json_body(reading);
    let tag = key.mac(t.as_bytes());
    let mac = URL_SAFE_NO_PAD.encode(&tag[..JSON_MAC_LEN]);
    let mut out = Vec::with_capacity(t.len() + mac.len() + 16);
    out.extend_from_slice(b"{\"t\":");
    out.extend_from_slice(t.as_bytes());
    out.extend_from_slice(b",\"mac\":\"");
    out.extend_from_slice(mac.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

// ---------------------------------------------------------------- binary

/// Version byte of the binary form.
pub const BINARY_VERSION: u8 = 1;
/// Header: version, seq, ts, presence flags.
pub const BINARY_HEADER_LEN: usize = 10;
/// Truncated HMAC-SHA256 at the end of the binary form.
pub const BINARY_MAC_LEN: usize = 8;
/// Bytes of each field, by presence bit (0..8).
const FIELD_LEN: [usize; 8] = [1, 2, 1, 8, 1, 1, 1, 1];

/// Length of a binary payload with these presence flags, MAC included.
pub fn binary_len(flags: u8) -> usize {
    let fields: usize = (0..8)
        .filter(|b| flags & (1 << b) != 0)
        .map(|b| FIELD_LEN[b])
        .sum();
    BINARY_HEADER_LEN + fields + BINARY_MAC_LEN
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated {
                expected: N,
                got: self.bytes.len(),
            })?;
        self.bytes = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::OutOfRange(field)),
        }
    }
}

/// Decodes the binary form (see README.md). Checked in this order: size,
/// version, length implied by the presence flags (truncation, trailing
/// bytes), MAC, then each value (reserved codes and ranges).
pub fn decode_binary(payload: &[u8], key: &UnitKey) -> Result<Reading, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge { len: payload.len() });
    }
    let got = payload.len();
    let Some(&version) = payload.first() else {
        return Err(DecodeError::Truncated {
            expected: BINARY_HEADER_LEN + BINARY_MAC_LEN,
            got,
        });
    };
    if version != BINARY_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let Some(&flags) = payload.get(BINARY_HEADER_LEN - 1) else {
        return Err(DecodeError::Truncated {
            expected: BINARY_HEADER_LEN + BINARY_MAC_LEN,
            got,
        });
    };
    let expected = binary_len(flags);
    if got < expected {
        return Err(DecodeError::Truncated { expected, got });
    }
    if got > expected {
        return Err(DecodeError::TrailingBytes { expected, got });
    }
    let (body, tag) = payload.split_at(expected - BINARY_MAC_LEN);
    if !key.verify(body, tag) {
        return Err(DecodeError::BadMac);
    }

    let mut c = Cursor { bytes: body };
    let _version = c.u8()?;
    let seq = u32::from_be_bytes(c.take::<4>()?);
    let ts = u32::from_be_bytes(c.take::<4>()?);
    let _flags = c.u8()?;
    let at = DateTime::from_timestamp(i64::from(ts), 0).ok_or(DecodeError::OutOfRange("ts"))?;
    let mut signals = Vec::with_capacity(flags.count_ones() as usize);
    for bit in 0..8u8 {
        if flags & (1 << bit) == 0 {
            continue;
        }
        let s = match bit {
            0 => Signal::StatusLight(match c.u8()? {
                0 => StatusLight::Ok,
                1 => StatusLight::Fault,
                2 => StatusLight::Off,
                3 => StatusLight::Unknown,
                _ => return Err(DecodeError::OutOfRange("light")),
            }),
            1 => {
                let tenths = i16::from_be_bytes(c.take::<2>()?);
                Signal::TemperatureC(check_temp(f64::from(tenths) / 10.0, "temp")?)
            }
            2 => Signal::Beeps(c.flag("beeps")?),
            3 => {
                let lat = i32::from_be_bytes(c.take::<4>()?);
                let lon = i32::from_be_bytes(c.take::<4>()?);
                let p = LatLon::new(f64::from(lat) / 1e7, f64::from(lon) / 1e7)
                    .map_err(|_| DecodeError::OutOfRange("position"))?;
                Signal::Position(p)
            }
            4 => match c.u8()? {
                b @ 0..=100 => Signal::UnitBatteryPct(b),
                _ => return Err(DecodeError::OutOfRange("battery")),
            },
            5 => Signal::DoorOpen(c.flag("door")?),
            6 => Signal::AedPresent(c.flag("aed")?),
            _ => Signal::Tamper(c.flag("tamper")?),
        };
        signals.push(s);
    }
    Ok(Reading {
        at,
        seq: Some(seq),
        signals,
    })
}

/// Encodes the binary form. `seq` `None` is sent as 0; the timestamp is
/// whole seconds, clamped to the u32 range; the temperature is rounded to
/// 0.1 °C and the position to 1e-7°. At most one signal per kind (the last).
pub fn encode_binary(reading: &Reading, key: &UnitKey) -> Vec<u8> {
    let signals = reading.canonical_signals();
    let mut flags = 0u8;
    for s in &signals {
        flags |= 1 << s.kind().index();
    }
    let ts = u32::try_from(reading.at.timestamp().max(0)).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(binary_len(flags));
    out.push(BINARY_VERSION);
    out.extend_from_slice(&reading.seq.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.push(flags);
    for s in &signals {
        match *s {
            Signal::StatusLight(l) => out.push(match l {
                StatusLight::Ok => 0,
                StatusLight::Fault => 1,
                StatusLight::Off => 2,
                StatusLight::Unknown => 3,
            }),
            // `as` saturates (NaN → 0): never panics.
            Signal::TemperatureC(t) => {
                out.extend_from_slice(&((t * 10.0).round() as i16).to_be_bytes())
            }
            Signal::Beeps(b) => out.push(u8::from(b)),
            Signal::Position(p) => {
                out.extend_from_slice(&((p.lat * 1e7).round() as i32).to_be_bytes());
                out.extend_from_slice(&((p.lon * 1e7).round() as i32).to_be_bytes());
            }
            Signal::UnitBatteryPct(b) => out.push(b),
            Signal::DoorOpen(o) => out.push(u8::from(o)),
            Signal::AedPresent(p) => out.push(u8::from(p)),
            Signal::Tamper(t) => out.push(u8::from(t)),
        }
    }
    let tag = key.mac(&out);
    out.extend_from_slice(&tag[..BINARY_MAC_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UnitKey {
        UnitKey::from_bytes([0x11; 32])
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn json_with_mac(t: &str, key: &UnitKey) -> Vec<u8> {
        let mac = URL_SAFE_NO_PAD.encode(&key.mac(t.as_bytes())[..16]);
        format!(r#"{{"t":{t},"mac":"{mac}"}}"#).into_bytes()
    }

    #[test]
    fn topics_parse_and_print() {
        let u = Uuid::parse_str("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap();
        let t = format!("firstlink/v1/units/{u}/json");
        assert_eq!(parse_unit_topic(&t), Ok(UnitTopic::Json(u)));
        assert_eq!(UnitTopic::Json(u).to_topic(), t);
        let b = format!("firstlink/v1/units/{u}/bin");
        assert_eq!(parse_unit_topic(&b), Ok(UnitTopic::Binary(u)));
        assert_eq!(UnitTopic::Binary(u).to_string(), b);
    }

    #[test]
    fn topics_refuse_other_layouts() {
        let u = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
        for t in [
            String::new(),
            "firstlink/v1/units/".to_string(),
            format!("firstlink/v1/units/{u}"),
            format!("firstlink/v1/units/{u}/"),
            format!("firstlink/v1/units/{u}/xml"),
            format!("firstlink/v1/units/{u}/json/extra"),
            format!("firstlink/v2/units/{u}/json"),
            format!("/firstlink/v1/units/{u}/json"),
            format!("firstlink/v1/units/{}/json", u.to_uppercase()),
            format!("firstlink/v1/units/{}/json", u.replace('-', "")),
            format!("firstlink/v1/units/{{{u}}}/json"),
            "firstlink/v1/units/+/json".to_string(),
            "firstlink/v1/units/#".to_string(),
        ] {
            assert_eq!(parse_unit_topic(&t), Err(DecodeError::BadTopic), "{t}");
        }
    }

    #[test]
    fn json_decodes_every_field() {
        let k = key();
        let t = r#"{"ts":1700000000,"seq":7,"light":"fault","temp_c":-3.5,"beeps":true,"pos":[55.6761,12.5683],"batt_pct":80,"door":"open","aed":"removed","tamper":false,"fw":"1.2.3"}"#;
        let r = decode_json(&json_with_mac(t, &k), &k, true).unwrap();
        assert_eq!(r.at, at(1_700_000_000));
        assert_eq!(r.seq, Some(7));
        assert_eq!(
            r.signals,
            vec![
                Signal::StatusLight(StatusLight::Fault),
                Signal::TemperatureC(-3.5),
                Signal::Beeps(true),
                Signal::Position(LatLon::new(55.6761, 12.5683).unwrap()),
                Signal::UnitBatteryPct(80),
                Signal::DoorOpen(true),
                Signal::AedPresent(false),
                Signal::Tamper(false),
            ]
        );
    }

    #[test]
    fn json_accepts_rfc3339_ts_and_heartbeats() {
        let k = key();
        let t = r#"{"ts":"2024-05-02T12:15:30.250+02:00"}"#;
        let r = decode_json(&json_with_mac(t, &k), &k, true).unwrap();
        assert_eq!(
            r.at,
            DateTime::parse_from_rfc3339("2024-05-02T10:15:30.250Z").unwrap()
        );
        assert!(r.signals.is_empty());
        assert_eq!(r.seq, None);
    }

    #[test]
    fn json_mac_covers_the_exact_bytes_of_t() {
        let k = key();
        // Whitespace inside t is part of the MACed bytes; around it is not.
        let t = "{ \"ts\" : 1700000000 ,\n \"light\":\"ok\" }";
        let mac = URL_SAFE_NO_PAD.encode(&k.mac(t.as_bytes())[..16]);
        let p = format!("{{ \"mac\" : \"{mac}\" , \"t\" :  {t}  }}");
        assert!(decode_json(p.as_bytes(), &k, true).is_ok());
        // The same object re-serialised compactly no longer verifies.
        let compact = r#"{"ts":1700000000,"light":"ok"}"#;
        let p = format!(r#"{{"t":{compact},"mac":"{mac}"}}"#);
        assert_eq!(
            decode_json(p.as_bytes(), &k, true),
            Err(DecodeError::BadMac)
        );
    }

    #[test]
    fn json_mac_rules() {
        let k = key();
        let t = r#"{"ts":1700000000,"light":"ok"}"#;
        let unsigned = format!(r#"{{"t":{t}}}"#);
        assert_eq!(
            decode_json(unsigned.as_bytes(), &k, true),
            Err(DecodeError::MissingMac)
        );
        assert!(decode_json(unsigned.as_bytes(), &k, false).is_ok());
        let null_mac = format!(r#"{{"t":{t},"mac":null}}"#);
        assert_eq!(
            decode_json(null_mac.as_bytes(), &k, true),
            Err(DecodeError::MissingMac)
        );
        // A present MAC is verified even when not required.
        let wrong = json_with_mac(t, &UnitKey::from_bytes([0x12; 32]));
        assert_eq!(decode_json(&wrong, &k, false), Err(DecodeError::BadMac));
        // Full-length tag accepted, 8-byte tag refused for JSON, junk refused.
        let full = URL_SAFE_NO_PAD.encode(k.mac(t.as_bytes()));
        let p = format!(r#"{{"t":{t},"mac":"{full}"}}"#);
        assert!(decode_json(p.as_bytes(), &k, true).is_ok());
        let short = URL_SAFE_NO_PAD.encode(&k.mac(t.as_bytes())[..8]);
        let p = format!(r#"{{"t":{t},"mac":"{short}"}}"#);
        assert_eq!(
            decode_json(p.as_bytes(), &k, true),
            Err(DecodeError::BadMac)
        );
        let p = format!(r#"{{"t":{t},"mac":"!!!"}}"#);
        assert_eq!(
            decode_json(p.as_bytes(), &k, false),
            Err(DecodeError::BadMac)
        );
    }

    #[test]
    fn json_refuses_bad_values() {
        let k = key();
        let cases: &[(&str, DecodeError)] = &[
            (
                r#"{"ts":1700000000,"temp_c":100.1}"#,
                DecodeError::OutOfRange("temp_c"),
            ),
            (
                r#"{"ts":1700000000,"temp_c":-60.5}"#,
                DecodeError::OutOfRange("temp_c"),
            ),
            (
                r#"{"ts":1700000000,"pos":[91,0]}"#,
                DecodeError::OutOfRange("pos"),
            ),
            (
                r#"{"ts":1700000000,"pos":[0,180.5]}"#,
                DecodeError::OutOfRange("pos"),
            ),
            (
                r#"{"ts":1700000000,"batt_pct":101}"#,
                DecodeError::OutOfRange("batt_pct"),
            ),
            (
                r#"{"ts":1700000000,"batt_pct":-1}"#,
                DecodeError::OutOfRange("batt_pct"),
            ),
        ];
        for (t, want) in cases {
            assert_eq!(
                &decode_json(&json_with_mac(t, &k), &k, true).unwrap_err(),
                want,
                "{t}"
            );
        }
        for t in [
            r#"{"light":"ok"}"#,
            r#"{"ts":1700000000.5}"#,
            r#"{"ts":"yesterday"}"#,
            r#"{"ts":1700000000,"light":"purple"}"#,
            r#"{"ts":1700000000,"door":"ajar"}"#,
            r#"{"ts":1700000000,"pos":[1]}"#,
            r#"{"ts":1700000000,"seq":-1}"#,
            r#"{"ts":1700000000,"ts":1700000001}"#,
            r#"[1700000000]"#,
            r#""ts""#,
        ] {
            let e = decode_json(&json_with_mac(t, &k), &k, true).unwrap_err();
            assert_eq!(e.code(), "malformed", "{t}: {e:?}");
        }
        assert_eq!(decode_json(b"", &k, false).unwrap_err().code(), "malformed");
        assert_eq!(
            decode_json(b"{\"t\":{\"ts\":1}", &k, false)
                .unwrap_err()
                .code(),
            "malformed"
        );
        assert_eq!(
            decode_json(br#"{"t":{"ts":1},"t":{"ts":2}}"#, &k, false)
                .unwrap_err()
                .code(),
            "malformed"
        );
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert_eq!(
            decode_json(&big, &k, false),
            Err(DecodeError::TooLarge {
                len: MAX_PAYLOAD + 1
            })
        );
    }

    #[test]
    fn malformed_detail_is_bounded() {
        let k = key();
        let long = "x".repeat(1500);
        let t = format!(r#"{{"ts":1700000000,"light":"{long}"}}"#);
        match decode_json(&json_with_mac(&t, &k), &k, true) {
            Err(DecodeError::Malformed(m)) => assert!(m.len() <= MAX_DETAIL + 3, "{}", m.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_encoding_is_compact_and_decodable() {
        let k = key();
        let r = Reading {
            at: at(1_700_000_000),
            seq: Some(3),
            signals: vec![
                Signal::StatusLight(StatusLight::Ok),
                Signal::TemperatureC(21.5),
                Signal::DoorOpen(false),
            ],
        };
        let body = encode_json_body(&r);
        assert_eq!(
            body,
            r#"{"ts":1700000000,"seq":3,"light":"ok","temp_c":21.5,"door":"closed"}"#
        );
        assert_eq!(decode_json(&encode_json(&r, &k), &k, true).unwrap(), r);
    }

    #[test]
    fn binary_known_vector() {
        // seq 7, ts 1700000000, light fault + temp -12.3 + battery 55.
        let k = key();
        let r = Reading {
            at: at(1_700_000_000),
            seq: Some(7),
            signals: vec![
                Signal::StatusLight(StatusLight::Fault),
                Signal::TemperatureC(-12.3),
                Signal::UnitBatteryPct(55),
            ],
        };
        let bytes = encode_binary(&r, &k);
        let head: Vec<u8> = vec![
            0x01,
            0x00,
            0x00,
            0x00,
            0x07,
            0x65,
            0x53,
            0xf1,
            0x00,
            0b0001_0011,
            0x01,
            0xff,
            0x85,
            55,
        ];
        assert_eq!(&bytes[..head.len()], &head[..]);
        assert_eq!(bytes.len(), head.len() + 8);
        assert_eq!(&bytes[head.len()..], &k.mac(&head)[..8]);
        assert_eq!(decode_binary(&bytes, &k).unwrap(), r);
    }

    #[test]
    fn binary_refusals() {
        let k = key();
        let r = Reading {
            at: at(1_700_000_000),
            seq: Some(1),
            signals: vec![Signal::StatusLight(StatusLight::Ok)],
        };
        let good = encode_binary(&r, &k);
        assert_eq!(good.len(), binary_len(1));
        assert_eq!(
            decode_binary(&good, &UnitKey::from_bytes([0; 32])),
            Err(DecodeError::BadMac)
        );
        for n in 0..good.len() {
            let e = decode_binary(&good[..n], &k).unwrap_err();
            assert!(matches!(e, DecodeError::Truncated { .. }), "{n}: {e:?}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            decode_binary(&long, &k),
            Err(DecodeError::TrailingBytes {
                expected: good.len(),
                got: good.len() + 1
            })
        );
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(decode_binary(&v2, &k), Err(DecodeError::UnknownVersion(2)));
        for i in 1..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(decode_binary(&bad, &k).is_err(), "byte {i}");
        }
    }

    /// Builds a binary payload by hand with a valid MAC.
    fn raw_binary(flags: u8, fields: &[u8], k: &UnitKey) -> Vec<u8> {
        let mut v = vec![1, 0, 0, 0, 1, 0x65, 0x53, 0xf1, 0x00, flags];
        v.extend_from_slice(fields);
        let tag = k.mac(&v);
        v.extend_from_slice(&tag[..8]);
        v
    }

    #[test]
    fn binary_refuses_reserved_and_out_of_range_values_even_when_maced() {
        let k = key();
        let cases: &[(u8, &[u8], &str)] = &[
            (0x01, &[7], "light"),
            (0x01, &[4], "light"),
            (0x02, &1001i16.to_be_bytes(), "temp"),
            (0x02, &(-601i16).to_be_bytes(), "temp"),
            (0x04, &[2], "beeps"),
            (0x10, &[101], "battery"),
            (0x20, &[2], "door"),
            (0x40, &[0xff], "aed"),
            (0x80, &[9], "tamper"),
        ];
        for (flags, fields, field) in cases {
            assert_eq!(
                decode_binary(&raw_binary(*flags, fields, &k), &k),
                Err(DecodeError::OutOfRange(field))
            );
        }
        let mut pos = Vec::new();
        pos.extend_from_slice(&900_000_001i32.to_be_bytes());
        pos.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(
            decode_binary(&raw_binary(0x08, &pos, &k), &k),
            Err(DecodeError::OutOfRange("position"))
        );
        let mut pos = Vec::new();
        pos.extend_from_slice(&0i32.to_be_bytes());
        pos.extend_from_slice(&(-1_800_000_001i32).to_be_bytes());
        assert_eq!(
            decode_binary(&raw_binary(0x08, &pos, &k), &k),
            Err(DecodeError::OutOfRange("position"))
        );
        // Boundaries are accepted.
        let ok = raw_binary(0x1a, &[0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0, 0, 100], &k);
        let r = decode_binary(&ok, &k).unwrap();
        assert_eq!(r.signals[0], Signal::TemperatureC(100.0));
        assert_eq!(r.signals[2], Signal::UnitBatteryPct(100));
        let ok = raw_binary(0x02, &(-600i16).to_be_bytes(), &k);
        assert_eq!(
            decode_binary(&ok, &k).unwrap().signals,
            vec![Signal::TemperatureC(-60.0)]
        );
    }

    #[test]
    fn codes_are_listed() {
        let all = [
            DecodeError::TooLarge { len: 1 },
            DecodeError::Malformed(String::new()),
            DecodeError::Truncated {
                expected: 1,
                got: 0,
            },
            DecodeError::TrailingBytes {
                expected: 1,
                got: 2,
            },
            DecodeError::BadMac,
            DecodeError::MissingMac,
            DecodeError::UnknownVersion(9),
            DecodeError::OutOfRange("x"),
            DecodeError::UnknownFPort(1),
            DecodeError::IdentityMismatch,
            DecodeError::BadTopic,
        ];
        let codes: Vec<_> = all.iter().map(DecodeError::code).collect();
        assert_eq!(codes, DecodeError::CODES);
    }
}
