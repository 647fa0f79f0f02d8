//! CSV from national registries, with a column mapping.
//!
//! A mapping names, for each of our fields, the column that holds it
//! (`lat=Breitengrad`). Field names are the OpenStreetMap-style keys that
//! [`crate::record::from_tags`] reads, plus `id`, `lat` and `lon`.
//! Delimiter `,` or `;` (guessed from the header), quotes as in RFC 4180.

use std::collections::HashMap;

use crate::record::{ParseOptions, Parsed, Rejection, check_position, from_tags};

/// Fields a mapping may name.
pub const FIELDS: &[&str] = &[
    "id",
    "lat",
    "lon",
    "name",
    "access",
    "opening_hours",
    "indoor",
    "level",
    "defibrillator:location",
    "description",
    "locked",
    "access_code",
    "operator",
    "phone",
    "email",
    "manufacturer",
    "model",
    "serial",
    "pad_expiry",
    "battery_expiry",
    "last_maintenance",
];

/// Which column holds which field.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// field → column header, as given explicitly.
    pub explicit: Vec<(String, String)>,
}

/// A file-level problem: nothing is imported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsvError {
    #[error("the file is empty (no header line)")]
    Empty,
    #[error("the file is not UTF-8 text (at byte {0})")]
    NotUtf8(usize),
    #[error("missing column {column:?} (needed for field {field})")]
    MissingColumn { field: String, column: String },
    #[error("unknown field {0:?} in the column mapping (known: {list})", list = FIELDS.join(", "))]
    UnknownField(String),
    #[error("bad mapping {0:?}: expected field=column")]
    BadMapping(String),
}

impl ColumnMap {
    /// Parses `field=column` pairs.
    pub fn parse(pairs: &[String]) -> Result<Self, CsvError> {
        let mut explicit = Vec::new();
        for p in pairs {
            let (f, c) = p
                .split_once('=')
                .ok_or_else(|| CsvError::BadMapping(p.clone()))?;
            let (f, c) = (f.trim(), c.trim());
            if !FIELDS.contains(&f) {
                return Err(CsvError::UnknownField(f.to_string()));
            }
            if c.is_empty() {
                return Err(CsvError::BadMapping(p.clone()));
            }
            explicit.push((f.to_string(), c.to_string()));
        }
        Ok(Self { explicit })
    }
}

/// Splits CSV text into records with the line each starts on (1-based).
/// An unterminated quote makes the last record an error.
fn records(text: &str, delim: char) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut field = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            c if c == delim => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                out.push((start_line, Ok(std::mem::take(&mut row))));
                line += 1;
                start_line = line;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        out.push((
            start_line,
            Err("a quoted field is not closed before the end of the file".into()),
        ));
    } else if any || !field.is_empty() || !row.is_empty() {
        row.push(field);
        out.push((start_line, Ok(row)));
    }
    out
}

/// Parses CSV with `map`; unmapped fields use a column of the same name when
/// the header has one. Rows are numbered by the file line they start on
/// (the header is line 1).
pub fn parse(bytes: &[u8], map: &ColumnMap, opts: &ParseOptions) -> Result<Parsed, CsvError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CsvError::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().ok_or(CsvError::Empty)?;
    let delim = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut recs = records(text, delim).into_iter();
    let header = match recs.next() {
        Some((_, Ok(h))) if h.iter().any(|c| !c.trim().is_empty()) => h,
        _ => return Err(CsvError::Empty),
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    // field -> column index
    let mut fields: Vec<(String, usize)> = Vec::new();
    for (f, c) in &map.explicit {
        let i = col(c).ok_or_else(|| CsvError::MissingColumn {
            field: f.clone(),
            column: c.clone(),
        })?;
        fields.push((f.clone(), i));
    }
    for f in FIELDS {
        if !fields.iter().any(|(g, _)| g == f)
            && let Some(i) = col(f)
        {
            fields.push(((*f).to_string(), i));
        }
    }
    for required in ["id", "lat", "lon"] {
        if !fields.iter().any(|(f, _)| f == required) {
            return Err(CsvError::MissingColumn {
                field: required.into(),
                column: required.into(),
            });
        }
    }
    let mut out = Parsed::default();
    for (line, rec) in recs {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.rejected.push(Rejection {
                    row: line,
                    source_id: None,
                    field: "(row)".into(),
                    reason: e,
                });
                continue;
            }
        };
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut tags: HashMap<String, String> = HashMap::new();
        for (f, i) in &fields {
            if let Some(v) = rec.get(*i) {
                tags.insert(f.clone(), v.clone());
            }
        }
        let id = tags
            .get("id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if rec.len() != header.len() {
            out.rejected.push(Rejection {
                row: line,
                source_id: id,
                field: "(row)".into(),
                reason: format!("has {} fields, the header has {}", rec.len(), header.len()),
            });
            continue;
        }
        let num = |k: &str| -> Result<Option<f64>, (&'static str, String)> {
            let key: &'static str = if k == "lat" { "lat" } else { "lon" };
            match tags.get(k).map(|s| s.trim()) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .replace(',', ".")
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| (key, format!("{s:?} is not a number"))),
            }
        };
        let position = match (num("lat"), num("lon")) {
            (Ok(lat), Ok(lon)) => check_position(lat, lon),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        out.push(from_tags(line, id.as_deref(), position, &tags, opts));
    }
    Ok(out)
}
