//! Codec round trips and robustness (property tests).

use chrono::{DateTime, Utc};
use firstlink_monitor::codec::{binary_len, encode_json_body};
use firstlink_monitor::{
    DecodeError, LatLon, LorawanCodec, Reading, Signal, StatusLight, UnitKey, decode_binary,
    decode_json, decode_lorawan, decode_lorawan_raw, encode_binary, encode_json, parse_tts_uplink,
    parse_unit_topic,
};
use proptest::prelude::*;

fn light() -> impl Strategy<Value = StatusLight> {
    prop_oneof![
        Just(StatusLight::Ok),
        Just(StatusLight::Fault),
        Just(StatusLight::Off),
        Just(StatusLight::Unknown)
    ]
}

/// Readings both formats carry exactly: whole seconds in the u32 range,
/// temperatures on the 0.1 °C grid, positions on the 1e-7° grid, at most one
/// signal per kind in canonical order.
fn reading() -> impl Strategy<Value = Reading> {
    (
        0u32..=u32::MAX,
        any::<u32>(),
        proptest::option::of(light()),
        proptest::option::of(-600i16..=1000),
        proptest::option::of(any::<bool>()),
        proptest::option::of((
            -900_000_000i32..=900_000_000,
            -1_800_000_000i32..=1_800_000_000,
        )),
        proptest::option::of(0u8..=100),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(ts, seq, light, temp, beeps, pos, batt, door, aed, tamper)| {
                let mut signals = Vec::new();
                signals.extend(light.map(Signal::StatusLight));
                signals.extend(temp.map(|t| Signal::TemperatureC(f32::from(t) / 10.0)));
                signals.extend(beeps.map(Signal::Beeps));
                signals.extend(pos.map(|(a, o)| {
                    Signal::Position(LatLon::new(f64::from(a) / 1e7, f64::from(o) / 1e7).unwrap())
                }));
                signals.extend(batt.map(Signal::UnitBatteryPct));
                signals.extend(door.map(Signal::DoorOpen));
                signals.extend(aed.map(Signal::AedPresent));
                signals.extend(tamper.map(Signal::Tamper));
                Reading {
                    at: DateTime::from_timestamp(i64::from(ts), 0).unwrap(),
                    seq: Some(seq),
                    signals,
                }
            },
        )
}

