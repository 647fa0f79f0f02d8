//! The scenario file (TOML): area, AEDs, volunteers, response behaviour,
//! incidents, ambulance, policies, runs and seed.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use firstlink_domain::policy::DispatchPolicy;
use serde::Deserialize;

/// A whole scenario. Every section has defaults (see `scenarios/copenhagen.toml`
/// for the figures and their sources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Master seed: same seed, same numbers.
    pub seed: u64,
    /// Independent replications (new volunteer population, incidents, answers).
    pub runs: u32,
    /// IANA time zone of the region.
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Local start of the simulated period, `YYYY-MM-DDTHH:MM:SS`.
    pub start: String,
    /// Length of the simulated period per run, days.
    pub days: u32,
    pub area: Area,
    #[serde(default)]
    pub aeds: Aeds,
    pub volunteers: Volunteers,
    #[serde(default)]
    pub response: Response,
    pub incidents: Incidents,
    #[serde(default)]
    pub ambulance: Ambulance,
    #[serde(default)]
    pub outcome: Outcome,
    pub policies: Vec<PolicySpec>,
    /// Which policy is the baseline of the comparison, and which is the challenger.
    #[serde(default)]
    pub goal: Goal,
    /// Directory of the scenario file (set on load; paths are relative to it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_tz() -> String {
    "Europe/Copenhagen".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// OSM extract (PBF), relative to the scenario file. Without it the area is
    /// a plane where walks are the straight line × `detour_factor`.
    pub osm: Option<String>,
    /// `[min_lon, min_lat, max_lon, max_lat]`: where volunteers, AEDs and
    /// incidents are placed. Default: the graph's bounds.
    pub bbox: Option<[f64; 4]>,
    /// Straight line × this where no graph is available (and off graph).
    #[serde(default = "default_detour")]
    pub detour_factor: f64,
    /// Cells per side of the report's map.
    #[serde(default = "default_grid")]
    pub map_cells: u32,
}

fn default_detour() -> f64 {
    1.35
}
fn default_grid() -> u32 {
    16
}

/// A value drawn from a log-normal distribution given by its median and
/// quartiles (the spread is fitted to the IQR), clipped to `[min, max]`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogNormal {
    pub median: f64,
    /// Lower and upper quartile; equal to the median for a constant.
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

