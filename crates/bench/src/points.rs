//! Deterministic synthetic volunteers and patients over Denmark.
//!
//! Half of the points fall uniformly on a handful of rectangles that roughly
//! cover Denmark's land (weighted by their area), the other half around
//! Copenhagen's centre (Gaussian, σ = 5 km). Everything comes from ChaCha8
//! seeded with a fixed number, so every run and every system sees the same
//! points.

use firstlink_domain::LatLon;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The default seed of every run.
pub const SEED: u64 = 0x0F12_57F1_2570_2026;

/// Copenhagen's centre (Rådhuspladsen).
pub const CPH: LatLon = LatLon {
    lat: 55.6761,
    lon: 12.5683,
};
/// σ of the Copenhagen cluster, metres.
const CPH_SIGMA_M: f64 = 5_000.0;
const METRES_PER_DEG: f64 = 111_195.08;

/// (name, lat_min, lat_max, lon_min, lon_max): rough land boxes.
const LAND: [(&str, f64, f64, f64, f64); 6] = [
    ("North Jutland", 56.55, 57.60, 8.60, 10.50),
    ("Mid/South Jutland", 54.85, 56.55, 8.20, 10.30),
    ("Funen", 55.05, 55.60, 9.75, 10.80),
    ("Zealand", 54.98, 56.10, 11.10, 12.60),
    ("Lolland-Falster", 54.57, 54.95, 11.00, 12.15),
    ("Bornholm", 55.00, 55.28, 14.70, 15.12),
];

/// A reproducible stream of points from the mixture.
pub struct Mixture {
    rng: ChaCha8Rng,
    /// Cumulative area weights of `LAND`.
    cum: [f64; LAND.len()],
}

impl Mixture {
    /// `stream` separates independent sequences from one seed (volunteers,
    /// patients, moves, AEDs).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let mut cum = [0.0; LAND.len()];
        let mut acc = 0.0;
        for (i, (_, a, b, c, d)) in LAND.iter().enumerate() {
            acc += (b - a) * (d - c) * ((a + b) / 2.0_f64).to_radians().cos();
            cum[i] = acc;
        }
        for c in &mut cum {
            *c /= acc;
        }
        Self { rng, cum }
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// A standard normal pair (Box–Muller).
    fn normal2(&mut self) -> (f64, f64) {
        let u1: f64 = 1.0 - self.rng.r#gen::<f64>(); // (0, 1]
        let u2: f64 = self.rng.r#gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        (r * t.cos(), r * t.sin())
    }

    /// Uniform on Denmark's land boxes.
    pub fn land(&mut self) -> LatLon {
        let u: f64 = self.rng.r#gen();
        let i = self
            .cum
            .iter()
            .position(|&c| u <= c)
            .unwrap_or(LAND.len() - 1);
        let (_, a, b, c, d) = LAND[i];
        LatLon {
            lat: self.rng.gen_range(a..b),
            lon: self.rng.gen_range(c..d),
        }
    }

    /// Gaussian around Copenhagen.
    pub fn copenhagen(&mut self) -> LatLon {
        let (x, y) = self.normal2();
        let s_lat = CPH_SIGMA_M / METRES_PER_DEG;
        let s_lon = s_lat / CPH.lat.to_radians().cos();
        LatLon {
            lat: CPH.lat + y * s_lat,
            lon: CPH.lon + x * s_lon,
        }
    }

    /// One draw of the 50/50 mixture.
    pub fn point(&mut self) -> LatLon {
        if self.rng.r#gen::<bool>() {
            self.copenhagen()
        } else {
            self.land()
        }
    }

    /// Exactly `n / 2` land points then `n - n / 2` Copenhagen points,
    /// shuffled.
    pub fn volunteers(&mut self, n: usize) -> Vec<LatLon> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n / 2 {
            v.push(self.land());
        }
        for _ in n / 2..n {
            v.push(self.copenhagen());
        }
        for i in (1..v.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            v.swap(i, j);
        }
        v
    }

    /// `n` draws of the mixture (patients, AEDs).
    pub fn draws(&mut self, n: usize) -> Vec<LatLon> {
        (0..n).map(|_| self.point()).collect()
    }
}

/// Stream numbers, so that each kind of point has its own sequence.
pub mod stream {
    pub const VOLUNTEERS: u64 = 1;
    pub const PATIENTS: u64 = 2;
    pub const MOVES: u64 = 3;
    pub const AEDS: u64 = 4;
    pub const PROFILES: u64 = 5;
}
