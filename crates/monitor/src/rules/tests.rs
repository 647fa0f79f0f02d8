use super::*;

#[test]
fn unit_state_is_small() {
    let size = std::mem::size_of::<UnitState>();
    assert!(size < 256, "UnitState is {size} bytes");
}

#[test]
fn readiness_priority() {
    use Severity::*;
    let r = |s: &[Severity]| {
        let v: Vec<_> = s.iter().map(|s| (Cause::Tamper, *s)).collect();
        readiness_of(&v)
    };
    assert_eq!(r(&[]), Readiness::Ready);
    assert_eq!(r(&[Info]), Readiness::Ready);
    assert_eq!(r(&[Info, MaintenanceDue]), Readiness::MaintenanceDue);
    assert_eq!(r(&[MaintenanceDue, Unknown]), Readiness::Unknown);
    assert_eq!(r(&[Unknown, AtRisk, MaintenanceDue]), Readiness::AtRisk);
    assert_eq!(r(&[AtRisk, NotReady]), Readiness::NotReady);
    assert_eq!(r(&[NotReady, Missing, Unknown]), Readiness::Missing);
}

#[test]
fn cause_codes_are_unique_snake_case_and_match_serde() {
    let mut seen = std::collections::HashSet::new();
    for c in Cause::ALL {
        assert!(seen.insert(c.code()));
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::json!(c.code())
        );
    }
    assert_eq!(Cause::ALL.len(), 14);
    for (i, c) in Cause::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i);
    }
}

#[test]
fn state_serde_round_trips() {
    let rules = ModelRules::default();
    let ctx = UnitCtx {
        rules: &rules,
        registered: None,
        interval_s: 600,
        pad_expiry: None,
        battery_expiry: None,
    };
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let mut s = UnitState::new(t0);
    let r = Reading {
        at: t0,
        seq: None,
        signals: vec![
            Signal::StatusLight(StatusLight::Fault),
            Signal::TemperatureC(55.0),
            Signal::Tamper(true),
        ],
    };
    s.apply(&ctx, &r, t0).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: UnitState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert!(
        json.contains("\"active\":[\"status_fault\",\"temperature_high\",\"tamper\"]"),
        "{json}"
    );
}

#[test]
fn model_rules_defaults_and_partial_config() {
    let r: ModelRules = serde_json::from_str(r#"{"temp_max_c": 40}"#).unwrap();
    assert_eq!(r.temp_max_c, 40.0);
    assert_eq!(r.temp_grace_s, 1800);
    assert!(ModelRules::default().validate().is_ok());
    assert!(
        ModelRules {
            temp_min_c: 50.0,
            ..ModelRules::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        ModelRules {
            temp_hysteresis_c: 30.0,
            ..ModelRules::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        ModelRules {
            moved_m: f32::NAN,
            ..ModelRules::default()
        }
        .validate()
        .is_err()
    );
}
