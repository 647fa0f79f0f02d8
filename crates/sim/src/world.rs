//! The static world of a scenario: walking estimator, candidate places, AEDs
//! with their opening-hours schedules.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use firstlink_domain::LatLon;
use firstlink_domain::aed::{AedCandidate, AedSource, Readiness};
use firstlink_domain::geo::{StraightLine, WalkingEstimator};
use firstlink_domain::ids::{AedId, IncidentId};
use firstlink_hours::{Context, Country, CountryHolidays, OpeningHours, State};
use firstlink_routing::{GraphEstimator, Router};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::scenario::Scenario;

/// An AED of the simulated registry.
#[derive(Debug, Clone)]
pub struct SimAed {
    pub id: AedId,
    pub name: String,
    pub position: LatLon,
    /// Index into [`World::schedules`].
    pub hours: usize,
}

/// When one opening-hours value is open over the simulated period, as sorted
/// `[open, close)` intervals in Unix milliseconds.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub source: String,
    pub always: bool,
    pub open: Vec<(i64, i64)>,
}

impl Schedule {
    /// Open at `t`? Returns the end of the open interval (`None` = closed).
    pub fn open_at(&self, t: i64) -> Option<Option<i64>> {
        if self.always {
            return Some(None);
        }
        let i = self.open.partition_point(|iv| iv.1 <= t);
        match self.open.get(i) {
            Some(&(a, b)) if a <= t => Some(Some(b)),
            _ => None,
        }
    }
}

/// Everything that stays the same for all runs.
pub struct World {
    pub tz: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: [f64; 4],
    pub walk: Box<dyn WalkingEstimator>,
    /// Street junctions inside the bbox (where volunteers and incidents are placed).
    pub places: Vec<LatLon>,
    pub aeds: Vec<SimAed>,
    pub schedules: Vec<Schedule>,
    pub graph_note: String,
    /// Share of AED-hours lost to opening hours over the period.
    pub hours_loss: f64,
}

pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(t: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(t).unwrap_or_default()
}

fn inside(b: &[f64; 4], p: LatLon) -> bool {
    p.lon >= b[0] && p.lon <= b[2] && p.lat >= b[1] && p.lat <= b[3]
}

/// Deterministic AED ids (v4-shaped, from an index).
pub fn aed_id(i: usize) -> AedId {
    AedId(uuid::Uuid::from_u128(
        0xAED0_0000_0000_4000_8000_0000_0000_0000 | i as u128,
    ))
}

pub fn incident_id(run: u32, i: usize) -> IncidentId {
    IncidentId(uuid::Uuid::from_u128(
        (u128::from(run) << 64) | i as u128 | (1u128 << 127),
    ))
}

impl World {
    #[allow(clippy::type_complexity)]
    pub fn build(s: &Scenario, verbose: bool) -> anyhow::Result<World> {
        let tz = s.tz()?;
        let start_local = NaiveDateTime::parse_from_str(&s.start, "%Y-%m-%dT%H:%M:%S")?;
        let start = tz
            .from_local_datetime(&start_local)
            .earliest()
            .context("start does not exist in the time zone")?
            .with_timezone(&Utc);
        let end = start + Duration::days(i64::from(s.days));
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5EED_A1A1);
        let straight = StraightLine {
            detour_factor: s.area.detour_factor,
        };
        let (walk, mut places, mut pois, bbox, graph_note): (
            Box<dyn WalkingEstimator>,
            Vec<LatLon>,
            Vec<LatLon>,
            [f64; 4],
            String,
        ) = match &s.area.osm {
            Some(osm) => {
                let path = s.resolve(osm);
                let t0 = std::time::Instant::now();
                let graph = firstlink_routing::build_graph(&path, |_| {})
                    .with_context(|| format!("building the walking graph of {}", path.display()))?;
                let (lo, hi) = graph.bounds();
                let bbox = s.area.bbox.unwrap_or([lo.lon, lo.lat, hi.lon, hi.lat]);
                let places: Vec<LatLon> = (0..graph.num_vertices())
                    .filter_map(|v| graph.vertex(v))
                    .filter(|p| inside(&bbox, *p))
                    .collect();
                let note = format!(
                    "walking graph of `{osm}`: {} vertices, {} edges, {:.0} km of ways (built in {:.1} s)",
                    graph.num_vertices(),
                    graph.num_edges(),
                    graph.total_length_m() / 1000.0,
                    t0.elapsed().as_secs_f64()
                );
                if verbose {
                    eprintln!("{note}");
                }
                let pois = read_pois(&path, &bbox).unwrap_or_default();
                let est = GraphEstimator::with_fallback(Router::new(graph), straight);
                (Box::new(est), places, pois, bbox, note)
            }
            None => {
                let b = s.area.bbox.context("area.bbox")?;
                (
                    Box::new(straight),
                    Vec::new(),
                    Vec::new(),
                    b,
                    format!("plane: straight line × {}", s.area.detour_factor),
                )
            }
        };
        if places.is_empty() {
            // A plane: a regular lattice of ~50 m as "junctions".
            let (dlat, dlon) = (
                50.0 / 111_195.0,
                50.0 / (111_195.0 * bbox[1].to_radians().cos()),
            );
            let mut lat = bbox[1];
            while lat <= bbox[3] {
                let mut lon = bbox[0];
                while lon <= bbox[2] {
                    places.push(LatLon { lat, lon });
                    lon += dlon;
                }
                lat += dlat;
            }
        }
        if places.is_empty() && (s.volunteers.count > 0 || s.incidents.per_year > 0.0) {
            bail!("no places to put volunteers or incidents in the area");
        }

