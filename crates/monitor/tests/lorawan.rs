//! LoRaWAN: the shared vendor vectors and The Things Stack uplink envelope.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use firstlink_monitor::{
    DecodeError, LorawanCodec, Signal, TTS_TOPIC_FILTER, decode_lorawan, decode_lorawan_raw,
    parse_tts_uplink,
};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/iot"
    ))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_shared_vector_decodes_to_its_expected_object() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .expect("vectors directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let mut checked = 0;
    for path in files {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let codec: LorawanCodec = stem.parse().unwrap_or_else(|e| panic!("{stem}: {e}"));
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for v in doc["vectors"].as_array().unwrap() {
            let what = format!("{stem}: {}", v["description"]);
            let port = u8::try_from(v["fport"].as_u64().unwrap()).unwrap();
            let bytes = unhex(v["bytes_hex"].as_str().unwrap());
            assert_eq!(
                STANDARD
                    .decode(v["bytes_base64"].as_str().unwrap())
                    .unwrap(),
                bytes,
                "{what}"
            );
            let got = decode_lorawan_raw(codec, port, &bytes);
            if v["decoded"].is_null() {
                let errors: Vec<&str> = v["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect();
                assert_eq!(errors, ["unknown FPort"], "{what}");
                assert_eq!(got, Err(DecodeError::UnknownFPort(port)), "{what}");
                assert_eq!(
                    decode_lorawan(codec, port, &bytes),
                    Err(DecodeError::UnknownFPort(port))
                );
            } else {
                assert_eq!(got.as_ref().ok(), Some(&v["decoded"]), "{what}: {got:?}");
                // The mapping to signals must accept what the raw decoder accepts.
                assert!(decode_lorawan(codec, port, &bytes).is_ok(), "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn shared_vectors_map_to_signals() {
    let s = decode_lorawan(
        LorawanCodec::ElsysEms,
        1,
        &unhex("0100e20229030127050a110112110a2111"),
    )
    .unwrap();
    assert_eq!(s, vec![Signal::TemperatureC(22.6)]);
    let s = decode_lorawan(
        LorawanCodec::MilesightEm300Th,
        1,
        &unhex("0175320367c80004683c"),
    )
    .unwrap();
    assert_eq!(
        s,
        vec![Signal::TemperatureC(20.0), Signal::UnitBatteryPct(50)]
    );
    let s = decode_lorawan(LorawanCodec::MilesightWs301, 85, &unhex("030001")).unwrap();
    assert_eq!(s, vec![Signal::DoorOpen(true)]);
    let s = decode_lorawan(LorawanCodec::MilesightWs301, 85, &unhex("040001")).unwrap();
    assert_eq!(s, vec![Signal::Tamper(true)]);
    // 2.952 V → (2.952 − 2.5) / 0.5 = 90.4 % → 90.
    let s = decode_lorawan(LorawanCodec::DraginoLds02, 10, &unhex("0b880100250001")).unwrap();
    assert_eq!(s, vec![Signal::UnitBatteryPct(90), Signal::DoorOpen(false)]);
}

/// A TTS v3 uplink message as the MQTT integration publishes it (shape of
/// `as.up.data.forward`), with gateway metadata firstlink ignores.
fn tts_message(device_id: &str, application_id: &str, frm_payload: &str) -> String {
    format!(
        r#"{{
  "end_device_ids": {{
    "device_id": "{device_id}",
    "application_ids": {{ "application_id": "{application_id}" }},
    "dev_eui": "70b3d57ed0061a2b",
    "join_eui": "0000000000000000",
    "dev_addr": "260B91F4"
  }},
  "correlation_ids": [
    "as:up:01HWXK1Q0ZJ8Y3V7R5E2N4M6PB",
    "gs:conn:01HWX9A7T3K2B8C4D5E6F7G8H9",
    "gs:up:host:01HWX9A7T5M1N2P3Q4R5S6T7U8",
    "gs:uplink:01HWXK1PZV6W5X4Y3Z2A1B0C9D",
    "ns:uplink:01HWXK1PZWQ8R7S6T5U4V3W2X1",
    "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01HWXK1PZW9Y8X7W6V5U4T3S2R"
  ],
  "received_at": "2024-05-02T10:15:30.123456789Z",
  "uplink_message": {{
    "session_key_id": "AY8xq1TRvJ3mY0lBsv2kHw==",
    "f_port": 85,
    "f_cnt": 1542,
    "frm_payload": "{frm_payload}",
    "decoded_payload": {{ "door": "open" }},
    "rx_metadata": [
      {{
        "gateway_ids": {{ "gateway_id": "kbh-roof-01", "eui": "B827EBFFFE8A1C2D" }},
        "time": "2024-05-02T10:15:29.998Z",
        "timestamp": 2870355644,
        "rssi": -97,
        "channel_rssi": -97,
        "snr": 6.25,
        "location": {{ "latitude": 55.6761, "longitude": 12.5683, "altitude": 42, "source": "SOURCE_REGISTRY" }},
        "uplink_token": "ChkKFwoLa2JoLXJvb2YtMDESCLgn6//+ihwtELzvyMsKGgwIkv3NsQYQgJ7d3QMgwIj7pZ+nAQ==",
        "channel_index": 4,
        "received_at": "2024-05-02T10:15:30.010Z"
      }}
    ],
    "settings": {{
      "data_rate": {{ "lora": {{ "bandwidth": 125000, "spreading_factor": 7, "coding_rate": "4/5" }} }},
      "frequency": "867300000",
      "timestamp": 2870355644,
      "time": "2024-05-02T10:15:29.998Z"
    }},
    "received_at": "2024-05-02T10:15:30.050Z",
    "consumed_airtime": "0.046336s",
    "network_ids": {{
      "net_id": "000013",
      "ns_id": "EC656E0000000181",
      "tenant_id": "ttn",
      "cluster_id": "eu1",
      "cluster_address": "eu1.cloud.thethings.network"
    }}
  }}
}}"#
    )
}

#[test]
fn tts_uplink_with_tenant_in_the_topic() {
    let msg = tts_message("cabinet-0042", "firstlink-aeds", "AwAB");
    let up = parse_tts_uplink(
        "v3/firstlink-aeds@ttn/devices/cabinet-0042/up",
        msg.as_bytes(),
    )
    .unwrap();
    assert_eq!(up.application_id, "firstlink-aeds");
    assert_eq!(up.device_id, "cabinet-0042");
    assert_eq!(up.dev_eui.as_deref(), Some("70B3D57ED0061A2B"));
    assert_eq!(up.f_port, Some(85));
    assert_eq!(up.frm_payload, vec![0x03, 0x00, 0x01]);
    assert_eq!(
        up.received_at,
        DateTime::parse_from_rfc3339("2024-05-02T10:15:30.123456789Z").unwrap()
    );
    let signals = decode_lorawan(
        LorawanCodec::MilesightWs301,
        up.f_port.unwrap(),
        &up.frm_payload,
    )
    .unwrap();
    assert_eq!(signals, vec![Signal::DoorOpen(true)]);
}

#[test]
fn tts_uplink_without_tenant() {
    let msg = tts_message("cabinet-0042", "firstlink-aeds", "BAAB");
    let up = parse_tts_uplink("v3/firstlink-aeds/devices/cabinet-0042/up", msg.as_bytes()).unwrap();
    assert_eq!(up.frm_payload, vec![0x04, 0x00, 0x01]);
    assert_eq!(TTS_TOPIC_FILTER, "v3/+/devices/+/up");
}

#[test]
fn tts_identity_mismatch() {
    let msg = tts_message("cabinet-0042", "firstlink-aeds", "AwAB");
    assert_eq!(
        parse_tts_uplink(
            "v3/firstlink-aeds@ttn/devices/cabinet-0043/up",
            msg.as_bytes()
        ),
        Err(DecodeError::IdentityMismatch)
    );
    assert_eq!(
        parse_tts_uplink("v3/other-app/devices/cabinet-0042/up", msg.as_bytes()),
        Err(DecodeError::IdentityMismatch)
    );
}

#[test]
fn tts_bad_inputs() {
    let topic = "v3/firstlink-aeds/devices/cabinet-0042/up";
    assert_eq!(
        parse_tts_uplink("v3/firstlink-aeds/devices/cabinet-0042/join", b"{}"),
        Err(DecodeError::BadTopic)
    );
    let bad_b64 = tts_message("cabinet-0042", "firstlink-aeds", "A*AB");
    assert_eq!(
        parse_tts_uplink(topic, bad_b64.as_bytes())
            .unwrap_err()
            .code(),
        "malformed"
    );
    assert_eq!(
        parse_tts_uplink(topic, b"not json").unwrap_err().code(),
        "malformed"
    );
    let no_uplink = r#"{"end_device_ids":{"device_id":"cabinet-0042","application_ids":{"application_id":"firstlink-aeds"}},"received_at":"2024-05-02T10:15:30Z"}"#;
    assert_eq!(
        parse_tts_uplink(topic, no_uplink.as_bytes())
            .unwrap_err()
            .code(),
        "malformed"
    );
    let huge = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        parse_tts_uplink(topic, &huge),
        Err(DecodeError::TooLarge { len: huge.len() })
    );
    // Minimal message: no dev_eui, no f_port / frm_payload (port 0), time from the uplink.
    let minimal = r#"{"end_device_ids":{"device_id":"cabinet-0042","application_ids":{"application_id":"firstlink-aeds"}},"uplink_message":{"received_at":"2024-05-02T10:15:30Z"}}"#;
    let up = parse_tts_uplink(topic, minimal.as_bytes()).unwrap();
    assert_eq!(
        (up.f_port, up.frm_payload.len(), up.dev_eui),
        (None, 0, None)
    );
    let bad_eui = minimal.replace(
        r#""device_id":"cabinet-0042","#,
        r#""device_id":"cabinet-0042","dev_eui":"xyz","#,
    );
    assert_eq!(
        parse_tts_uplink(topic, bad_eui.as_bytes())
            .unwrap_err()
            .code(),
        "malformed"
    );
}
