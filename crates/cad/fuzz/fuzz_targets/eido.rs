#![no_main]
//! Any byte string: parse_eido must return Ok or Err, never panic, hang or
//! blow the stack/heap. A successful draft must respect the domain limits.

use firstlink_cad::{EidoMapping, EidoMessage, parse_eido};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mapping = EidoMapping {
        incident_types: vec!["Medical.CardiacArrest".into()],
        internal_codes: vec!["09E01".into()],
    };
    if let Ok(EidoMessage::Incident(d) | EidoMessage::Update(d)) = parse_eido(data, &mapping) {
        let i = &d.incident;
        assert!(i.location.lat.is_finite() && (-90.0..=90.0).contains(&i.location.lat));
        assert!(i.location.lon.is_finite() && (-180.0..=180.0).contains(&i.location.lon));
        assert!(i.address.len() <= 500);
        assert!(i.notes.as_ref().is_none_or(|n| n.len() <= 2000));
        assert!(i.external_id.len() <= 128);
    }
});
