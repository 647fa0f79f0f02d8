//! The in-memory spatial index of volunteers' latest positions.
//!
//! A uniform grid of cells about 250 m across. Each cell holds a vector of
//! 16-byte entries; each volunteer has a fixed slot that knows its cell and
//! place in it, so a position update is two hash look-ups and at most one
//! `swap_remove`. A search walks the cells ring by ring outwards from the
//! patient and stops as soon as the `k` nearest matches are certain.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::geo::LatLon;
use crate::ids::{RegionId, VolunteerId};
use crate::volunteer::QuietHours;

const CELL_LAT_DEG: f64 = 0.0025;
const CELL_LON_DEG: f64 = 0.004;
const METRES_PER_DEG: f64 = 111_195.08; // 2πR / 360 with R = 6,371,008.8 m
const E7: f64 = 1e7;
const NO_CELL: u32 = u32::MAX;

const FLAG_ELIGIBLE: u8 = 1;
const FLAG_HOMES: u8 = 2;
const FLAG_BUSY: u8 = 4;
const FLAG_QUIET: u8 = 8;

/// Regions one index can tell apart (a bit each in a [`RegionMask`]).
pub const MAX_REGIONS: usize = 128;
/// The tag of a volunteer without a region, or of a region past
/// [`MAX_REGIONS`]: found only by searches over every region.
const NO_REGION: u16 = u16::MAX;

/// The regions a search may return volunteers of.
///
/// Regions are partitions: a mission searches its own region's volunteers
/// and those of neighbours that agreed, never the others'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionMask(u128);

impl RegionMask {
    /// Every volunteer, with a region or not (the simulator, benchmarks).
    pub const ALL: RegionMask = RegionMask(u128::MAX);
    /// No volunteer at all.
    pub const NONE: RegionMask = RegionMask(0);

    fn admits(self, tag: u16) -> bool {
        if tag == NO_REGION {
            self == Self::ALL
        } else {
            self.0 & (1u128 << tag) != 0
        }
    }
}

/// A hasher for keys that are already random (UUIDs, packed cell numbers):
/// mixes the last written word with one multiply instead of running SipHash.
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(26) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Fast = BuildHasherDefault<MixHasher>;

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Entry {
    slot: u32,
    lat_e7: i32,
    lon_e7: i32,
    /// Unix seconds of the position fix.
    at: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: VolunteerId,
    cell: u32,
    pos: u32,
    quiet_start: u16,
    quiet_end: u16,
    region: u16,
    flags: u8,
}

/// What a volunteer's slot knows of their profile, refreshed when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VolunteerFlags {
    /// Verified, consented, trained, not suspended, availability on.
    pub eligible: bool,
    /// Cleared for private homes, not only public places.
    pub homes: bool,
    pub quiet: Option<QuietHours>,
    /// The volunteer's region; `None` only where regions do not matter.
    pub region: Option<RegionId>,
}

/// Which volunteers a search may return.
#[derive(Debug, Clone, Copy)]
pub struct CandidateFilter {
    /// Positions fixed before this Unix second are stale.
    pub fresh_since: u32,
    /// Local minute of the day, for quiet hours.
    pub minute_of_day: u16,
    /// Only volunteers cleared for homes.
    pub homes_required: bool,
    /// Only volunteers of these regions.
    pub regions: RegionMask,
}

/// A volunteer found near a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: VolunteerId,
    pub position: LatLon,
    /// Straight-line distance to the search centre, metres.
    pub distance_m: f64,
    /// Unix seconds of the position fix.
    pub at: u32,
}

/// Latest positions of every volunteer in one or more regions.
#[derive(Default)]
pub struct VolunteerIndex {
    slots: Vec<Slot>,
    free: Vec<u32>,
    ids: HashMap<VolunteerId, u32, Fast>,
    cell_ids: HashMap<u64, u32, Fast>,
    cells: Vec<Vec<Entry>>,
    positioned: usize,
    /// The regions seen, by tag (their position here).
    regions: Vec<RegionId>,
}

