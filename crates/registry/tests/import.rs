//! Imports of the real test data and the sync rules.

use chrono::{TimeZone, Utc};
use firstlink_domain::aed::AedAccess;
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::RegionId;
use firstlink_registry::csv::{ColumnMap, CsvError};
use firstlink_registry::{
    Format, ParseOptions, Parsed, SyncError, SyncOptions, parse_file, plan_sync,
};
use firstlink_store::{Aed, AedReviewFlag, AedStatus};

const LI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/aed/liechtenstein.geojson"
);
const MC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/osm/monaco.osm.pbf"
);

fn de() -> ParseOptions {
    ParseOptions {
        default_lang: "de".into(),
        ..Default::default()
    }
}

fn li() -> Parsed {
    parse_file(
        Format::GeoJson,
        &std::fs::read(LI).unwrap(),
        &ColumnMap::default(),
        &de(),
    )
    .unwrap()
}

fn opts(source: &str, region: RegionId) -> SyncOptions {
    SyncOptions::new(
        source,
        region,
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
    )
}

/// Applies a plan to an in-memory "store".
fn apply(store: &mut Vec<Aed>, plan: &firstlink_registry::SyncPlan) {
    for a in plan.writes() {
        match store.iter_mut().find(|x| x.id == a.id) {
            Some(x) => *x = a,
            None => store.push(a),
        }
    }
}

#[test]
fn liechtenstein_geojson_imports_every_aed_with_its_fields() {
    let p = li();
    assert_eq!(p.records.len(), 222, "{:?}", p.rejected);
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    let by = |id: &str| p.records.iter().find(|r| r.source_id == id).unwrap();

    let a = by("node/7813190773");
    assert_eq!(a.row, 1);
    assert_eq!(a.name, "Mühleholzmarkt");
    assert_eq!(
        a.position,
        LatLon {
            lat: 47.1545645,
            lon: 9.5099866
        }
    );
    assert_eq!(a.access, AedAccess::Public);
    assert_eq!(a.indoor, Some(true));
    assert_eq!(a.level.as_deref(), Some("2"));
    assert_eq!(a.opening_hours.as_deref(), Some("Mo-Sa 07:00-19:00"));
    assert_eq!(a.hours_error, None);
    assert_eq!(
        a.owner_name.as_deref(),
        Some("Mühleholzmarkt, Hauswartung Immo Vogt")
    );
    assert_eq!(a.owner_contact.as_deref(), Some("+423 222 01 35"));
    assert_eq!(
        a.location_desc,
        vec![("de".to_string(), "Mühleholzmarkt. während Öffnungszeiten verfügbar, direkt an der Wand bei den Toiletten".to_string())]
    );

    // access=no: private; outdoor 24/7.
    let b = by("node/9004556000");
    assert_eq!(b.access, AedAccess::Private);
    let c = by("node/8842630422");
    assert_eq!(
        (c.indoor, c.opening_hours.as_deref()),
        (Some(false), Some("24/7"))
    );
    // A second language from defibrillator:location:en, and several contacts.
    let d = by("node/9004557475");
    assert_eq!(
        d.location_desc[1],
        ("en".to_string(), "fire station".to_string())
    );
    assert_eq!(
        d.owner_contact.as_deref(),
        Some("+423 792 22 41; gemeinde@mauren.li")
    );
    // A name tag wins; no opening_hours: unknown.
    let e = by("node/10763310417");
    assert_eq!(e.name, "Hotel Gorfion Anstalt");
    assert_eq!(
        (e.opening_hours.as_deref(), e.hours_error.as_deref()),
        (None, None)
    );

    let counts = |acc: AedAccess| p.records.iter().filter(|r| r.access == acc).count();
    // yes 143 + permissive 35 + unset 24 (default public) / no 12 + private 8.
    assert_eq!(
        (counts(AedAccess::Public), counts(AedAccess::Private)),
        (202, 20)
    );
    assert_eq!(
        p.records
            .iter()
            .filter(|r| r.opening_hours.as_deref() == Some("24/7"))
            .count(),
        126
    );
    // Every opening_hours warning names the field and the error position; the AED is kept.
    for w in &p.warnings {
        assert_eq!(w.field, "opening_hours", "{w}");
        assert!(w.message.contains("at position"), "{w}");
    }
    // All 207 opening_hours values in the file parse (including "07:30 - 17:30").
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        p.records
            .iter()
            .filter(|r| r.opening_hours.is_some())
            .count(),
        207
    );
}

