#![no_main]
//! Any byte string: parse_cap must return Ok or Err, never panic, hang or
//! blow the stack/heap. A successful draft must respect the domain limits.

use firstlink_cad::{CapMapping, CapMessage, parse_cap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mapping = CapMapping {
        events: vec![
            "Earthquake".into(),
            "SEVERE THUNDERSTORM".into(),
            "Fire".into(),
            "Cardiac Arrest".into(),
        ],
        event_codes: vec![("SAME".into(), "CAE".into())],
        categories: vec![],
    };
    if let Ok(parsed) = parse_cap(data, &mapping) {
        if let CapMessage::Alert(d) | CapMessage::Update { draft: d, .. } = &parsed.message {
            let i = &d.incident;
            assert!(i.location.lat.is_finite() && (-90.0..=90.0).contains(&i.location.lat));
            assert!(i.location.lon.is_finite() && (-180.0..=180.0).contains(&i.location.lon));
            assert!(i.address.len() <= 500);
            assert!(i.notes.as_ref().is_none_or(|n| n.len() <= 2000));
            assert!(i.external_id.len() <= 128);
        }
    }
});
