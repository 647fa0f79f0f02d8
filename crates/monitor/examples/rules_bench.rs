//! Benchmark (not a test): decode binary payloads and apply the readiness
//! rules for 25,000 units × N messages on one thread.
//!
//! cargo run --release -p firstlink-monitor --example rules_bench -- [messages_per_unit] [units]

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Utc};
use firstlink_monitor::{
    LatLon, ModelRules, Reading, Signal, StatusLight, UnitCtx, UnitKey, UnitState, UnitTopic,
    decode_binary, decode_json, encode_binary, encode_json, parse_unit_topic,
};
use uuid::Uuid;

fn main() {
    let mut args = std::env::args().skip(1);
    let per_unit: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let units: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(25_000);
    let interval_s: i64 = 600;
    let master = [0x5au8; 32];
    let rules = ModelRules::default();
    let home = LatLon::new(55.6761, 12.5683).expect("valid");
    let ctx = UnitCtx {
        rules: &rules,
        registered: Some(home),
        interval_s: interval_s as u32,
        pad_expiry: None,
        battery_expiry: None,
    };
    let t0: i64 = 1_714_644_000;

    // Set-up (not timed): keys, topics and payloads, in arrival order
    // (message j of every unit, then message j + 1, …).
    let ids: Vec<Uuid> = (0..units)
        .map(|i| Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + i as u128))
        .collect();
    let keys: Vec<UnitKey> = ids
        .iter()
        .map(|u| UnitKey::derive(&master, *u, 0))
        .collect();
    let topics: Vec<String> = ids
        .iter()
        .map(|u| UnitTopic::Binary(*u).to_topic())
        .collect();
    let mut payloads: Vec<(usize, Vec<u8>, DateTime<Utc>)> = Vec::with_capacity(units * per_unit);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for j in 0..per_unit {
        for (i, key) in keys.iter().enumerate() {
            let at = t0 + j as i64 * interval_s + (i as i64 % interval_s);
            let r = rnd();
            let mut signals = vec![
                Signal::StatusLight(if r % 500 == 0 {
                    StatusLight::Fault
                } else {
                    StatusLight::Ok
                }),
                Signal::TemperatureC(18.0 + (r % 120) as f32 / 10.0),
                Signal::UnitBatteryPct(60 + (r % 40) as u8),
            ];
            if r % 7 == 0 {
                signals.push(Signal::Position(
                    home.offset((r % 360) as f64, (r % 30) as f64),
                ));
            }
            if r % 50 == 0 {
                signals.push(Signal::DoorOpen(r % 100 == 0));
            }
            let reading = Reading {
                at: DateTime::from_timestamp(at, 0).expect("valid"),
                seq: Some(j as u32),
                signals,
            };
            payloads.push((i, encode_binary(&reading, key), reading.at));
        }
    }
    let total = payloads.len();
    let bytes: usize = payloads.iter().map(|p| p.1.len()).sum();

    // 1. decode only (MAC check included).
    let start = Instant::now();
    let mut ok = 0usize;
    for (i, p, _) in &payloads {
        if decode_binary(black_box(p), &keys[*i]).is_ok() {
            ok += 1;
        }
    }
    let decode_s = start.elapsed().as_secs_f64();
    assert_eq!(ok, total);

    // 2. topic parse + decode + apply: the per-message work of ingest.
    let mut states: Vec<UnitState> = (0..units)
        .map(|_| UnitState::new(DateTime::from_timestamp(t0, 0).expect("valid")))
        .collect();
    let mut changes = 0usize;
    let start = Instant::now();
    for (i, p, now) in &payloads {
        let unit = parse_unit_topic(black_box(&topics[*i]))
            .expect("topic")
            .unit();
        black_box(unit);
        let reading = decode_binary(black_box(p), &keys[*i]).expect("decodes");
        let tr = states[*i].apply(&ctx, &reading, *now).expect("accepted");
        if !tr.is_noop() {
            changes += 1;
        }
    }
    let full_s = start.elapsed().as_secs_f64();

    // 3. apply only (readings decoded beforehand).
    let decoded: Vec<(usize, Reading, DateTime<Utc>)> = payloads
        .iter()
        .map(|(i, p, now)| (*i, decode_binary(p, &keys[*i]).expect("decodes"), *now))
        .collect();
    let mut states2: Vec<UnitState> = (0..units)
        .map(|_| UnitState::new(DateTime::from_timestamp(t0, 0).expect("valid")))
        .collect();
    let start = Instant::now();
    for (i, r, now) in &decoded {
        black_box(states2[*i].apply(&ctx, r, *now).expect("accepted"));
    }
    let apply_s = start.elapsed().as_secs_f64();

    // 4. one tick pass over every unit (the time-driven rules).
    let end = DateTime::from_timestamp(t0 + per_unit as i64 * interval_s + 3 * interval_s, 0)
        .expect("valid");
    let start = Instant::now();
    let mut silent = 0usize;
    for s in &mut states {
        if !s.tick(&ctx, end).is_noop() {
            silent += 1;
        }
    }
    let tick_s = start.elapsed().as_secs_f64();

    // 5. the JSON form: decode (MAC over the raw `t` bytes) + apply.
    let json: Vec<(usize, Vec<u8>, DateTime<Utc>)> = decoded
        .iter()
        .map(|(i, r, now)| (*i, encode_json(r, &keys[*i]), *now))
        .collect();
    let json_bytes: usize = json.iter().map(|p| p.1.len()).sum();
    let mut states3: Vec<UnitState> = (0..units)
        .map(|_| UnitState::new(DateTime::from_timestamp(t0, 0).expect("valid")))
        .collect();
    let start = Instant::now();
    for (i, p, now) in &json {
        let reading = decode_json(black_box(p), &keys[*i], true).expect("decodes");
        black_box(states3[*i].apply(&ctx, &reading, *now).expect("accepted"));
    }
    let json_s = start.elapsed().as_secs_f64();

    let size = std::mem::size_of::<UnitState>();
    println!(
        "units: {units}, messages per unit: {per_unit}, messages: {total}, mean payload: {:.1} bytes",
        bytes as f64 / total as f64
    );
    println!(
        "decode_binary (HMAC check incl.):       {:>10.0} messages/s ({:.2} µs each)",
        total as f64 / decode_s,
        decode_s * 1e6 / total as f64
    );
    println!(
        "topic + decode_binary + apply:          {:>10.0} messages/s ({:.2} µs each), {changes} changed state",
        total as f64 / full_s,
        full_s * 1e6 / total as f64
    );
    println!(
        "apply only:                             {:>10.0} messages/s ({:.3} µs each)",
        total as f64 / apply_s,
        apply_s * 1e6 / total as f64
    );
    println!(
        "tick over all units:                    {:>10.0} units/s, {silent} changed",
        units as f64 / tick_s
    );
    println!(
        "decode_json + apply:                    {:>10.0} messages/s ({:.2} µs each, mean payload {:.0} bytes)",
        total as f64 / json_s,
        json_s * 1e6 / total as f64,
        json_bytes as f64 / total as f64
    );
    println!(
        "size_of::<UnitState>() = {size} bytes; {units} states = {:.1} MiB (+ {} bytes per UnitKey)",
        (size * units) as f64 / (1024.0 * 1024.0),
        std::mem::size_of::<UnitKey>()
    );
}
