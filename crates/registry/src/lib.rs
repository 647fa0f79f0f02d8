//! # firstlink-registry
//!
//! The AED registry without HTTP:
//! - [`geojson`], [`osm`], [`csv`]: import parsers; bad rows are reported with
//!   their row number and field ([`record::Rejection`]) and the rest goes on;
//! - [`sync`]: re-import as an idempotent sync keyed on source id, planned as a
//!   pure function over the stored records;
//! - [`live`]: the in-memory registry dispatch asks (spatial grid, opening
//!   hours in the region's time zone and holidays, claims, fetch and return);
//! - [`health`] and [`reminders`]: operator health report and owner reminder rules.

pub mod csv;
pub mod geojson;
pub mod grid;
pub mod health;
pub mod live;
pub mod osm;
pub mod record;
pub mod reminders;
pub mod sync;

pub use record::{ImportedAed, ParseOptions, Parsed, Rejection, Warning};
pub use sync::{SyncError, SyncOptions, SyncPlan, SyncSummary, plan_sync};

/// Import formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OsmPbf,
    GeoJson,
    Csv,
}

impl Format {
    /// From a name (`osm`, `pbf`, `geojson`, `json`, `csv`) or a file extension.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase();
        if s == "osm" || s == "pbf" || s.ends_with(".pbf") {
            Some(Self::OsmPbf)
        } else if s == "geojson" || s == "json" || s.ends_with(".geojson") || s.ends_with(".json") {
            Some(Self::GeoJson)
        } else if s == "csv" || s.ends_with(".csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Parses a whole file in `format`. File-level errors (not JSON, missing CSV
/// columns, unreadable PBF) stop the import before anything is written.
pub fn parse_file(
    format: Format,
    bytes: &[u8],
    map: &csv::ColumnMap,
    opts: &ParseOptions,
) -> Result<Parsed, String> {
    match format {
        Format::GeoJson => geojson::parse(bytes, opts).map_err(|e| e.to_string()),
        Format::OsmPbf => osm::parse(std::io::Cursor::new(bytes), opts).map_err(|e| e.to_string()),
        Format::Csv => csv::parse(bytes, map, opts).map_err(|e| e.to_string()),
    }
}
