//! What a monitoring unit reports: one [`Reading`] carries a timestamp and any
//! number of [`Signal`]s (none at all is a pure heartbeat).

use chrono::{DateTime, Utc};
use firstlink_domain::geo::LatLon;
use serde::{Deserialize, Serialize};

/// The AED's status indicator as the unit's optical sensor reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusLight {
    /// The AED's self-test passed (typically a green blink).
    Ok,
    /// The AED shows a fault (red / service indicator).
    Fault,
    /// No indicator at all (flat battery, AED switched off or removed from its holder).
    Off,
    /// The sensor could not read the indicator: no information.
    Unknown,
}

impl StatusLight {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusLight::Ok => "ok",
            StatusLight::Fault => "fault",
            StatusLight::Off => "off",
            StatusLight::Unknown => "unknown",
        }
    }
}

/// One observation of one sensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Signal {
    StatusLight(StatusLight),
    /// Temperature inside the cabinet, °C.
    TemperatureC(f32),
    /// Warning beeps heard (true) / quiet (false).
    Beeps(bool),
    /// Where the unit is (GPS).
    Position(LatLon),
    /// The monitoring unit's own battery, 0..=100 %.
    UnitBatteryPct(u8),
    /// Cabinet door open (true) / closed (false).
    DoorOpen(bool),
    /// AED in the cabinet (true) / removed (false).
    AedPresent(bool),
    /// The unit was removed from its mounting or opened (true) / installed (false).
    Tamper(bool),
}

/// The kind of a [`Signal`], without its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    StatusLight,
    TemperatureC,
    Beeps,
    Position,
    UnitBatteryPct,
    DoorOpen,
    AedPresent,
    Tamper,
}

impl SignalKind {
    /// All kinds, in the canonical order (the binary format's bit order).
    pub const ALL: [SignalKind; 8] = [
        SignalKind::StatusLight,
        SignalKind::TemperatureC,
        SignalKind::Beeps,
        SignalKind::Position,
        SignalKind::UnitBatteryPct,
        SignalKind::DoorOpen,
        SignalKind::AedPresent,
        SignalKind::Tamper,
    ];

    /// Position in [`SignalKind::ALL`] (0..8), also the binary presence bit.
    pub fn index(self) -> usize {
        match self {
            SignalKind::StatusLight => 0,
            SignalKind::TemperatureC => 1,
            SignalKind::Beeps => 2,
            SignalKind::Position => 3,
            SignalKind::UnitBatteryPct => 4,
            SignalKind::DoorOpen => 5,
            SignalKind::AedPresent => 6,
            SignalKind::Tamper => 7,
        }
    }

    /// Stable snake_case name.
    pub fn code(self) -> &'static str {
        match self {
            SignalKind::StatusLight => "status_light",
            SignalKind::TemperatureC => "temperature_c",
            SignalKind::Beeps => "beeps",
            SignalKind::Position => "position",
            SignalKind::UnitBatteryPct => "unit_battery_pct",
            SignalKind::DoorOpen => "door_open",
            SignalKind::AedPresent => "aed_present",
            SignalKind::Tamper => "tamper",
        }
    }
}

impl Signal {
    pub fn kind(&self) -> SignalKind {
        match self {
            Signal::StatusLight(_) => SignalKind::StatusLight,
            Signal::TemperatureC(_) => SignalKind::TemperatureC,
            Signal::Beeps(_) => SignalKind::Beeps,
            Signal::Position(_) => SignalKind::Position,
            Signal::UnitBatteryPct(_) => SignalKind::UnitBatteryPct,
            Signal::DoorOpen(_) => SignalKind::DoorOpen,
            Signal::AedPresent(_) => SignalKind::AedPresent,
            Signal::Tamper(_) => SignalKind::Tamper,
        }
    }
}

/// One message of a unit: when it was measured (the unit's clock), an
/// optional sequence number, and its signals. Empty `signals` = heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub seq: Option<u32>,
    pub signals: Vec<Signal>,
}

impl Reading {
    /// The signals with at most one per kind (the last one of each kind
    /// wins), in canonical order — the form both wire formats carry.
    pub fn canonical_signals(&self) -> Vec<Signal> {
        let mut slots: [Option<Signal>; 8] = [None; 8];
        for s in &self.signals {
            if let Some(slot) = slots.get_mut(s.kind().index()) {
                *slot = Some(*s);
            }
        }
        slots.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_serde_shape_is_kind_and_value() {
        let s = Signal::StatusLight(StatusLight::Fault);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"kind":"status_light","value":"fault"}"#
        );
        let t: Signal = serde_json::from_str(r#"{"kind":"unit_battery_pct","value":42}"#).unwrap();
        assert_eq!(t, Signal::UnitBatteryPct(42));
    }

    #[test]
    fn kind_index_matches_all_order() {
        for (i, k) in SignalKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }

    #[test]
    fn canonical_signals_keep_last_of_each_kind_in_bit_order() {
        let r = Reading {
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            seq: None,
            signals: vec![
                Signal::Tamper(true),
                Signal::TemperatureC(20.0),
                Signal::StatusLight(StatusLight::Ok),
                Signal::TemperatureC(21.0),
            ],
        };
        assert_eq!(
            r.canonical_signals(),
            vec![
                Signal::StatusLight(StatusLight::Ok),
                Signal::TemperatureC(21.0),
                Signal::Tamper(true)
            ]
        );
    }
}