#[test]
fn monaco_pbf_has_five_defibrillators() {
    let bytes = std::fs::read(MC).unwrap();
    let p = parse_file(
        Format::OsmPbf,
        &bytes,
        &ColumnMap::default(),
        &ParseOptions {
            default_lang: "fr".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.records.len(), 5);
    let ids: Vec<&str> = p.records.iter().map(|r| r.source_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "node/1857561349",
            "node/2475270782",
            "node/3760302961",
            "node/3760303373",
            "node/3760303457"
        ]
    );
    let a = &p.records[0];
    assert_eq!(
        (a.row, a.name.as_str(), a.access),
        (1, "Défibrillateur", AedAccess::Public)
    );
    assert!(
        a.position.distance_m(LatLon {
            lat: 43.7455073,
            lon: 7.4005314
        }) < 0.01
    );
    assert_eq!(
        (a.opening_hours.as_deref(), a.indoor, a.location_desc.len()),
        (None, None, 0)
    );
    assert_eq!(p.records[1].name, "AED");
    assert!(p.rejected.is_empty());
    for r in &p.records {
        assert!(r.source_id.starts_with("node/"));
        assert!(
            (43.70..43.78).contains(&r.position.lat) && (7.34..7.50).contains(&r.position.lon),
            "{r:?}"
        );
    }
}

#[test]
fn a_second_import_of_the_same_data_changes_nothing() {
    let region = RegionId::new();
    let mut store = Vec::new();
    let plan = plan_sync(&store, li(), &opts("defikarte", region)).unwrap();
    let s = plan.summary();
    assert_eq!(
        (s.created, s.updated, s.removed, s.rejected),
        (222, 0, 0, 0)
    );
    apply(&mut store, &plan);
    let again = plan_sync(&store, li(), &opts("defikarte", region)).unwrap();
    let s = again.summary();
    assert_eq!(
        (s.created, s.updated, s.removed, s.unchanged, s.flagged),
        (0, 0, 0, 222, 0),
        "{s:?}"
    );
    assert!(again.writes().is_empty());
}

#[test]
fn a_point_moved_far_goes_to_review_and_a_near_move_is_applied() {
    let region = RegionId::new();
    let mut store = Vec::new();
    let first = plan_sync(&store, li(), &opts("defikarte", region)).unwrap();
    apply(&mut store, &first);
    let mut p = li();
    let far = p
        .records
        .iter_mut()
        .find(|r| r.source_id == "node/8842630422")
        .unwrap();
    let old = far.position;
    far.position = old.offset(90.0, 250.0);
    let near = p
        .records
        .iter_mut()
        .find(|r| r.source_id == "node/9004556001")
        .unwrap();
    let near_old = near.position;
    near.position = near_old.offset(0.0, 30.0);
    let plan = plan_sync(&store, p, &opts("defikarte", region)).unwrap();
    assert_eq!(plan.summary().updated, 2);
    let f = plan
        .updated
        .iter()
        .find(|a| a.details.source_id.as_deref() == Some("node/8842630422"))
        .unwrap();
    assert_eq!(f.position, old, "a far move is not applied silently");
    assert!(
        matches!(f.details.review[..], [AedReviewFlag::Moved { distance_m, .. }] if (distance_m - 250.0).abs() < 1.0)
    );
    assert_eq!(plan.flagged.len(), 1);
    let n = plan
        .updated
        .iter()
        .find(|a| a.details.source_id.as_deref() == Some("node/9004556001"))
        .unwrap();
    assert!(n.position.distance_m(near_old) > 29.0);
}

