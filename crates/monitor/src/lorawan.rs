//! Uplinks from LoRaWAN cabinet sensors, received through The Things Stack
//! (v3) MQTT integration, and decoders for the supported sensors' payloads.
//! Field names and mappings are documented in the crate's README.md.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::{DecodeError, check_temp};
use crate::signal::Signal;

/// Subscription filter for uplinks of every application the broker
/// credentials can see (`+` also matches `app@tenant`).
pub const TTS_TOPIC_FILTER: &str = "v3/+/devices/+/up";

/// Largest TTS uplink message accepted, in bytes. TTS messages carry
/// gateway metadata and grow with the number of gateways that heard the
/// uplink, so this is larger than [`crate::codec::MAX_PAYLOAD`].
pub const MAX_TTS_PAYLOAD: usize = 64 * 1024;

/// Longest TTS identifier (application, device, tenant).
const MAX_TTS_ID: usize = 36;

/// The uplink as firstlink needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtsUplink {
    pub application_id: String,
    pub device_id: String,
    /// Upper-case hex, 16 digits, when the message carries it.
    pub dev_eui: Option<String>,
    /// `None` when TTS omitted it (it does for port 0, MAC-only frames).
    pub f_port: Option<u8>,
    /// The decrypted application payload (empty when TTS omitted it).
    pub frm_payload: Vec<u8>,
    /// When the network received it (the message's `received_at`, else the
    /// uplink's own `received_at`).
    pub received_at: DateTime<Utc>,
}

/// What a TTS uplink topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsTopic {
    pub application_id: String,
    /// The `@tenant` suffix of multi-tenant deployments (The Things Stack Cloud).
    pub tenant: Option<String>,
    pub device_id: String,
}

fn valid_tts_id(s: &str) -> bool {
    (1..=MAX_TTS_ID).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses `v3/{application_id}[@{tenant}]/devices/{device_id}/up`.
/// Identifiers are 1–36 characters of `a-z`, `0-9`, `-`; anything else is `BadTopic`.
pub fn parse_tts_topic(topic: &str) -> Result<TtsTopic, DecodeError> {
    let mut parts = topic.split('/');
    let (Some("v3"), Some(app), Some("devices"), Some(dev), Some("up"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(DecodeError::BadTopic);
    };
    let (app, tenant) = match app.split_once('@') {
        Some((a, t)) => (a, Some(t)),
        None => (app, None),
    };
    if !valid_tts_id(app) || !valid_tts_id(dev) || tenant.is_some_and(|t| !valid_tts_id(t)) {
        return Err(DecodeError::BadTopic);
    }
    Ok(TtsTopic {
        application_id: app.to_string(),
        tenant: tenant.map(str::to_string),
        device_id: dev.to_string(),
    })
}

#[derive(Deserialize)]
struct WireUp {
    end_device_ids: WireIds,
    received_at: Option<DateTime<Utc>>,
    uplink_message: Option<WireUplink>,
}

#[derive(Deserialize)]
struct WireIds {
    device_id: String,
    application_ids: WireAppIds,
    dev_eui: Option<String>,
}

#[derive(Deserialize)]
struct WireAppIds {
    application_id: String,
}

#[derive(Deserialize)]
struct WireUplink {
    f_port: Option<u8>,
    frm_payload: Option<String>,
    received_at: Option<DateTime<Utc>>,
}

/// Parses a TTS v3 uplink message. The device and application named in the
/// topic must be the ones in the payload's `end_device_ids`, else
/// `IdentityMismatch`. Members not listed in README.md are ignored.
pub fn parse_tts_uplink(topic: &str, payload: &[u8]) -> Result<TtsUplink, DecodeError> {
    if payload.len() > MAX_TTS_PAYLOAD {
        return Err(DecodeError::TooLarge { len: payload.len() });
    }
    let t = parse_tts_topic(topic)?;
    let up: WireUp = serde_json::from_slice(payload).map_err(DecodeError::malformed)?;
    if up.end_device_ids.device_id != t.device_id
        || up.end_device_ids.application_ids.application_id != t.application_id
    {
        return Err(DecodeError::IdentityMismatch);
    }
    let msg = up
        .uplink_message
        .ok_or_else(|| DecodeError::malformed("missing field `uplink_message`"))?;
    let dev_eui = match up.end_device_ids.dev_eui {
        Some(e) if e.len() == 16 && e.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(e.to_ascii_uppercase())
        }
        Some(_) => return Err(DecodeError::malformed("dev_eui: expected 16 hex digits")),
        None => None,
    };
    let frm_payload = match msg.frm_payload {
        Some(b64) => STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| DecodeError::malformed("frm_payload: invalid base64"))?,
        None => Vec::new(),
    };
    let received_at = up
        .received_at
        .or(msg.received_at)
        .ok_or_else(|| DecodeError::malformed("missing field `received_at`"))?;
    Ok(TtsUplink {
        application_id: t.application_id,
        device_id: t.device_id,
        dev_eui,
        f_port: msg.f_port,
        frm_payload,
        received_at,
    })
}