        // Opening-hours schedules.
        let country = Country::from_iso_code(&s.aeds.country)
            .with_context(|| format!("country {:?}", s.aeds.country))?;
        let holidays = CountryHolidays(country);
        let mid = LatLon {
            lat: (bbox[1] + bbox[3]) / 2.0,
            lon: (bbox[0] + bbox[2]) / 2.0,
        };
        let ctx = Context::new(&holidays).with_location(mid.lat, mid.lon);
        let mut schedules: Vec<Schedule> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let mut schedule_for = |src: &str| -> anyhow::Result<usize> {
            if let Some(&i) = index_of.get(src) {
                return Ok(i);
            }
            let oh = OpeningHours::parse(src)
                .map_err(|e| anyhow::anyhow!("opening_hours {src:?}: {e}"))?;
            let sch = build_schedule(
                &oh,
                tz,
                &ctx,
                start - Duration::days(1),
                end + Duration::days(1),
            );
            schedules.push(sch);
            index_of.insert(src.to_string(), schedules.len() - 1);
            Ok(schedules.len() - 1)
        };

        let mut aeds = Vec::new();
        for f in &s.aeds.fixed {
            let p = LatLon::new(f.lat, f.lon)?;
            let h = schedule_for(&f.opening_hours)?;
            aeds.push((p, h, "fixed".to_string()));
        }
        if let Some(g) = &s.aeds.geojson {
            for (p, oh) in read_geojson(&s.resolve(g))? {
                let h = match schedule_for(&oh) {
                    Ok(h) => h,
                    Err(_) => schedule_for("24/7")?,
                };
                aeds.push((p, h, "registry".into()));
            }
        }
        if s.aeds.generate > 0 {
            let total: f64 = s.aeds.hours.iter().map(|h| h.share).sum();
            if total <= 0.0 {
                bail!("aeds.hours shares sum to 0");
            }
            let cands: &mut Vec<LatLon> = if pois.len() >= s.aeds.generate as usize {
                &mut pois
            } else {
                &mut places.clone()
            };
            for k in 0..s.aeds.generate as usize {
                if cands.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..cands.len());
                let p = cands.swap_remove(i);
                let mut u = rng.r#gen::<f64>() * total;
                let mut src = &s.aeds.hours[s.aeds.hours.len() - 1].opening_hours;
                for h in &s.aeds.hours {
                    if u < h.share {
                        src = &h.opening_hours;
                        break;
                    }
                    u -= h.share;
                }
                let h = schedule_for(src)?;
                aeds.push((p, h, format!("generated {k}")));
            }
        }
        let aeds: Vec<SimAed> = aeds
            .into_iter()
            .enumerate()
            .map(|(i, (position, hours, name))| SimAed {
                id: aed_id(i),
                name: format!("AED {i} ({name})"),
                position,
                hours,
            })
            .collect();

        let span = (ms(end) - ms(start)) as f64;
        let hours_loss = if aeds.is_empty() {
            0.0
        } else {
            let open: f64 = aeds
                .iter()
                .map(|a| {
                    let sch = &schedules[a.hours];
                    if sch.always {
                        span
                    } else {
                        sch.open
                            .iter()
                            .map(|&(x, y)| (y.min(ms(end)) - x.max(ms(start))).max(0) as f64)
                            .sum()
                    }
                })
                .sum();
            1.0 - open / (span * aeds.len() as f64)
        };
        Ok(World {
            tz,
            start,
            end,
            bbox,
            walk,
            places,
            aeds,
            schedules,
            graph_note,
            hours_loss,
        })
    }
}

