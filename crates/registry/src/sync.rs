//! Re-import as an idempotent sync keyed on (source, source id), as a pure
//! function from stored records and parsed rows to a plan of writes.
//!
//! Rules:
//! - a known source id whose point moved more than `move_threshold_m` keeps
//!   its stored position and gets a [`AedReviewFlag::Moved`] for an operator;
//! - a new or moved record within `duplicate_radius_m` of another live record
//!   gets a [`AedReviewFlag::Duplicate`];
//! - records of the source missing from the input are marked removed (never
//!   deleted), unless their row was rejected this time; a sync that would
//!   remove more than half of the source's live records is refused unless
//!   forced, and a refused sync writes nothing;
//! - a sync never erases a value the source does not carry (an access code
//!   an operator entered survives an OSM re-import).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use firstlink_domain::aed::Readiness;
use firstlink_domain::ids::{AedId, RegionId};
use firstlink_store::{Aed, AedDetails, AedReviewFlag, AedStatus};
use serde::Serialize;

use crate::grid::Grid;
use crate::record::{ImportedAed, Parsed, Rejection, Warning};

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Source name, e.g. `osm`, `defikarte`, `dk-hjertestarter`.
    pub source: String,
    pub region: RegionId,
    pub now: DateTime<Utc>,
    /// Remove more than half of the source's records anyway.
    pub force: bool,
    pub move_threshold_m: f64,
    pub duplicate_radius_m: f64,
    /// Status of newly created records.
    pub new_status: AedStatus,
}

impl SyncOptions {
    pub fn new(source: &str, region: RegionId, now: DateTime<Utc>) -> Self {
        Self {
            source: source.to_string(),
            region,
            now,
            force: false,
            move_threshold_m: 100.0,
            duplicate_radius_m: 5.0,
            new_status: AedStatus::Active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flagged {
    pub id: AedId,
    pub source_id: Option<String>,
    pub flag: AedReviewFlag,
}

/// The writes a sync would make, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncPlan {
    pub created: Vec<Aed>,
    pub updated: Vec<Aed>,
    pub removed: Vec<Aed>,
    pub unchanged: usize,
    pub flagged: Vec<Flagged>,
    pub rejected: Vec<Rejection>,
    pub warnings: Vec<Warning>,
}

/// Counts for the import summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub flagged: usize,
    pub removed: usize,
    pub rejected: usize,
    pub warnings: usize,
}

impl SyncPlan {
    /// Every record to write (created, updated, removed).
    pub fn writes(&self) -> Vec<Aed> {
        self.created
            .iter()
            .chain(&self.updated)
            .chain(&self.removed)
            .cloned()
            .collect()
    }

