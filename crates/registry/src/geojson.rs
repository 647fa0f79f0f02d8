//! GeoJSON as AED maps publish it: a FeatureCollection of Points whose
//! properties are OpenStreetMap tags (e.g. defikarte.ch's exports).

use std::collections::HashMap;

use crate::record::{ParseOptions, Parsed, Rejection, check_position, from_tags};

/// A file-level problem: nothing can be read.
#[derive(Debug, thiserror::Error)]
pub enum GeoJsonError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a GeoJSON FeatureCollection with a \"features\" array")]
    NotAFeatureCollection,
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "yes" } else { "no" }.into()),
        _ => None,
    }
}

/// Parses a FeatureCollection. Features are numbered from 1 in messages.
pub fn parse(bytes: &[u8], opts: &ParseOptions) -> Result<Parsed, GeoJsonError> {
    let doc: serde_json::Value = serde_json::from_slice(bytes)?;
    let features = doc
        .get("features")
        .and_then(|f| f.as_array())
        .ok_or(GeoJsonError::NotAFeatureCollection)?;
    let mut out = Parsed::default();
    for (i, f) in features.iter().enumerate() {
        let row = i + 1;
        let props = f.get("properties").and_then(|p| p.as_object());
        let mut tags: HashMap<String, String> = HashMap::new();
        if let Some(p) = props {
            for (k, v) in p {
                if let Some(s) = scalar(v) {
                    tags.insert(k.clone(), s);
                }
            }
        }
        let id = f
            .get("id")
            .and_then(scalar)
            .or_else(|| tags.get("id").cloned())
            .or_else(|| tags.get("@id").cloned())
            .or_else(|| tags.get("ref").cloned());
        let geom = f.get("geometry");
        let kind = geom.and_then(|g| g.get("type")).and_then(|t| t.as_str());
        if kind != Some("Point") {
            out.rejected.push(Rejection {
                row,
                source_id: id,
                field: "geometry".into(),
                reason: format!("expected a Point geometry, got {}", kind.unwrap_or("none")),
            });
            continue;
        }
        let coords = geom
            .and_then(|g| g.get("coordinates"))
            .and_then(|c| c.as_array());
        let num = |j: usize| coords.and_then(|c| c.get(j)).and_then(|v| v.as_f64());
        let position = check_position(num(1), num(0));
        if tags.get("emergency").is_some_and(|e| e != "defibrillator") {
            out.rejected.push(Rejection {
                row,
                source_id: id,
                field: "emergency".into(),
                reason: "not a defibrillator (emergency tag is something else)".into(),
            });
            continue;
        }
        out.push(from_tags(row, id.as_deref(), position, &tags, opts));
    }
    Ok(out)
}