fn build_schedule(
    oh: &OpeningHours,
    tz: Tz,
    ctx: &Context<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Schedule {
    if oh.is_24_7() {
        return Schedule {
            source: oh.as_str().into(),
            always: true,
            open: Vec::new(),
        };
    }
    let mut open = Vec::new();
    let mut t = from;
    let mut guard = 0;
    while t < to && guard < 100_000 {
        guard += 1;
        let state = oh.state_at_instant(t, tz, ctx);
        let next = oh.next_change(t, tz, ctx).unwrap_or(to).min(to);
        let next = if next <= t {
            t + Duration::minutes(1)
        } else {
            next
        };
        // Unknown hours count as closed.
        if state == State::Open {
            open.push((ms(t), ms(next)));
        }
        t = next;
    }
    // Merge touching intervals.
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for iv in open {
        match merged.last_mut() {
            Some(last) if last.1 >= iv.0 => last.1 = last.1.max(iv.1),
            _ => merged.push(iv),
        }
    }
    Schedule {
        source: oh.as_str().into(),
        always: false,
        open: merged,
    }
}

/// Points of interest where AEDs typically hang: shops, stations, schools,
/// offices, sports and public buildings (OSM nodes with such tags).
fn read_pois(path: &std::path::Path, bbox: &[f64; 4]) -> anyhow::Result<Vec<LatLon>> {
    use osmpbf::{Element, ElementReader};
    let reader = ElementReader::from_path(path)?;
    let mut out = Vec::new();
    let wanted = |k: &str, v: &str| match k {
        "amenity" => matches!(
            v,
            "pharmacy"
                | "school"
                | "townhall"
                | "library"
                | "community_centre"
                | "place_of_worship"
                | "fuel"
                | "bank"
                | "police"
                | "fire_station"
                | "university"
                | "college"
                | "theatre"
                | "cinema"
                | "post_office"
                | "restaurant"
                | "cafe"
                | "bar"
                | "pub"
                | "fast_food"
                | "doctors"
                | "dentist"
                | "kindergarten"
        ),
        "shop" => true,
        "railway" => matches!(v, "station" | "halt"),
        "leisure" => matches!(
            v,
            "sports_centre" | "fitness_centre" | "stadium" | "swimming_pool"
        ),
        "tourism" => matches!(v, "hotel" | "museum"),
        "office" => true,
        _ => false,
    };
    let mut push = |lat: f64, lon: f64, hit: bool| {
        if hit {
            let p = LatLon { lat, lon };
            if inside(bbox, p) {
                out.push(p);
            }
        }
    };
    reader.for_each(|el| match el {
        Element::Node(n) => {
            let hit = n.tags().any(|(k, v)| wanted(k, v));
            push(n.lat(), n.lon(), hit);
        }
        Element::DenseNode(n) => {
            let hit = n.tags().any(|(k, v)| wanted(k, v));
            push(n.lat(), n.lon(), hit);
        }
        _ => {}
    })?;
    // The file order is stable; sort anyway so the draw never depends on it.
    out.sort_by(|a, b| a.lat.total_cmp(&b.lat).then(a.lon.total_cmp(&b.lon)));
    out.dedup();
    Ok(out)
}

/// `emergency=defibrillator` points of a GeoJSON export: position and `opening_hours`.
fn read_geojson(path: &std::path::Path) -> anyhow::Result<Vec<(LatLon, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // A deliberately small reader: find each Point's coordinates and the
    // following opening_hours (exports are one feature per object).
    let mut out = Vec::new();
    for feat in text.split("\"Feature\"").skip(1) {
        let Some(c) = feat.find("\"coordinates\"") else {
            continue;
        };
        let rest = &feat[c..];
        let (Some(a), Some(b)) = (rest.find('['), rest.find(']')) else {
            continue;
        };
        let nums: Vec<f64> = rest[a + 1..b]
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if nums.len() < 2 {
            continue;
        }
        let Ok(p) = LatLon::new(nums[1], nums[0]) else {
            continue;
        };
        let oh = feat
            .find("\"opening_hours\"")
            .and_then(|i| {
                let r = &feat[i + 15..];
                let q1 = r.find('"')?;
                let q2 = r[q1 + 1..].find('"')?;
                Some(r[q1 + 1..q1 + 1 + q2].to_string())
            })
            .unwrap_or_else(|| "24/7".into());
        out.push((p, oh));
    }
    Ok(out)
}

/// The registry as dispatch sees it during a run: open now, not claimed by
/// another live mission (like the server's `AedRegistry`).
pub struct SimAeds<'a> {
    pub world: &'a World,
    pub claimed: Vec<bool>,
}