fn key_strategy() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// Equal up to float parsing: JSON floats may come back one ulp off.
fn assert_close(a: &Reading, b: &Reading) {
    assert_eq!(a.at, b.at);
    assert_eq!(a.seq, b.seq);
    assert_eq!(a.signals.len(), b.signals.len(), "{a:?} vs {b:?}");
    for (x, y) in a.signals.iter().zip(&b.signals) {
        match (x, y) {
            (Signal::TemperatureC(p), Signal::TemperatureC(q)) => {
                assert!((p - q).abs() < 1e-4, "{p} {q}")
            }
            (Signal::Position(p), Signal::Position(q)) => {
                assert!(
                    (p.lat - q.lat).abs() < 1e-12 && (p.lon - q.lon).abs() < 1e-12,
                    "{p:?} {q:?}"
                )
            }
            _ => assert_eq!(x, y),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn binary_round_trips(r in reading(), k in key_strategy()) {
        let key = UnitKey::from_bytes(k);
        let bytes = encode_binary(&r, &key);
        prop_assert_eq!(bytes.len(), binary_len(bytes[9]));
        prop_assert_eq!(decode_binary(&bytes, &key), Ok(r));
    }

    #[test]
    fn json_round_trips(r in reading(), k in key_strategy()) {
        let key = UnitKey::from_bytes(k);
        let bytes = encode_json(&r, &key);
        let back = decode_json(&bytes, &key, true).unwrap();
        assert_close(&r, &back);
    }

    #[test]
    fn json_round_trips_subsecond_timestamps(secs in 0i64..4_000_000_000, nanos in 0u32..1_000_000_000) {
        let key = UnitKey::from_bytes([5; 32]);
        let at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos).unwrap();
        let r = Reading { at, seq: None, signals: vec![] };
        prop_assert_eq!(decode_json(&encode_json(&r, &key), &key, true), Ok(r));
    }

    #[test]
    fn wrong_key_is_bad_mac(r in reading(), k in key_strategy(), other in key_strategy()) {
        prop_assume!(k != other);
        let (key, wrong) = (UnitKey::from_bytes(k), UnitKey::from_bytes(other));
        prop_assert_eq!(decode_binary(&encode_binary(&r, &key), &wrong), Err(DecodeError::BadMac));
        prop_assert_eq!(decode_json(&encode_json(&r, &key), &wrong, false), Err(DecodeError::BadMac));
    }

    #[test]
    fn any_single_bit_flip_in_binary_is_refused(r in reading(), bit in any::<prop::sample::Index>()) {
        let key = UnitKey::from_bytes([9; 32]);
        let mut bytes = encode_binary(&r, &key);
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        prop_assert!(decode_binary(&bytes, &key).is_err());
    }

    #[test]
    fn truncation_and_trailing_bytes_are_refused(r in reading(), cut in any::<prop::sample::Index>(), extra in proptest::collection::vec(any::<u8>(), 1..8)) {
        let key = UnitKey::from_bytes([9; 32]);
        let bytes = encode_binary(&r, &key);
        let n = cut.index(bytes.len());
        let is_truncated = matches!(decode_binary(&bytes[..n], &key), Err(DecodeError::Truncated { .. }));
        prop_assert!(is_truncated);
        let mut longer = bytes.clone();
        longer.extend_from_slice(&extra);
        let is_trailing = matches!(decode_binary(&longer, &key), Err(DecodeError::TrailingBytes { .. }));
        prop_assert!(is_trailing);
    }

    #[test]
    fn json_mac_is_over_the_sent_bytes(r in reading()) {
        // Changing any character of the body (keeping it valid JSON) breaks the MAC.
        let key = UnitKey::from_bytes([3; 32]);
        let bytes = encode_json(&r, &key);
        let body = encode_json_body(&r);
        let text = String::from_utf8(bytes).unwrap();
        let spaced = text.replacen(&body, &body.replacen(':', ": ", 1), 1);
        prop_assert_eq!(decode_json(spaced.as_bytes(), &key, true), Err(DecodeError::BadMac));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), port in any::<u8>()) {
        let key = UnitKey::from_bytes([1; 32]);
        let _ = decode_binary(&bytes, &key);
        let _ = decode_json(&bytes, &key, true);
        let _ = decode_json(&bytes, &key, false);
        for c in LorawanCodec::ALL {
            let _ = decode_lorawan_raw(c, port, &bytes);
            let _ = decode_lorawan(c, port, &bytes);
        }
        let _ = parse_tts_uplink("v3/app/devices/dev/up", &bytes);
        let _ = parse_unit_topic(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn binary_with_valid_mac_and_random_fields_never_panics(flags in any::<u8>(), fields in proptest::collection::vec(any::<u8>(), 0..40), seq in any::<u32>(), ts in any::<u32>()) {
        // Past the MAC: every value decoder sees arbitrary bytes.
        let key = UnitKey::from_bytes([2; 32]);
        let mut v = vec![1];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ts.to_be_bytes());
        v.push(flags);
        v.extend_from_slice(&fields);
        let tag = key.mac(&v);
        v.extend_from_slice(&tag[..8]);
        match decode_binary(&v, &key) {
            Ok(r) => prop_assert_eq!(r.signals.len(), flags.count_ones() as usize),
            Err(e) => {
                let ok = matches!(e, DecodeError::Truncated { .. } | DecodeError::TrailingBytes { .. } | DecodeError::OutOfRange(_));
                prop_assert!(ok, "{e:?}");
            }
        }
    }

    #[test]
    fn json_like_garbage_never_panics(s in r#"\{"t":\{("[a-z_]{1,8}":(-?[0-9]{1,25}(\.[0-9]{0,20})?|"[^"]{0,12}"|\[[-0-9.,e ]{0,30}\]|true|null),?){0,6}\}(,"mac":"[A-Za-z0-9_-]{0,44}")?\}"#) {
        let key = UnitKey::from_bytes([1; 32]);
        let _ = decode_json(s.as_bytes(), &key, false);
        let _ = decode_json(s.as_bytes(), &key, true);
    }

    #[test]
    fn unsigned_json_values_never_panic(ts in any::<i64>(), temp in any::<f64>(), lat in any::<f64>(), lon in any::<f64>(), batt in any::<i64>(), seq in any::<i64>()) {
        let key = UnitKey::from_bytes([1; 32]);
        let t = serde_json::json!({"ts": ts, "temp_c": temp, "pos": [lat, lon], "batt_pct": batt, "seq": seq});
        let p = serde_json::json!({"t": t}).to_string();
        let _ = decode_json(p.as_bytes(), &key, false);
    }

    #[test]
    fn encoders_never_panic_on_any_values(temp in any::<f32>(), lat in any::<f64>(), lon in any::<f64>(), batt in any::<u8>(), secs in -100_000_000_000i64..100_000_000_000) {
        let key = UnitKey::from_bytes([1; 32]);
        let r = Reading {
            at: DateTime::from_timestamp(secs, 0).unwrap(),
            seq: None,
            signals: vec![Signal::TemperatureC(temp), Signal::Position(LatLon { lat, lon }), Signal::UnitBatteryPct(batt)],
        };
        let b = encode_binary(&r, &key);
        let _ = decode_binary(&b, &key);
        let j = encode_json(&r, &key);
        let _ = decode_json(&j, &key, true);
    }
}

#[test]
fn binary_seq_none_is_sent_as_zero() {
    let key = UnitKey::from_bytes([4; 32]);
    let r = Reading {
        at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        seq: None,
        signals: vec![],
    };
    let b = encode_binary(&r, &key);
    assert_eq!(b.len(), 18);
    assert_eq!(&b[1..5], &[0, 0, 0, 0]);
    assert_eq!(decode_binary(&b, &key).unwrap().seq, Some(0));
}

/// The worked examples in README.md (values computed independently with
/// Python's hmac/hashlib).
mod readme_examples {
    use super::*;

    fn key() -> UnitKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        UnitKey::from_bytes(k)
    }

    fn reading() -> Reading {
        Reading {
            at: DateTime::from_timestamp(1_714_644_000, 0).unwrap(),
            seq: Some(42),
            signals: vec![
                Signal::StatusLight(StatusLight::Ok),
                Signal::TemperatureC(21.5),
                Signal::Position(LatLon::new(55.6761, 12.5683).unwrap()),
                Signal::UnitBatteryPct(87),
                Signal::DoorOpen(false),
                Signal::AedPresent(true),
            ],
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn key_text() {
        assert_eq!(
            key().to_secret(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
        );
        let unit = uuid::Uuid::parse_str("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap();
        assert_eq!(
            UnitKey::derive(&[0x42; 32], unit, 3).to_secret(),
            "6swE9T8RlwVP_cruAMVKnh30DaeRh0GCC1lW91GYZwU"
        );
    }

    #[test]
    fn binary_example() {
        let want = "010000002a663364207b0000d7212f7fa8077dc53857000194fab6072ce171ba";
        assert_eq!(hex(&encode_binary(&reading(), &key())), want);
        let bytes: Vec<u8> = (0..want.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&want[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(decode_binary(&bytes, &key()), Ok(reading()));
    }

    #[test]
    fn json_example() {
        let want = r#"{"t":{"ts":1714644000,"seq":42,"light":"ok","temp_c":21.5,"pos":[55.6761,12.5683],"batt_pct":87,"door":"closed","aed":"present"},"mac":"k5dcQ8dDRvyKxFIvHwfe2A"}"#;
        assert_eq!(
            String::from_utf8(encode_json(&reading(), &key())).unwrap(),
            want
        );
        assert_eq!(decode_json(want.as_bytes(), &key(), true), Ok(reading()));
    }
}