#[test]
fn records_a_few_metres_apart_are_flagged_as_likely_duplicates() {
    let region = RegionId::new();
    let mut store = Vec::new();
    let first = plan_sync(&store, li(), &opts("defikarte", region)).unwrap();
    apply(&mut store, &first);
    // A national CSV lists one of them 2 m away under its own id.
    let csv =
        "Nummer;Breite;Laenge;Zugang\nX-1;47.1404741;9.5223637;öffentlich\nX-2;47.2;9.55;public\n";
    let map = ColumnMap::parse(&[
        "id=Nummer".into(),
        "lat=Breite".into(),
        "lon=Laenge".into(),
        "access=Zugang".into(),
    ])
    .unwrap();
    let p = parse_file(Format::Csv, csv.as_bytes(), &map, &de()).unwrap();
    // "öffentlich" is not a known access value: that row is rejected naming line and field.
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(
        (p.rejected[0].row, p.rejected[0].field.as_str()),
        (2, "access")
    );
    let csv = "Nummer;Breite;Laenge;Zugang\nX-1;47.1404741;9.5223637;yes\nX-2;47.2;9.55;public\n";
    let p = parse_file(Format::Csv, csv.as_bytes(), &map, &de()).unwrap();
    let plan = plan_sync(&store, p, &opts("national", region)).unwrap();
    assert_eq!(plan.summary().created, 2);
    let dup = plan
        .created
        .iter()
        .find(|a| a.details.source_id.as_deref() == Some("X-1"))
        .unwrap();
    let target = store
        .iter()
        .find(|a| a.details.source_id.as_deref() == Some("node/8842630422"))
        .unwrap();
    assert!(
        matches!(dup.details.review[..], [AedReviewFlag::Duplicate { of, .. }] if of == target.id),
        "{:?}",
        dup.details.review
    );
    assert_eq!(plan.flagged.len(), 1);
}

#[test]
fn a_sync_that_would_remove_more_than_half_is_refused_unless_forced() {
    let region = RegionId::new();
    let mut store = Vec::new();
    let first = plan_sync(&store, li(), &opts("defikarte", region)).unwrap();
    apply(&mut store, &first);
    let mut p = li();
    p.records.truncate(100);
    let err = plan_sync(&store, p.clone(), &opts("defikarte", region)).unwrap_err();
    assert_eq!(
        err,
        SyncError::TooManyRemovals {
            source_name: "defikarte".into(),
            would_remove: 122,
            existing: 222
        }
    );
    let mut o = opts("defikarte", region);
    o.force = true;
    let plan = plan_sync(&store, p, &o).unwrap();
    assert_eq!(plan.summary().removed, 122);
    assert!(plan.removed.iter().all(|a| a.status == AedStatus::Removed));
    // Fewer than half: removed without force. Another source is never touched.
    let mut p = li();
    p.records.truncate(200);
    let plan = plan_sync(&store, p, &opts("defikarte", region)).unwrap();
    assert_eq!(plan.summary().removed, 22);
    let plan = plan_sync(&store, Parsed::default(), &opts("other", region)).unwrap();
    assert!(plan.writes().is_empty());
}

#[test]
fn a_row_rejected_this_time_does_not_remove_the_stored_record() {
    let region = RegionId::new();
    let map = ColumnMap::default();
    let good = "id,lat,lon,name,opening_hours\nA,55.1,12.1,One,24/7\nB,55.2,12.2,Two,Mo-Fr 08:00-16:00\nC,55.3,12.3,Three,\n";
    let mut store = Vec::new();
    let first = plan_sync(
        &store,
        parse_file(Format::Csv, good.as_bytes(), &map, &de()).unwrap(),
        &opts("csv", region),
    )
    .unwrap();
    apply(&mut store, &first);
    assert_eq!(store.len(), 3);
    // B now has a broken latitude, C an opening_hours value that does not parse.
    let bad = "id,lat,lon,name,opening_hours\nA,55.1,12.1,One,24/7\nB,95.2,12.2,Two,Mo-Fr 08:00-16:00\nC,55.3,12.3,Three,Mo-Fr 8-16 uhr\n";
    let p = parse_file(Format::Csv, bad.as_bytes(), &map, &de()).unwrap();
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(
        (
            p.rejected[0].row,
            p.rejected[0].field.as_str(),
            p.rejected[0].source_id.as_deref()
        ),
        (3, "lat", Some("B"))
    );
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(
        (p.warnings[0].row, p.warnings[0].field.as_str()),
        (4, "opening_hours")
    );
    assert!(
        p.warnings[0].message.contains("at position"),
        "{}",
        p.warnings[0]
    );
    let plan = plan_sync(&store, p, &opts("csv", region)).unwrap();
    assert_eq!(
        plan.summary().removed,
        0,
        "B was rejected, not deleted at the source"
    );
    let c = plan.updated.iter().find(|a| a.name == "Three").unwrap();
    assert_eq!(c.opening_hours, None);
    assert!(c.details.hours_error.is_some());
}