    pub fn summary(&self) -> SyncSummary {
        SyncSummary {
            created: self.created.len(),
            updated: self.updated.len(),
            unchanged: self.unchanged,
            flagged: self.flagged.len(),
            removed: self.removed.len(),
            rejected: self.rejected.len(),
            warnings: self.warnings.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum SyncError {
    #[error(
        "refused: the sync would remove {would_remove} of the {existing} live records from source {source_name:?} (more than half); nothing was changed. Check the input, or pass --force"
    )]
    TooManyRemovals {
        source_name: String,
        would_remove: usize,
        existing: usize,
    },
}

fn apply(details: &mut AedDetails, a: &ImportedAed) {
    fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
        if src.is_some() {
            dst.clone_from(src);
        }
    }
    set(&mut details.indoor, &a.indoor);
    set(&mut details.level, &a.level);
    if !a.location_desc.is_empty() {
        details.location_desc.clone_from(&a.location_desc);
    }
    set(&mut details.locked, &a.locked);
    set(&mut details.access_code, &a.access_code);
    set(&mut details.owner_name, &a.owner_name);
    set(&mut details.owner_contact, &a.owner_contact);
    set(&mut details.manufacturer, &a.manufacturer);
    set(&mut details.model, &a.model);
    set(&mut details.serial, &a.serial);
    set(&mut details.pad_expiry, &a.pad_expiry);
    set(&mut details.battery_expiry, &a.battery_expiry);
    set(&mut details.last_maintenance, &a.last_maintenance);
}

fn new_record(a: &ImportedAed, o: &SyncOptions) -> Aed {
    let mut details = AedDetails {
        source: Some(o.source.clone()),
        source_id: Some(a.source_id.clone()),
        hours_error: a.hours_error.clone(),
        ..Default::default()
    };
    apply(&mut details, a);
    Aed {
        id: AedId::new(),
        region_id: o.region,
        name: a.name.clone(),
        position: a.position,
        access: a.access,
        opening_hours: a.opening_hours.clone(),
        readiness: Readiness::Unmonitored,
        status: o.new_status,
        details,
        updated_at: o.now,
    }
}

/// Plans a sync of `parsed` (from `opts.source`) against the region's stored
/// records `existing`. Pure: nothing is written.
pub fn plan_sync(
    existing: &[Aed],
    parsed: Parsed,
    opts: &SyncOptions,
) -> Result<SyncPlan, SyncError> {
    let Parsed {
        records,
        mut rejected,
        warnings,
    } = parsed;
    let mut plan = SyncPlan {
        warnings,
        ..Default::default()
    };

    let by_key: HashMap<&str, &Aed> = existing
        .iter()
        .filter(|a| {
            a.region_id == opts.region && a.details.source.as_deref() == Some(opts.source.as_str())
        })
        .filter_map(|a| Some((a.details.source_id.as_deref()?, a)))
        .collect();

    let mut seen: HashMap<String, usize> = HashMap::new();
    // Records whose position is new (created or moved within the threshold): duplicate candidates.
    let mut placed: Vec<Aed> = Vec::new();
    for a in &records {
        if let Some(first) = seen.get(&a.source_id) {
            rejected.push(Rejection {
                row: a.row,
                source_id: Some(a.source_id.clone()),
                field: "id".into(),
                reason: format!(
                    "the same source id appears again (first at row {first}); this row is skipped"
                ),
            });
            continue;
        }
        seen.insert(a.source_id.clone(), a.row);
        match by_key.get(a.source_id.as_str()) {
            None => placed.push(new_record(a, opts)),
            Some(old) => {
                let mut m = (*old).clone();
                m.name.clone_from(&a.name);
                m.access = a.access;
                if a.opening_hours.is_some() {
                    m.opening_hours.clone_from(&a.opening_hours);
                }
                if a.opening_hours.is_some() || a.hours_error.is_some() {
                    m.details.hours_error.clone_from(&a.hours_error);
                    if a.hours_error.is_some() {
                        m.opening_hours = None;
                    }
                }
                apply(&mut m.details, a);
                if m.status == AedStatus::Removed {
                    m.status = opts.new_status;
                }
                let d = old.position.distance_m(a.position);
                let mut moved_pos = false;
                if d > opts.move_threshold_m {
                    let flag = AedReviewFlag::Moved {
                        lat: a.position.lat,
                        lon: a.position.lon,
                        distance_m: d.round(),
                        source: Some(opts.source.clone()),
                    };
                    if !m.details.review.contains(&flag) {
                        m.details
                            .review
                            .retain(|f| !matches!(f, AedReviewFlag::Moved { .. }));
                        m.details.review.push(flag.clone());
                        plan.flagged.push(Flagged {
                            id: m.id,
                            source_id: Some(a.source_id.clone()),
                            flag,
                        });
                    }
                } else if m.position != a.position {
                    m.position = a.position;
                    m.details
                        .review
                        .retain(|f| !matches!(f, AedReviewFlag::Moved { .. }));
                    moved_pos = true;
                }
                if m == **old {
                    plan.unchanged += 1;
                } else {
                    m.updated_at = opts.now;
                    if moved_pos {
                        placed.push(m);
                    } else {
                        plan.updated.push(m);
                    }
                }
            }
        }
    }

    // Removals: the source no longer lists them (rows rejected this time are kept).
    let rejected_ids: HashSet<&str> = rejected
        .iter()
        .filter_map(|r| r.source_id.as_deref())
        .collect();
    let live: Vec<&&Aed> = by_key
        .values()
        .filter(|a| a.status != AedStatus::Removed)
        .collect();
    let mut removed: Vec<Aed> = live
        .iter()
        .filter(|a| {
            let sid = a.details.source_id.as_deref().unwrap_or_default();
            !seen.contains_key(sid) && !rejected_ids.contains(sid)
        })
        .map(|a| {
            let mut r = (***a).clone();
            r.status = AedStatus::Removed;
            r.updated_at = opts.now;
            r
        })
        .collect();
    if !opts.force && removed.len() * 2 > live.len() {
        return Err(SyncError::TooManyRemovals {
            source_name: opts.source.clone(),
            would_remove: removed.len(),
            existing: live.len(),
        });
    }
    removed.sort_by_key(|a| a.id);

    // Likely duplicates: placed records near any other live record.
    let removed_ids: HashSet<AedId> = removed.iter().map(|a| a.id).collect();
    let placed_ids: HashSet<AedId> = placed.iter().map(|a| a.id).collect();
    let mut pool: Vec<(AedId, firstlink_domain::geo::LatLon)> = existing
        .iter()
        .filter(|a| a.region_id == opts.region && a.status != AedStatus::Removed)
        .filter(|a| !removed_ids.contains(&a.id) && !placed_ids.contains(&a.id))
        .map(|a| (a.id, a.position))
        .collect();
    let cell = opts.duplicate_radius_m.max(1.0) * 4.0;
    let mut grid: Grid<usize> = Grid::new(cell);
    for (i, (_, p)) in pool.iter().enumerate() {
        grid.insert(i, *p);
    }
    for m in &mut placed {
        let mut best: Option<(AedId, f64)> = None;
        grid.for_each_near(m.position, opts.duplicate_radius_m, |i| {
            let (id, p) = pool[i];
            let d = p.distance_m(m.position);
            if id != m.id && d <= opts.duplicate_radius_m && best.is_none_or(|(_, bd)| d < bd) {
                best = Some((id, d));
            }
        });
        if let Some((of, d)) = best {
            let flag = AedReviewFlag::Duplicate {
                of,
                distance_m: (d * 10.0).round() / 10.0,
            };
            if !m
                .details
                .review
                .iter()
                .any(|f| matches!(f, AedReviewFlag::Duplicate { of: o, .. } if *o == of))
            {
                m.details.review.push(flag.clone());
                plan.flagged.push(Flagged {
                    id: m.id,
                    source_id: m.details.source_id.clone(),
                    flag,
                });
            }
        }
        grid.insert(pool.len(), m.position);
        pool.push((m.id, m.position));
    }
    let known: HashSet<AedId> = by_key.values().map(|a| a.id).collect();
    for m in placed {
        if known.contains(&m.id) {
            plan.updated.push(m);
        } else {
            plan.created.push(m);
        }
    }
    plan.removed = removed;
    plan.rejected = rejected;
    Ok(plan)
}
