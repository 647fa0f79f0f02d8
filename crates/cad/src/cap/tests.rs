use super::*;

#[test]
fn datetime_rules_per_version() {
    let ok12 = "2003-06-11T20:56:00-07:00";
    assert!(parse_datetime("sent", ok12, CapVersion::V1_2).is_ok());
    for bad in [
        "2003-06-11T20:56:00Z",
        "2003-06-11T20:56:00",
        "2003-06-11 20:56:00-07:00",
        "2003-06-11T20:56:00.5-07:00",
        "2003-13-11T20:56:00-07:00",
        "",
        "2003-06-11T20:56:00-0700",
    ] {
        assert!(
            parse_datetime("sent", bad, CapVersion::V1_2).is_err(),
            "{bad}"
        );
    }
    assert!(parse_datetime("sent", "2003-06-11T20:56:00Z", CapVersion::V1_1).is_ok());
    assert!(parse_datetime("sent", "2003-06-11T20:56:00.25+01:00", CapVersion::V1_1).is_ok());
    assert!(parse_datetime("sent", "2003-06-11T20:56:00", CapVersion::V1_1).is_err());
    let t = parse_datetime("sent", "2012-05-02T23:21:04-00:00", CapVersion::V1_2).unwrap();
    assert_eq!(t.to_rfc3339(), "2012-05-02T23:21:04+00:00");
}

#[test]
fn geometry() {
    let c = parse_circle("32.9525,-115.5527 0").unwrap();
    assert_eq!((c.lat, c.lon), (32.9525, -115.5527));
    assert!(parse_circle("32.9525,-115.5527").is_err());
    assert!(parse_circle("32.9,-115.5 -1").is_err());
    assert!(parse_circle("91,0 1").is_err());
    assert!(parse_circle("NaN,0 1").is_err());
    assert!(parse_polygon("1,1 1,2 2,2 1,1").is_ok());
    assert!(parse_polygon("1,1 1,2 1,1").is_err());
    assert!(parse_polygon("1,1 1,2 2,2 2,1").is_err());
    assert!(parse_polygon("+40.85,-118.09, +40.86,-118.09, 1,1 1,1").is_err());
}

#[test]
fn references() {
    let r = parse_references(
        " a@b,ID-1,2003-06-11T20:30:00-07:00\n c,d,2003-06-11T20:30:00+00:00 ",
        CapVersion::V1_2,
    )
    .unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].key(), "a@b|ID-1");
    assert_eq!(
        parse_references("  ", CapVersion::V1_2),
        Err(CapError::EmptyReferences)
    );
    assert!(matches!(
        parse_references("a,b", CapVersion::V1_2),
        Err(CapError::InvalidReference { .. })
    ));
    assert!(matches!(
        parse_references("a,b,c,d", CapVersion::V1_2),
        Err(CapError::InvalidReference { .. })
    ));
    assert!(matches!(
        parse_references(",b,2003-06-11T20:30:00-07:00", CapVersion::V1_2),
        Err(CapError::InvalidReference { .. })
    ));
}
