//! OpenStreetMap PBF: every node tagged `emergency=defibrillator`.

use std::collections::HashMap;
use std::io::Read;

use osmpbf::{Element, ElementReader};

use crate::record::{ParseOptions, Parsed, check_position, from_tags};

#[derive(Debug, thiserror::Error)]
#[error("cannot read the PBF file: {0}")]
pub struct PbfError(String);

/// Reads defibrillator nodes. Rows count the defibrillators found, from 1;
/// source ids are `node/<id>` as in OSM exports.
pub fn parse<R: Read + Send>(reader: R, opts: &ParseOptions) -> Result<Parsed, PbfError> {
    let mut found: Vec<(i64, f64, f64, HashMap<String, String>)> = Vec::new();
    let mut take = |id: i64, lat: f64, lon: f64, tags: &mut dyn Iterator<Item = (&str, &str)>| {
        let tags: Vec<(&str, &str)> = tags.collect();
        if tags
            .iter()
            .any(|(k, v)| *k == "emergency" && *v == "defibrillator")
        {
            found.push((
                id,
                lat,
                lon,
                tags.into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ));
        }
    };
    ElementReader::new(reader)
        .for_each(|el| match el {
            Element::DenseNode(n) => take(n.id(), n.lat(), n.lon(), &mut n.tags()),
            Element::Node(n) => take(n.id(), n.lat(), n.lon(), &mut n.tags()),
            Element::Way(_) | Element::Relation(_) => {}
        })
        .map_err(|e| PbfError(e.to_string()))?;
    found.sort_by_key(|f| f.0);
    let mut out = Parsed::default();
    for (i, (id, lat, lon, tags)) in found.into_iter().enumerate() {
        let sid = format!("node/{id}");
        out.push(from_tags(
            i + 1,
            Some(&sid),
            check_position(Some(lat), Some(lon)),
            &tags,
            opts,
        ));
    }
    Ok(out)
}