fn cell_of(lat_e7: i32, lon_e7: i32) -> (i32, i32) {
    let lat = f64::from(lat_e7) / E7;
    let lon = f64::from(lon_e7) / E7;
    (
        (lat / CELL_LAT_DEG).floor() as i32,
        (lon / CELL_LON_DEG).floor() as i32,
    )
}

fn cell_key(ci: i32, cj: i32) -> u64 {
    (u64::from(ci as u32) << 32) | u64::from(cj as u32)
}

fn to_e7(p: LatLon) -> (i32, i32) {
    ((p.lat * E7).round() as i32, (p.lon * E7).round() as i32)
}

impl VolunteerIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserve room for `n` volunteers (avoids rehashing during a bulk load).
    pub fn with_capacity(n: usize) -> Self {
        let mut s = Self::default();
        s.slots.reserve_exact(n);
        s.ids.reserve(n);
        s
    }

    /// Number of volunteers known.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of volunteers with a position.
    pub fn positioned(&self) -> usize {
        self.positioned
    }

    /// Registers a volunteer, or refreshes their profile flags.
    pub fn upsert(&mut self, id: VolunteerId, f: VolunteerFlags) {
        let busy = self
            .ids
            .get(&id)
            .map(|&s| self.slots[s as usize].flags & FLAG_BUSY)
            .unwrap_or(0);
        let mut flags = busy;
        if f.eligible {
            flags |= FLAG_ELIGIBLE;
        }
        if f.homes {
            flags |= FLAG_HOMES;
        }
        let (qs, qe) = match f.quiet {
            Some(q) => {
                flags |= FLAG_QUIET;
                (q.start_min, q.end_min)
            }
            None => (0, 0),
        };
        let region = f.region.map_or(NO_REGION, |r| self.tag(r));
        if let Some(&s) = self.ids.get(&id) {
            let slot = &mut self.slots[s as usize];
            slot.flags = flags;
            slot.quiet_start = qs;
            slot.quiet_end = qe;
            slot.region = region;
            return;
        }
        let slot = Slot {
            id,
            cell: NO_CELL,
            pos: 0,
            quiet_start: qs,
            quiet_end: qe,
            region,
            flags,
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.ids.insert(id, s);
    }

    /// The tag of a region, given on first sight; past [`MAX_REGIONS`] the
    /// region's volunteers are found by no region's search (fail closed).
    fn tag(&mut self, r: RegionId) -> u16 {
        if let Some(t) = self.regions.iter().position(|x| *x == r) {
            return t as u16;
        }
        if self.regions.len() >= MAX_REGIONS {
            return NO_REGION;
        }
        self.regions.push(r);
        (self.regions.len() - 1) as u16
    }

    /// The mask of searches over `regions`' volunteers.
    pub fn mask_of(&self, regions: &[RegionId]) -> RegionMask {
        let mut m = 0u128;
        for r in regions {
            if let Some(t) = self.regions.iter().position(|x| x == r) {
                m |= 1u128 << t;
            }
        }
        RegionMask(m)
    }

    /// The region a volunteer belongs to, as the index knows it.
    pub fn region_of(&self, id: VolunteerId) -> Option<RegionId> {
        let &s = self.ids.get(&id)?;
        let t = self.slots[s as usize].region;
        self.regions.get(usize::from(t)).copied()
    }

    /// Forgets a volunteer entirely.
    pub fn remove(&mut self, id: VolunteerId) {
        if let Some(s) = self.ids.remove(&id) {
            self.unplace(s);
            self.free.push(s);
        }
    }

    /// Marks a volunteer as taken by a mission (or free again).
    pub fn set_busy(&mut self, id: VolunteerId, busy: bool) {
        if let Some(&s) = self.ids.get(&id) {
            let f = &mut self.slots[s as usize].flags;
            if busy {
                *f |= FLAG_BUSY
            } else {
                *f &= !FLAG_BUSY
            }
        }
    }

    pub fn is_busy(&self, id: VolunteerId) -> bool {
        self.ids
            .get(&id)
            .is_some_and(|&s| self.slots[s as usize].flags & FLAG_BUSY != 0)
    }

    /// Stores the latest position; an older fix than the one held is ignored.
    /// Returns false for an unknown volunteer or a stale fix.
    pub fn set_position(&mut self, id: VolunteerId, p: LatLon, at_unix: u32) -> bool {
        let Some(&s) = self.ids.get(&id) else {
            return false;
        };
        let (lat_e7, lon_e7) = to_e7(p);
        let (ci, cj) = cell_of(lat_e7, lon_e7);
        let key = cell_key(ci, cj);
        let slot = self.slots[s as usize];
        if slot.cell != NO_CELL {
            let e = &mut self.cells[slot.cell as usize][slot.pos as usize];
            if e.at > at_unix {
                return false;
            }
            // Most updates stay in their cell: compare cells by arithmetic on
            // the entry already in hand, without a hash look-up.
            if cell_of(e.lat_e7, e.lon_e7) == (ci, cj) {
                *e = Entry {
                    slot: s,
                    lat_e7,
                    lon_e7,
                    at: at_unix,
                };
                return true;
            }
            self.unplace(s);
        }
        let next = self.cells.len() as u32;
        let c = *self.cell_ids.entry(key).or_insert(next);
        if c == next {
            self.cells.push(Vec::new());
        }
        let cell = &mut self.cells[c as usize];
        if cell.len() == cell.capacity() {
            // Grow by half, from one: most cells hold a handful of volunteers,
            // and the default growth (to 4, then doubling) wastes memory on them.
            cell.reserve_exact(cell.len() / 2 + 1);
        }
        cell.push(Entry {
            slot: s,
            lat_e7,
            lon_e7,
            at: at_unix,
        });
        let slot = &mut self.slots[s as usize];
        slot.cell = c;
        slot.pos = (cell.len() - 1) as u32;
        self.positioned += 1;
        true
    }

    /// Deletes a volunteer's position (privacy, or logged out).
    pub fn clear_position(&mut self, id: VolunteerId) {
        if let Some(&s) = self.ids.get(&id) {
            self.unplace(s);
        }
    }

    fn unplace(&mut self, s: u32) {
        let slot = self.slots[s as usize];
        if slot.cell == NO_CELL {
            return;
        }
        let cell = &mut self.cells[slot.cell as usize];
        cell.swap_remove(slot.pos as usize);
        if let Some(moved) = cell.get(slot.pos as usize) {
            self.slots[moved.slot as usize].pos = slot.pos;
        }
        self.slots[s as usize].cell = NO_CELL;
        self.positioned -= 1;
    }

    /// The latest position of a volunteer and its Unix time.
    pub fn position(&self, id: VolunteerId) -> Option<(LatLon, u32)> {
        let &s = self.ids.get(&id)?;
        let slot = self.slots[s as usize];
        if slot.cell == NO_CELL {
            return None;
        }
        let e = self.cells[slot.cell as usize][slot.pos as usize];
        Some((
            LatLon {
                lat: f64::from(e.lat_e7) / E7,
                lon: f64::from(e.lon_e7) / E7,
            },
            e.at,
        ))
    }

    /// Removes every position fixed before `cutoff_unix`; returns whose.
    pub fn expire_before(&mut self, cutoff_unix: u32) -> Vec<VolunteerId> {
        let stale: Vec<u32> = self
            .cells
            .iter()
            .flatten()
            .filter(|e| e.at < cutoff_unix)
            .map(|e| e.slot)
            .collect();
        stale
            .into_iter()
            .map(|s| {
                self.unplace(s);
                self.slots[s as usize].id
            })
            .collect()
    }

    /// The `k` nearest volunteers within `radius_m` (straight line) of
    /// `centre` who pass `filter` and are not rejected by `skip`, nearest first.
    pub fn nearest(
        &self,
        centre: LatLon,
        radius_m: f64,
        k: usize,
        filter: &CandidateFilter,
        skip: &dyn Fn(VolunteerId) -> bool,
    ) -> Vec<Candidate> {
        if k == 0 || radius_m.is_nan() || radius_m <= 0.0 {
            return Vec::new();
        }
        let (clat_e7, clon_e7) = to_e7(centre);
        let (ci, cj) = cell_of(clat_e7, clon_e7);
        let coslat = centre.lat.to_radians().cos().max(0.01);
        let cell_h = CELL_LAT_DEG * METRES_PER_DEG;
        let cell_w = CELL_LON_DEG * METRES_PER_DEG * coslat;
        let ri = (radius_m / cell_h).ceil() as i32 + 1;
        let rj = (radius_m / cell_w).ceil() as i32 + 1;
        let max_ring = ri.max(rj);
        let min_cell = cell_h.min(cell_w);
        let r2 = radius_m * radius_m;
        // Max-heap by distance of the best k so far, kept as a sorted small vector.
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        let ky = METRES_PER_DEG / E7;
        let kx = ky * coslat;
        for ring in 0..=max_ring {
            let mut visit = |di: i32, dj: i32| {
                if di.abs() > ri || dj.abs() > rj {
                    return;
                }
                let Some(&c) = self.cell_ids.get(&cell_key(ci + di, cj + dj)) else {
                    return;
                };
                for e in &self.cells[c as usize] {
                    let dy = f64::from(e.lat_e7 - clat_e7) * ky;
                    let dx = f64::from(e.lon_e7.wrapping_sub(clon_e7)) * kx;
                    let d2 = dx * dx + dy * dy;
                    if d2 > r2 || (best.len() == k && d2 >= best[k - 1].0) {
                        continue;
                    }
                    if e.at < filter.fresh_since {
                        continue;
                    }
                    let slot = &self.slots[e.slot as usize];
                    if slot.flags & (FLAG_ELIGIBLE | FLAG_BUSY) != FLAG_ELIGIBLE {
                        continue;
                    }
                    if !filter.regions.admits(slot.region) {
                        continue;
                    }
                    if filter.homes_required && slot.flags & FLAG_HOMES == 0 {
                        continue;
                    }
                    if slot.flags & FLAG_QUIET != 0 {
                        let q = QuietHours {
                            start_min: slot.quiet_start,
                            end_min: slot.quiet_end,
                        };
                        if q.contains(filter.minute_of_day) {
                            continue;
                        }
                    }
                    if skip(slot.id) {
                        continue;
                    }
                    let at = best.partition_point(|&(bd, _)| bd <= d2);
                    best.insert(at, (d2, e.slot));
                    best.truncate(k);
                }
            };
            if ring == 0 {
                visit(0, 0);
            } else {
                for d in -ring..=ring {
                    visit(-ring, d);
                    visit(ring, d);
                }
                for d in (-ring + 1)..ring {
                    visit(d, -ring);
                    visit(d, ring);
                }
            }
            // Every cell of the next ring is at least `ring` whole cells away.
            let next_min = f64::from(ring) * min_cell;
            if best.len() == k && best[k - 1].0 <= next_min * next_min {
                break;
            }
        }
        best.into_iter()
            .map(|(d2, s)| {
                let slot = self.slots[s as usize];
                let e = self.cells[slot.cell as usize][slot.pos as usize];
                Candidate {
                    id: slot.id,
                    position: LatLon {
                        lat: f64::from(e.lat_e7) / E7,
                        lon: f64::from(e.lon_e7) / E7,
                    },
                    distance_m: d2.sqrt(),
                    at: e.at,
                }
            })
            .collect()
    }

    /// An estimate of the heap memory held, in bytes.
    pub fn heap_bytes(&self) -> usize {
        let entries: usize = self
            .cells
            .iter()
            .map(|c| c.capacity() * size_of::<Entry>())
            .sum();
        entries
            + self.cells.capacity() * size_of::<Vec<Entry>>()
            + self.slots.capacity() * size_of::<Slot>()
            + self.free.capacity() * 4
            + self.ids.capacity() * (size_of::<(VolunteerId, u32)>() + 1)
            + self.cell_ids.capacity() * (size_of::<(u64, u32)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ELIGIBLE: VolunteerFlags = VolunteerFlags {
        eligible: true,
        homes: true,
        quiet: None,
        region: None,
    };

    fn filter() -> CandidateFilter {
        CandidateFilter {
            fresh_since: 0,
            minute_of_day: 12 * 60,
            homes_required: false,
            regions: RegionMask::ALL,
        }
    }

    fn brute(pts: &[(VolunteerId, LatLon)], c: LatLon, r: f64, k: usize) -> Vec<VolunteerId> {
        let mut v: Vec<(f64, VolunteerId)> = pts
            .iter()
            .map(|(id, p)| (c.distance_m(*p), *id))
            .filter(|(d, _)| *d <= r)
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn nearest_matches_brute_force() {
        let centre = LatLon::new(55.6761, 12.5683).unwrap();
        let mut idx = VolunteerIndex::new();
        let mut pts = Vec::new();
        for i in 0..2_000u32 {
            let id = VolunteerId::new();
            let p = centre.offset(
                f64::from(i * 37 % 360),
                f64::from(i % 97) * 31.0 + f64::from(i % 7),
            );
            idx.upsert(id, ELIGIBLE);
            assert!(idx.set_position(id, p, 100));
            pts.push((id, p));
        }
        for (r, k) in [(1_300.0, 30), (500.0, 5), (3_000.0, 100), (50.0, 10)] {
            let got: Vec<_> = idx
                .nearest(centre, r, k, &filter(), &|_| false)
                .iter()
                .map(|c| c.id)
                .collect();
            let want = brute(&pts, centre, r, k);
            assert_eq!(got.len(), want.len(), "r={r} k={k}");
            // Distances agree to well under a metre; ties may order differently.
            let gd: Vec<f64> = got
                .iter()
                .map(|id| centre.distance_m(pts.iter().find(|p| p.0 == *id).unwrap().1))
                .collect();
            let wd: Vec<f64> = want
                .iter()
                .map(|id| centre.distance_m(pts.iter().find(|p| p.0 == *id).unwrap().1))
                .collect();
            for (a, b) in gd.iter().zip(&wd) {
                assert!((a - b).abs() < 2.0, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn filters_stale_busy_ineligible_quiet_and_tier() {
        let c = LatLon::new(59.3293, 18.0686).unwrap();
        let mut idx = VolunteerIndex::new();
        let mk = |idx: &mut VolunteerIndex, f: VolunteerFlags, at: u32| {
            let id = VolunteerId::new();
            idx.upsert(id, f);
            idx.set_position(id, c.offset(90.0, 100.0), at);
            id
        };
        let ok = mk(&mut idx, ELIGIBLE, 1_000);
        let _stale = mk(&mut idx, ELIGIBLE, 10);
        let _off = mk(
            &mut idx,
            VolunteerFlags {
                eligible: false,
                ..ELIGIBLE
            },
            1_000,
        );
        let public_only = mk(
            &mut idx,
            VolunteerFlags {
                homes: false,
                ..ELIGIBLE
            },
            1_000,
        );
        let quiet = mk(
            &mut idx,
            VolunteerFlags {
                quiet: QuietHours::new(11 * 60, 13 * 60),
                ..ELIGIBLE
            },
            1_000,
        );
        let busy = mk(&mut idx, ELIGIBLE, 1_000);
        idx.set_busy(busy, true);
        let f = CandidateFilter {
            fresh_since: 500,
            minute_of_day: 12 * 60,
            homes_required: true,
            regions: RegionMask::ALL,
        };
        let got: Vec<_> = idx
            .nearest(c, 500.0, 10, &f, &|_| false)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, vec![ok]);
        let f = CandidateFilter {
            homes_required: false,
            regions: RegionMask::ALL,
            minute_of_day: 14 * 60,
            ..f
        };
        let mut got: Vec<_> = idx
            .nearest(c, 500.0, 10, &f, &|id| id == ok)
            .iter()
            .map(|c| c.id)
            .collect();
        got.sort();
        let mut want = vec![public_only, quiet];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn moves_between_cells_and_removal_keep_slots_consistent() {
        let c = LatLon::new(55.68, 12.57).unwrap();
        let mut idx = VolunteerIndex::new();
        let ids: Vec<_> = (0..50).map(|_| VolunteerId::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            idx.upsert(*id, ELIGIBLE);
            idx.set_position(*id, c.offset(0.0, i as f64 * 10.0), 1);
        }
        // Move every other volunteer 2 km east, remove some, expire some.
        for (i, id) in ids.iter().enumerate() {
            if i % 2 == 0 {
                idx.set_position(*id, c.offset(90.0, 2_000.0 + i as f64), 2);
            }
        }
        idx.remove(ids[1]);
        idx.clear_position(ids[3]);
        assert!(!idx.set_position(ids[0], c, 1), "older fix must be ignored");
        let expired = idx.expire_before(2);
        assert_eq!(expired.len(), 23); // odd ones minus the removed and the cleared
        for (i, id) in ids.iter().enumerate() {
            match idx.position(*id) {
                Some((p, at)) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(at, 2);
                    assert!((p.distance_m(c.offset(90.0, 2_000.0 + i as f64))) < 0.1);
                }
                None => assert_ne!(i % 2, 0),
            }
        }
        assert_eq!(idx.positioned(), 25);
        let near = idx.nearest(c.offset(90.0, 2_000.0), 100.0, 100, &filter(), &|_| false);
        assert_eq!(near.len(), 25);
    }

    #[test]
    fn a_search_sees_only_the_regions_it_names() {
        let c = LatLon::new(55.6786, 12.5790).unwrap();
        let (a, b, n) = (RegionId::new(), RegionId::new(), RegionId::new());
        let mut idx = VolunteerIndex::new();
        let mut of = |region: Option<RegionId>, d: f64| {
            let id = VolunteerId::new();
            idx.upsert(id, VolunteerFlags { region, ..ELIGIBLE });
            idx.set_position(id, c.offset(0.0, d), 1_000);
            id
        };
        let in_a = of(Some(a), 100.0);
        let in_b = of(Some(b), 50.0);
        let in_n = of(Some(n), 200.0);
        let untagged = of(None, 10.0);
        let found = |idx: &VolunteerIndex, regions: RegionMask| -> Vec<VolunteerId> {
            let f = CandidateFilter {
                regions,
                ..filter()
            };
            idx.nearest(c, 1_000.0, 10, &f, &|_| false)
                .into_iter()
                .map(|x| x.id)
                .collect()
        };
        assert_eq!(found(&idx, idx.mask_of(&[a])), vec![in_a]);
        assert_eq!(found(&idx, idx.mask_of(&[b])), vec![in_b]);
        assert_eq!(found(&idx, idx.mask_of(&[a, n])), vec![in_a, in_n]);
        assert_eq!(
            found(&idx, RegionMask::ALL),
            vec![untagged, in_b, in_a, in_n]
        );
        assert!(found(&idx, idx.mask_of(&[RegionId::new()])).is_empty());
        assert!(found(&idx, RegionMask::NONE).is_empty());
        assert_eq!(idx.region_of(in_n), Some(n));
        assert_eq!(idx.region_of(untagged), None);
    }

    #[test]
    fn regions_past_the_limit_fail_closed() {
        let c = LatLon::new(55.6786, 12.5790).unwrap();
        let mut idx = VolunteerIndex::new();
        let regions: Vec<RegionId> = (0..=MAX_REGIONS).map(|_| RegionId::new()).collect();
        let mut last = None;
        for r in &regions {
            let id = VolunteerId::new();
            idx.upsert(
                id,
                VolunteerFlags {
                    region: Some(*r),
                    ..ELIGIBLE
                },
            );
            idx.set_position(id, c, 1_000);
            last = Some(id);
        }
        let over = regions[MAX_REGIONS];
        let f = CandidateFilter {
            regions: idx.mask_of(&[over]),
            ..filter()
        };
        assert!(idx.nearest(c, 100.0, 500, &f, &|_| false).is_empty());
        assert_eq!(idx.region_of(last.unwrap()), None);
        let f = CandidateFilter {
            regions: idx.mask_of(&[regions[0]]),
            ..filter()
        };
        assert_eq!(idx.nearest(c, 100.0, 500, &f, &|_| false).len(), 1);
    }
}