// ------------------------------------------------------------- codecs

/// The payload format of a LoRaWAN sensor model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LorawanCodec {
    /// Elsys EMS (temperature, humidity, accelerometer, reed-switch counter, water leak).
    ElsysEms,
    /// Milesight EM300-TH (temperature, humidity, battery).
    MilesightEm300Th,
    /// Milesight WS301 magnetic door contact.
    MilesightWs301,
    /// Dragino LDS02 door sensor.
    DraginoLds02,
}

impl LorawanCodec {
    pub const ALL: [LorawanCodec; 4] = [
        LorawanCodec::ElsysEms,
        LorawanCodec::MilesightEm300Th,
        LorawanCodec::MilesightWs301,
        LorawanCodec::DraginoLds02,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LorawanCodec::ElsysEms => "elsys-ems",
            LorawanCodec::MilesightEm300Th => "milesight-em300-th",
            LorawanCodec::MilesightWs301 => "milesight-ws301",
            LorawanCodec::DraginoLds02 => "dragino-lds02",
        }
    }
}

impl fmt::Display for LorawanCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec name that is not one of [`LorawanCodec::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown LoRaWAN codec {0:?}")]
pub struct UnknownCodec(pub String);

impl FromStr for LorawanCodec {
    type Err = UnknownCodec;
    fn from_str(s: &str) -> Result<Self, UnknownCodec> {
        LorawanCodec::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCodec(s.chars().take(64).collect()))
    }
}

/// Reads fixed-size fields off a byte slice.
struct Bytes<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.b.split_first_chunk::<N>().ok_or_else(|| {
            DecodeError::malformed(format_args!("{}: payload ends inside a field", self.what))
        })?;
        self.b = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// LoRaWAN port 0 carries MAC commands only and 224..=255 are reserved:
/// never application data.
fn check_app_port(f_port: u8) -> Result<(), DecodeError> {
    if f_port == 0 || f_port >= 224 {
        return Err(DecodeError::UnknownFPort(f_port));
    }
    Ok(())
}

/// Decodes a sensor payload into the vendor's fields (names as in the
/// vendors' reference decoders; see README.md for each codec's table).
pub fn decode_lorawan_raw(
    codec: LorawanCodec,
    f_port: u8,
    bytes: &[u8],
) -> Result<Value, DecodeError> {
    let map = match codec {
        LorawanCodec::ElsysEms => {
            check_app_port(f_port)?;
            elsys(bytes)?
        }
        LorawanCodec::MilesightEm300Th | LorawanCodec::MilesightWs301 => {
            check_app_port(f_port)?;
            milesight(codec, bytes)?
        }
        LorawanCodec::DraginoLds02 => {
            if f_port != 10 {
                return Err(DecodeError::UnknownFPort(f_port));
            }
            dragino_lds02(bytes)?
        }
    };
    Ok(Value::Object(map))
}

/// Elsys: a sequence of (type byte, value) pairs, value length fixed by the
/// type; a repeated type overwrites the earlier value.
fn elsys(bytes: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::malformed("elsys: empty payload"));
    }
    let mut m = Map::new();
    let mut r = Bytes {
        b: bytes,
        what: "elsys",
    };
    while !r.is_empty() {
        let ty = r.u8()?;
        match ty {
            0x01 => {
                m.insert(
                    "temperature".into(),
                    float(f64::from(i16::from_be_bytes(r.take()?)) / 10.0),
                );
            }
            0x02 => {
                m.insert("humidity".into(), r.u8()?.into());
            }
            0x03 => {
                let [x, y, z] = r.take::<3>()?;
                m.insert("x".into(), (x as i8).into());
                m.insert("y".into(), (y as i8).into());
                m.insert("z".into(), (z as i8).into());
            }
            0x04 => {
                m.insert("light".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x05 => {
                m.insert("motion".into(), r.u8()?.into());
            }
            0x06 => {
                m.insert("co2".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x07 => {
                m.insert("vdd".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x08 => {
                m.insert("analog1".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x0A => {
                m.insert("pulse1".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x0B => {
                m.insert("pulseAbs".into(), u32::from_be_bytes(r.take()?).into());
            }
            0x0C => {
                m.insert(
                    "externalTemperature".into(),
                    float(f64::from(i16::from_be_bytes(r.take()?)) / 10.0),
                );
            }
            0x0D => {
                m.insert("digital".into(), r.u8()?.into());
            }
            0x0E => {
                m.insert("distance".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x0F => {
                m.insert("accMotion".into(), r.u8()?.into());
            }
            0x10 => {
                let int = i16::from_be_bytes(r.take()?);
                let ext = i16::from_be_bytes(r.take()?);
                m.insert("irInternalTemperature".into(), float(f64::from(int) / 10.0));
                m.insert("irExternalTemperature".into(), float(f64::from(ext) / 10.0));
            }
            0x11 => {
                m.insert("occupancy".into(), r.u8()?.into());
            }
            0x12 => {
                m.insert("waterleak".into(), r.u8()?.into());
            }
            0x14 => {
                m.insert(
                    "pressure".into(),
                    float(f64::from(u32::from_be_bytes(r.take()?)) / 1000.0),
                );
            }
            0x15 => {
                m.insert("soundPeak".into(), r.u8()?.into());
                m.insert("soundAvg".into(), r.u8()?.into());
            }
            0x16 => {
                m.insert("pulse2".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x17 => {
                m.insert("pulseAbs2".into(), u32::from_be_bytes(r.take()?).into());
            }
            0x18 => {
                m.insert("analog2".into(), u16::from_be_bytes(r.take()?).into());
            }
            0x19 => {
                m.insert(
                    "externalTemperature2".into(),
                    float(f64::from(i16::from_be_bytes(r.take()?)) / 10.0),
                );
            }
            0x1A => {
                m.insert("digital2".into(), r.u8()?.into());
            }
            0x1B => {
                m.insert("analogUv".into(), i32::from_be_bytes(r.take()?).into());
            }
            0x1C => {
                m.insert("tvoc".into(), u16::from_be_bytes(r.take()?).into());
            }
            other => {
                // The length of an unknown type is unknown, so nothing after
                // it can be read.
                return Err(DecodeError::malformed(format_args!(
                    "elsys: unsupported type 0x{other:02x}"
                )));
            }
        }
    }
    Ok(m)
}

/// Milesight: (channel, type, value) triples, value length fixed by the pair.
fn milesight(codec: LorawanCodec, bytes: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::malformed("milesight: empty payload"));
    }
    let ws301 = codec == LorawanCodec::MilesightWs301;
    let mut m = Map::new();
    let mut r = Bytes {
        b: bytes,
        what: "milesight",
    };
    while !r.is_empty() {
        let [channel, ty] = r.take::<2>()?;
        match (channel, ty) {
            (0x01, 0x75) => {
                m.insert("battery".into(), r.u8()?.into());
            }
            (0x03, 0x67) if !ws301 => {
                m.insert(
                    "temperature".into(),
                    float(f64::from(i16::from_le_bytes(r.take()?)) / 10.0),
                );
            }
            (0x04, 0x68) if !ws301 => {
                m.insert("humidity".into(), float(f64::from(r.u8()?) / 2.0));
            }
            (0x03, 0x00) if ws301 => {
                let v = match r.u8()? {
                    0 => "close",
                    1 => "open",
                    _ => return Err(DecodeError::OutOfRange("door")),
                };
                m.insert("door".into(), v.into());
            }
            (0x04, 0x00) if ws301 => {
                let v = match r.u8()? {
                    0 => "yes",
                    1 => "no",
                    _ => return Err(DecodeError::OutOfRange("install")),
                };
                m.insert("install".into(), v.into());
            }
            // Device information, sent once after joining.
            (0xff, 0x01) => {
                m.insert("ipso_version".into(), r.u8()?.into());
            }
            (0xff, 0x09) => {
                m.insert("hardware_version".into(), hex(&r.take::<2>()?).into());
            }
            (0xff, 0x0a) => {
                m.insert("firmware_version".into(), hex(&r.take::<2>()?).into());
            }
            (0xff, 0x0b) => {
                m.insert("device_status".into(), r.u8()?.into());
            }
            (0xff, 0x0f) => {
                m.insert("lorawan_class".into(), r.u8()?.into());
            }
            (0xff, 0x16) => {
                m.insert("sn".into(), hex(&r.take::<8>()?).into());
            }
            (c, t) => {
                return Err(DecodeError::malformed(format_args!(
                    "milesight: unsupported channel 0x{c:02x} type 0x{t:02x}"
                )));
            }
        }
    }
    Ok(m)
}

/// Dragino LDS02 status frame on fPort 10 (10 bytes; shorter frames read
/// the missing trailing bytes as 0, at least the 2-byte status word is needed).
fn dragino_lds02(bytes: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    if bytes.len() < 2 {
        return Err(DecodeError::malformed("lds02: frame shorter than 2 bytes"));
    }
    if bytes.len() > 10 {
        return Err(DecodeError::malformed("lds02: frame longer than 10 bytes"));
    }
    let mut f = [0u8; 10];
    f[..bytes.len()].copy_from_slice(bytes);
    let word = u16::from_be_bytes([f[0], f[1]]);
    let u24 = |a: u8, b: u8, c: u8| u32::from_be_bytes([0, a, b, c]);
    let mut m = Map::new();
    m.insert("DOOR_OPEN_STATUS".into(), (word >> 15).into());
    m.insert("BAT_V".into(), float(f64::from(word & 0x3fff) / 1000.0));
    m.insert("MOD".into(), f[2].into());
    m.insert("DOOR_OPEN_TIMES".into(), u24(f[3], f[4], f[5]).into());
    m.insert(
        "LAST_DOOR_OPEN_DURATION".into(),
        u24(f[6], f[7], f[8]).into(),
    );
    m.insert("ALARM".into(), f[9].into());
    Ok(m)
}

/// LDS02 battery voltage → percentage: linear from 2.5 V (0 %) to 3.0 V
/// (100 %), clamped, rounded to the nearest percent.
pub fn lds02_battery_pct(volts: f64) -> u8 {
    if !volts.is_finite() {
        return 0;
    }
    let pct = ((volts - 2.5) / 0.5 * 100.0).round().clamp(0.0, 100.0);
    pct as u8
}

/// Decodes a sensor payload and maps it to signals (see README.md for what
/// each codec maps and ignores). A temperature outside −60..=100 °C or a
/// battery above 100 % is `OutOfRange`.
pub fn decode_lorawan(
    codec: LorawanCodec,
    f_port: u8,
    bytes: &[u8],
) -> Result<Vec<Signal>, DecodeError> {
    let raw = decode_lorawan_raw(codec, f_port, bytes)?;
    let Value::Object(m) = raw else {
        return Ok(Vec::new());
    };
    let num = |k: &str| m.get(k).and_then(Value::as_f64);
    let text = |k: &str| m.get(k).and_then(Value::as_str);
    let mut out = Vec::new();
    match codec {
        LorawanCodec::ElsysEms => {
            if let Some(t) = num("temperature") {
                out.push(Signal::TemperatureC(check_temp(t, "temperature")?));
            }
        }
        LorawanCodec::MilesightEm300Th => {
            if let Some(t) = num("temperature") {
                out.push(Signal::TemperatureC(check_temp(t, "temperature")?));
            }
            if let Some(b) = m.get("battery").and_then(Value::as_u64) {
                let b = u8::try_from(b)
                    .ok()
                    .filter(|b| *b <= 100)
                    .ok_or(DecodeError::OutOfRange("battery"))?;
                out.push(Signal::UnitBatteryPct(b));
            }
        }
        LorawanCodec::MilesightWs301 => {
            if let Some(d) = text("door") {
                out.push(Signal::DoorOpen(d == "open"));
            }
            if let Some(b) = m.get("battery").and_then(Value::as_u64) {
                let b = u8::try_from(b)
                    .ok()
                    .filter(|b| *b <= 100)
                    .ok_or(DecodeError::OutOfRange("battery"))?;
                out.push(Signal::UnitBatteryPct(b));
            }
            if let Some(i) = text("install") {
                out.push(Signal::Tamper(i == "no"));
            }
        }
        LorawanCodec::DraginoLds02 => {
            if let Some(d) = m.get("DOOR_OPEN_STATUS").and_then(Value::as_u64) {
                out.push(Signal::DoorOpen(d == 1));
            }
            if let Some(v) = num("BAT_V") {
                out.push(Signal::UnitBatteryPct(lds02_battery_pct(v)));
            }
        }
    }
    out.sort_by_key(Signal::kind);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codec_names_round_trip_in_display_fromstr_and_serde() {
        for c in LorawanCodec::ALL {
            assert_eq!(c.to_string().parse::<LorawanCodec>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert_eq!(
            "elsys".parse::<LorawanCodec>(),
            Err(UnknownCodec("elsys".into()))
        );
    }

    #[test]
    fn topic_layout() {
        let t = parse_tts_topic("v3/aeds@ttn/devices/cab-1/up").unwrap();
        assert_eq!(t.application_id, "aeds");
        assert_eq!(t.tenant.as_deref(), Some("ttn"));
        assert_eq!(t.device_id, "cab-1");
        let t = parse_tts_topic("v3/aeds/devices/cab-1/up").unwrap();
        assert_eq!(t.tenant, None);
        for bad in [
            "v3/aeds/devices/cab-1/down",
            "v3/aeds/devices/cab-1/up/extra",
            "v3/aeds/devices//up",
            "v3//devices/cab-1/up",
            "v3/aeds@/devices/cab-1/up",
            "v3/Aeds/devices/cab-1/up",
            "v2/aeds/devices/cab-1/up",
            "v3/aeds/device/cab-1/up",
            "v3/+/devices/+/up",
            "v3/aeds@ttn@x/devices/cab-1/up",
            "",
        ] {
            assert_eq!(parse_tts_topic(bad), Err(DecodeError::BadTopic), "{bad}");
        }
    }

    #[test]
    fn lds02_battery_scale() {
        assert_eq!(lds02_battery_pct(2.4), 0);
        assert_eq!(lds02_battery_pct(2.5), 0);
        assert_eq!(lds02_battery_pct(2.75), 50);
        assert_eq!(lds02_battery_pct(2.952), 90);
        assert_eq!(lds02_battery_pct(3.0), 100);
        assert_eq!(lds02_battery_pct(3.6), 100);
        assert_eq!(lds02_battery_pct(f64::NAN), 0);
    }

    #[test]
    fn reserved_ports_are_refused() {
        for c in LorawanCodec::ALL {
            assert_eq!(
                decode_lorawan_raw(c, 0, &[1, 0, 1]),
                Err(DecodeError::UnknownFPort(0))
            );
            assert_eq!(
                decode_lorawan_raw(c, 224, &[1, 0, 1]),
                Err(DecodeError::UnknownFPort(224))
            );
        }
    }

    #[test]
    fn truncated_and_unknown_fields_are_malformed() {
        let cases: &[(LorawanCodec, u8, &[u8])] = &[
            (LorawanCodec::ElsysEms, 5, &[0x01, 0x00]),
            (LorawanCodec::ElsysEms, 5, &[0x01, 0x00, 0xe2, 0x3f]),
            (LorawanCodec::ElsysEms, 5, &[]),
            (LorawanCodec::MilesightEm300Th, 85, &[0x03, 0x67, 0xc8]),
            (LorawanCodec::MilesightEm300Th, 85, &[0x03]),
            (LorawanCodec::MilesightEm300Th, 85, &[0x03, 0x00, 0x01]),
            (LorawanCodec::MilesightWs301, 85, &[0x03, 0x67, 0xc8, 0x00]),
            (LorawanCodec::DraginoLds02, 10, &[0x0b]),
            (LorawanCodec::DraginoLds02, 10, &[0; 11]),
        ];
        for (c, p, b) in cases {
            let e = decode_lorawan_raw(*c, *p, b).unwrap_err();
            assert_eq!(e.code(), "malformed", "{c} {b:?}: {e:?}");
        }
        assert_eq!(
            decode_lorawan_raw(LorawanCodec::MilesightWs301, 85, &[0x03, 0x00, 0x02]),
            Err(DecodeError::OutOfRange("door"))
        );
    }

    #[test]
    fn signals_mapping() {
        // EM300: 20.0 °C, battery 50 %, humidity ignored.
        let s = decode_lorawan(
            LorawanCodec::MilesightEm300Th,
            1,
            &[0x01, 0x75, 0x32, 0x03, 0x67, 0xc8, 0x00, 0x04, 0x68, 0x3c],
        )
        .unwrap();
        assert_eq!(
            s,
            vec![Signal::TemperatureC(20.0), Signal::UnitBatteryPct(50)]
        );
        // EM300 negative temperature, little-endian: 0xff9c = -100 → -10.0.
        let s = decode_lorawan(
            LorawanCodec::MilesightEm300Th,
            85,
            &[0x03, 0x67, 0x9c, 0xff],
        )
        .unwrap();
        assert_eq!(s, vec![Signal::TemperatureC(-10.0)]);
        // WS301.
        assert_eq!(
            decode_lorawan(LorawanCodec::MilesightWs301, 85, &[0x03, 0x00, 0x01]).unwrap(),
            vec![Signal::DoorOpen(true)]
        );
        assert_eq!(
            decode_lorawan(LorawanCodec::MilesightWs301, 85, &[0x03, 0x00, 0x00]).unwrap(),
            vec![Signal::DoorOpen(false)]
        );
        assert_eq!(
            decode_lorawan(LorawanCodec::MilesightWs301, 85, &[0x04, 0x00, 0x01]).unwrap(),
            vec![Signal::Tamper(true)]
        );
        assert_eq!(
            decode_lorawan(LorawanCodec::MilesightWs301, 85, &[0x04, 0x00, 0x00]).unwrap(),
            vec![Signal::Tamper(false)]
        );
        // LDS02: open (bit 15), 3.1 V.
        let s = decode_lorawan(
            LorawanCodec::DraginoLds02,
            10,
            &[0x8c, 0x1c, 0x01, 0, 0, 3, 0, 0, 1, 0],
        )
        .unwrap();
        assert_eq!(s, vec![Signal::UnitBatteryPct(100), Signal::DoorOpen(true)]);
        // Elsys: temperature only.
        let s = decode_lorawan(LorawanCodec::ElsysEms, 5, &[0x01, 0xff, 0x38, 0x02, 0x29]).unwrap();
        assert_eq!(s, vec![Signal::TemperatureC(-20.0)]);
        // Implausible temperature.
        assert_eq!(
            decode_lorawan(LorawanCodec::ElsysEms, 5, &[0x01, 0x7f, 0xff]),
            Err(DecodeError::OutOfRange("temperature"))
        );
    }

    #[test]
    fn elsys_full_table_lengths() {
        // One of every supported type, back to back.
        let mut p = vec![0x01, 0x00, 0xe2, 0x02, 0x29, 0x03, 0xff, 0x27, 0x05];
        p.extend_from_slice(&[
            0x04, 0x01, 0x00, 0x05, 0x02, 0x06, 0x01, 0x90, 0x07, 0x0e, 0x10, 0x08, 0x00, 0x10,
        ]);
        p.extend_from_slice(&[
            0x0a, 0x00, 0x05, 0x0b, 0, 0, 1, 0, 0x0c, 0xff, 0xf6, 0x0d, 1, 0x0e, 0x03, 0xe8, 0x0f,
            2,
        ]);
        p.extend_from_slice(&[
            0x10, 0x00, 0xc8, 0x00, 0x64, 0x11, 1, 0x12, 0, 0x14, 0x00, 0x0f, 0x74, 0x24,
        ]);
        p.extend_from_slice(&[
            0x15, 60, 40, 0x16, 0, 7, 0x17, 0, 0, 0, 9, 0x18, 0, 3, 0x19, 0, 5, 0x1a, 0,
        ]);
        p.extend_from_slice(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0x1c, 0x00, 0x64]);
        let v = decode_lorawan_raw(LorawanCodec::ElsysEms, 5, &p).unwrap();
        assert_eq!(v["x"], json!(-1));
        assert_eq!(v["light"], json!(256));
        assert_eq!(v["co2"], json!(400));
        assert_eq!(v["vdd"], json!(3600));
        assert_eq!(v["pulseAbs"], json!(256));
        assert_eq!(v["externalTemperature"], json!(-1.0));
        assert_eq!(v["distance"], json!(1000));
        assert_eq!(v["irInternalTemperature"], json!(20.0));
        assert_eq!(v["irExternalTemperature"], json!(10.0));
        assert_eq!(v["pressure"], json!(1012.772));
        assert_eq!(v["soundPeak"], json!(60));
        assert_eq!(v["soundAvg"], json!(40));
        assert_eq!(v["pulseAbs2"], json!(9));
        assert_eq!(v["externalTemperature2"], json!(0.5));
        assert_eq!(v["analogUv"], json!(-1));
        assert_eq!(v["tvoc"], json!(100));
        assert_eq!(v.as_object().unwrap().len(), 30);
    }
}