impl LogNormal {
    pub const fn constant(v: f64) -> Self {
        Self {
            median: v,
            q1: v,
            q3: v,
            min: v,
            max: v,
        }
    }
    pub fn sigma(&self) -> f64 {
        if self.q3 <= self.q1 || self.q1 <= 0.0 {
            return 0.0;
        }
        // The IQR of a normal spans 2 × 0.6745 standard deviations.
        (self.q3.ln() - self.q1.ln()) / (2.0 * 0.674_489_75)
    }
    fn check(&self, what: &str) -> anyhow::Result<()> {
        let ok = self.median > 0.0
            && self.q1 > 0.0
            && self.q1 <= self.median
            && self.median <= self.q3
            && self.min <= self.max
            && [self.median, self.q1, self.q3, self.min, self.max]
                .iter()
                .all(|v| v.is_finite());
        if !ok {
            bail!("{what}: need 0 < q1 <= median <= q3 and min <= max");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursShare {
    pub share: f64,
    pub opening_hours: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedAed {
    pub lat: f64,
    pub lon: f64,
    #[serde(default = "always")]
    pub opening_hours: String,
}

fn always() -> String {
    "24/7".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aeds {
    /// Generated AEDs (0 = none). Placed at points of interest of the OSM
    /// extract (shops, stations, schools, offices, sports, …) where there are
    /// enough, otherwise at street junctions.
    #[serde(default)]
    pub generate: u32,
    /// Opening hours of generated AEDs, by share (shares are normalised).
    #[serde(default = "default_hours")]
    pub hours: Vec<HoursShare>,
    /// AEDs at given places (tests, registry extracts).
    #[serde(default)]
    pub fixed: Vec<FixedAed>,
    /// An OSM/GeoJSON export of `emergency=defibrillator` points (registry
    /// import), relative to the scenario file.
    pub geojson: Option<String>,
    /// Holiday calendar for `PH` (ISO country code).
    #[serde(default = "default_country")]
    pub country: String,
    /// Seconds to take the AED from its cabinet (the real value; the policy has its own estimate).
    #[serde(default = "default_pickup")]
    pub pickup_s: LogNormal,
}

fn default_hours() -> Vec<HoursShare> {
    vec![HoursShare {
        share: 1.0,
        opening_hours: "24/7".into(),
    }]
}
fn default_country() -> String {
    "DK".into()
}
fn default_pickup() -> LogNormal {
    LogNormal {
        median: 40.0,
        q1: 30.0,
        q3: 60.0,
        min: 15.0,
        max: 240.0,
    }
}

impl Default for Aeds {
    fn default() -> Self {
        Self {
            generate: 0,
            hours: default_hours(),
            fixed: Vec::new(),
            geojson: None,
            country: default_country(),
            pickup_s: default_pickup(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedVolunteer {
    pub lat: f64,
    pub lon: f64,
    /// Walking speed, m/s (default: drawn from `speed_mps`).
    pub speed_mps: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volunteers {
    /// Volunteers placed at random street junctions (a proxy for where people live and work).
    #[serde(default)]
    pub count: u32,
    #[serde(default)]
    pub fixed: Vec<FixedVolunteer>,
    /// Share available (app on, position fresh, not in quiet hours) by local hour 0–23.
    pub available_by_hour: Vec<f64>,
    /// Share cleared for private homes (the rest: public places only).
    #[serde(default = "one")]
    pub homes_share: f64,
    pub speed_mps: LogNormal,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Probability of accepting an alert, by local hour 0–23.
    pub accept_by_hour: Vec<f64>,
    /// Probability of an explicit decline (the rest never answer and time out).
    pub decline: f64,
    /// Seconds from the alert to the answer (accept or decline).
    pub answer_delay_s: LogNormal,
    /// Share of acceptors who never arrive.
    pub no_show: f64,
    /// Share of those no-shows who withdraw in the app (`Leave`) instead of staying silent.
    pub no_show_withdraws: f64,
    /// Seconds from accepting to withdrawing, for those who withdraw.
    pub withdraw_after_s: LogNormal,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            accept_by_hour: vec![0.35; 24],
            decline: 0.25,
            answer_delay_s: LogNormal {
                median: 40.0,
                q1: 20.0,
                q3: 80.0,
                min: 3.0,
                max: 600.0,
            },
            no_show: 0.1,
            no_show_withdraws: 0.5,
            withdraw_after_s: LogNormal {
                median: 120.0,
                q1: 60.0,
                q3: 240.0,
                min: 10.0,
                max: 900.0,
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedIncident {
    /// Seconds after the start of the simulated period.
    pub at_s: u32,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub public: bool,
    /// Ambulance response time, seconds (default: drawn).
    pub ambulance_s: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incidents {
    /// Alerted incidents per year in the area (Poisson).
    #[serde(default)]
    pub per_year: f64,
    /// Share in private homes (the rest in public places).
    #[serde(default = "default_home")]
    pub home_share: f64,
    /// Relative frequency by local hour 0–23.
    #[serde(default = "flat24")]
    pub by_hour: Vec<f64>,
    #[serde(default)]
    pub fixed: Vec<FixedIncident>,
}

fn default_home() -> f64 {
    0.7
}
fn flat24() -> Vec<f64> {
    vec![1.0; 24]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambulance {
    /// Call to ambulance at the address, seconds.
    pub response_s: LogNormal,
    /// The CAD tells the engine an ETA = true time × exp(N(0, σ)); σ here (0 = exact).
    pub eta_error_sigma: f64,
    /// Whether the CAD sends an ETA at all.
    pub eta_reported: bool,
}

impl Default for Ambulance {
    fn default() -> Self {
        Self {
            response_s: LogNormal {
                median: 480.0,
                q1: 360.0,
                q3: 600.0,
                min: 120.0,
                max: 3600.0,
            },
            eta_error_sigma: 0.2,
            eta_reported: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// From the ambulance stopping at the address to the crew at the patient, s.
    pub ems_to_patient_s: f64,
    /// From an AED at the patient to the first possible shock (pads on, analysis), s.
    pub aed_attach_s: f64,
    /// The ambulance crew's own time from reaching the patient to the first possible shock, s.
    pub ems_attach_s: f64,
    /// The dispatcher ends the mission this long after the ambulance arrives, s.
    pub handover_s: u32,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            ems_to_patient_s: 60.0,
            aed_attach_s: 60.0,
            ems_attach_s: 45.0,
            handover_s: 300,
        }
    }
}

/// A policy to compare: a preset, optionally with fields changed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Shown in the report (default: the preset's name).
    pub name: Option<String>,
    pub preset: String,
    /// Fields of `DispatchPolicy` to override.
    #[serde(default)]
    pub set: Option<toml::Table>,
}

impl PolicySpec {
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.preset.clone())
    }

    pub fn policy(&self) -> anyhow::Result<DispatchPolicy> {
        let base = DispatchPolicy::preset(&self.preset).with_context(|| {
            format!(
                "unknown policy preset {:?} (have {:?})",
                self.preset,
                DispatchPolicy::PRESETS
            )
        })?;
        let p = match &self.set {
            None => base,
            Some(over) => {
                let mut v = toml::Table::try_from(&base).context("policy to TOML")?;
                for (k, val) in over {
                    v.insert(k.clone(), val.clone());
                }
                v.try_into()
                    .with_context(|| format!("policy {:?}: bad override", self.label()))?
            }
        };
        p.validate()
            .map_err(|e| anyhow::anyhow!("policy {:?}: {e}", self.label()))?;
        Ok(p)
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub baseline: Option<String>,
    pub challenger: Option<String>,
    /// Required reduction of the median time to AED (0.25 = 25 % sooner).
    pub reduction: Option<f64>,
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut s = Self::parse(&text).with_context(|| format!("scenario {}", path.display()))?;
        s.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(s)
    }

    pub fn parse(text: &str) -> anyhow::Result<Scenario> {
        let s: Scenario = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn tz(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown time zone {:?}", self.timezone))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let prob = |v: f64| (0.0..=1.0).contains(&v);
        if self.runs == 0 || self.runs > 10_000 {
            bail!("runs must be 1..=10000");
        }
        if self.days == 0 {
            bail!("days must be at least 1");
        }
        self.tz()?;
        chrono::NaiveDateTime::parse_from_str(&self.start, "%Y-%m-%dT%H:%M:%S")
            .with_context(|| format!("start {:?}: want YYYY-MM-DDTHH:MM:SS", self.start))?;
        if self.volunteers.available_by_hour.len() != 24
            || !self.volunteers.available_by_hour.iter().all(|&v| prob(v))
        {
            bail!("volunteers.available_by_hour needs 24 probabilities");
        }
        if self.response.accept_by_hour.len() != 24
            || !self
                .response
                .accept_by_hour
                .iter()
                .all(|&v| prob(v) && v + self.response.decline <= 1.0)
        {
            bail!("response.accept_by_hour needs 24 probabilities, each plus `decline` at most 1");
        }
        if self.incidents.by_hour.len() != 24
            || self
                .incidents
                .by_hour
                .iter()
                .any(|&v| v < 0.0 || !v.is_finite())
        {
            bail!("incidents.by_hour needs 24 non-negative weights");
        }
        if self.incidents.by_hour.iter().sum::<f64>() <= 0.0 && self.incidents.per_year > 0.0 {
            bail!("incidents.by_hour sums to 0");
        }
        for (v, what) in [
            (self.volunteers.homes_share, "volunteers.homes_share"),
            (self.response.decline, "response.decline"),
            (self.response.no_show, "response.no_show"),
            (
                self.response.no_show_withdraws,
                "response.no_show_withdraws",
            ),
            (self.incidents.home_share, "incidents.home_share"),
        ] {
            if !prob(v) {
                bail!("{what} must be between 0 and 1");
            }
        }
        if !(self.incidents.per_year >= 0.0 && self.incidents.per_year.is_finite()) {
            bail!("incidents.per_year must be 0 or more");
        }
        self.volunteers.speed_mps.check("volunteers.speed_mps")?;
        if self.volunteers.speed_mps.min <= 0.0 {
            bail!("volunteers.speed_mps.min must be positive");
        }
        self.response
            .answer_delay_s
            .check("response.answer_delay_s")?;
        self.response
            .withdraw_after_s
            .check("response.withdraw_after_s")?;
        self.ambulance.response_s.check("ambulance.response_s")?;
        self.aeds.pickup_s.check("aeds.pickup_s")?;
        if self.policies.is_empty() {
            bail!("at least one policy");
        }
        let mut names = Vec::new();
        for p in &self.policies {
            p.policy()?;
            if names.contains(&p.label()) {
                bail!("two policies named {:?}", p.label());
            }
            names.push(p.label());
        }
        for g in [&self.goal.baseline, &self.goal.challenger]
            .into_iter()
            .flatten()
        {
            if !names.contains(g) {
                bail!("goal names policy {g:?}, which is not in `policies`");
            }
        }
        if self.area.osm.is_none() && self.area.bbox.is_none() {
            bail!("area needs `osm` or `bbox`");
        }
        if !(self.area.detour_factor >= 1.0 && self.area.detour_factor <= 3.0) {
            bail!("area.detour_factor must be 1..3");
        }
        Ok(())
    }
}