impl<'a> SimAeds<'a> {
    pub fn new(world: &'a World) -> Self {
        Self {
            world,
            claimed: vec![false; world.aeds.len()],
        }
    }
    fn idx(&self, id: AedId) -> Option<usize> {
        let i = (id.0.as_u128() & 0xFFFF_FFFF) as usize;
        (i < self.claimed.len() && self.world.aeds[i].id == id).then_some(i)
    }
    pub fn claim(&mut self, id: AedId) {
        if let Some(i) = self.idx(id) {
            self.claimed[i] = true;
        }
    }
    pub fn release(&mut self, id: AedId) {
        if let Some(i) = self.idx(id) {
            self.claimed[i] = false;
        }
    }
}

impl AedSource for SimAeds<'_> {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        let t = ms(at);
        let mut out = Vec::new();
        for (i, a) in self.world.aeds.iter().enumerate() {
            if self.claimed[i] || centre.distance_m(a.position) > radius_m {
                continue;
            }
            let Some(until) = self.world.schedules[a.hours].open_at(t) else {
                continue;
            };
            out.push(AedCandidate {
                id: a.id,
                name: a.name.clone(),
                position: a.position,
                readiness: Readiness::Unmonitored,
                open_until: until.map(from_ms),
            });
        }
        out
    }
}

/// A memo in front of the walking estimator. It returns exactly what the
/// estimator would (a distance found within one budget is the same within any
/// larger one; "not within b" answers every budget up to b), and lets the
/// policies of one run share the searches of the same incidents.
pub struct MemoWalk<'a> {
    inner: &'a dyn WalkingEstimator,
    memo: Mutex<HashMap<[u64; 4], Reach, std::hash::BuildHasherDefault<WordHasher>>>,
    pub searches: Mutex<u64>,
}

#[derive(Clone, Copy)]
enum Reach {
    Known(f64),
    NotWithin(f64),
}

fn key(a: LatLon, b: LatLon) -> [u64; 4] {
    [
        a.lat.to_bits(),
        a.lon.to_bits(),
        b.lat.to_bits(),
        b.lon.to_bits(),
    ]
}

impl<'a> MemoWalk<'a> {
    pub fn new(inner: &'a dyn WalkingEstimator) -> Self {
        Self {
            inner,
            memo: Mutex::new(HashMap::default()),
            searches: Mutex::new(0),
        }
    }
}

impl WalkingEstimator for MemoWalk<'_> {
    fn distances_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>> {
        let mut out = vec![None; targets.len()];
        let mut missing = Vec::new();
        {
            let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            for (i, t) in targets.iter().enumerate() {
                match memo.get(&key(origin, *t)) {
                    Some(Reach::Known(d)) => out[i] = (*d <= max_m).then_some(*d),
                    Some(Reach::NotWithin(b)) if max_m <= *b => out[i] = None,
                    _ => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return out;
        }
        let ts: Vec<LatLon> = missing.iter().map(|&i| targets[i]).collect();
        let got = self.inner.distances_from(origin, &ts, max_m);
        *self.searches.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        for (&i, d) in missing.iter().zip(got) {
            memo.insert(
                key(origin, targets[i]),
                d.map_or(Reach::NotWithin(max_m), Reach::Known),
            );
            out[i] = d;
        }
        out
    }
}

/// Multiply-rotate hashing of 64-bit words (keys are coordinates' bits;
/// no adversary).
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Uniform draw of one of `n` with a given RNG.
pub fn pick<R: Rng>(rng: &mut R, n: usize) -> usize {
    rng.gen_range(0..n)
}