#[test]
fn csv_problems_name_the_row_and_the_field() {
    let o = de();
    assert_eq!(
        parse_file(Format::Csv, b"id,lat\n1,55\n", &ColumnMap::default(), &o).unwrap_err(),
        CsvError::MissingColumn {
            field: "lon".into(),
            column: "lon".into()
        }
        .to_string()
    );
    let map = ColumnMap::parse(&["lat=Y".into()]).unwrap();
    assert!(
        parse_file(Format::Csv, b"id,lat,lon\n1,55,12\n", &map, &o)
            .unwrap_err()
            .contains("missing column \"Y\"")
    );
    assert!(ColumnMap::parse(&["colour=x".into()]).is_err());
    let text = "id,lat,lon,name,pad_expiry,indoor\n\
                1,55.1,12.1,\"Station, \"\"north\"\" side\",2027-01-31,yes\n\
                2,55.2,12.2,short row\n\
                3,abc,12.3,x,,\n\
                ,55.4,12.4,no id,,\n\
                5,55.5,12.5,bad date,31/31/2027,maybe\n\
                6,55.6,12.6,\"unterminated,,\n";
    let p = parse_file(Format::Csv, text.as_bytes(), &ColumnMap::default(), &o).unwrap();
    assert_eq!(p.records.len(), 2);
    assert_eq!(p.records[0].name, "Station, \"north\" side");
    assert_eq!(
        p.records[0].pad_expiry,
        chrono::NaiveDate::from_ymd_opt(2027, 1, 31)
    );
    let rej: Vec<(usize, &str)> = p
        .rejected
        .iter()
        .map(|r| (r.row, r.field.as_str()))
        .collect();
    assert_eq!(rej, vec![(3, "(row)"), (4, "lat"), (5, "id"), (7, "(row)")]);
    let warn: Vec<(usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.row, w.field.as_str()))
        .collect();
    assert_eq!(warn, vec![(6, "indoor"), (6, "pad_expiry")]);
}

#[test]
fn geojson_problems_name_the_feature() {
    let doc = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","id":"a","properties":{"emergency":"defibrillator"},"geometry":{"type":"Point","coordinates":[9.5,47.1]}},
        {"type":"Feature","id":"b","properties":{},"geometry":{"type":"LineString","coordinates":[[9.5,47.1],[9.6,47.2]]}},
        {"type":"Feature","id":"c","properties":{},"geometry":{"type":"Point","coordinates":[200,47.1]}},
        {"type":"Feature","id":"d","properties":{"access":"sometimes"},"geometry":{"type":"Point","coordinates":[9.5,47.1]}},
        {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[9.5,47.1]}},
        {"type":"Feature","id":"f","properties":{"opening_hours":"Mo-Fx 08:00-17:00"},"geometry":{"type":"Point","coordinates":[9.5,47.1]}}
    ]}"#;
    let p = parse_file(
        Format::GeoJson,
        doc.as_bytes(),
        &ColumnMap::default(),
        &de(),
    )
    .unwrap();
    let rej: Vec<(usize, &str)> = p
        .rejected
        .iter()
        .map(|r| (r.row, r.field.as_str()))
        .collect();
    assert_eq!(
        rej,
        vec![(2, "geometry"), (3, "lon"), (4, "access"), (5, "id")]
    );
    assert_eq!(p.records.len(), 2);
    assert!(
        p.records[1]
            .hours_error
            .as_deref()
            .is_some_and(|e| e.contains("at position"))
    );
    assert!(
        parse_file(
            Format::GeoJson,
            b"{\"type\":\"Feature\"}",
            &ColumnMap::default(),
            &de()
        )
        .is_err()
    );
    assert!(parse_file(Format::GeoJson, b"not json", &ColumnMap::default(), &de()).is_err());
    assert!(parse_file(Format::OsmPbf, b"not a pbf", &ColumnMap::default(), &de()).is_err());
}
