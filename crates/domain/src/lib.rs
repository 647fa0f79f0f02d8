//! firstlink's domain core: plain data and pure functions, no I/O.
//!
//! - [`geo`]: positions, distances, the walking-distance estimator interface;
//! - [`index`]: the in-memory spatial index of volunteers' latest positions;
//! - [`policy`]: per-region dispatch policies and their presets;
//! - [`mission`]: the mission state machine and dispatch planner;
//! - [`incident`], [`volunteer`], [`aed`]: what they are and the rules on them;
//! - [`clock`]: injected time.

pub mod aed;
pub mod clock;
pub mod geo;
pub mod ids;
pub mod incident;
pub mod index;
pub mod mission;
pub mod policy;
pub mod volunteer;

pub use chrono_tz::Tz;
pub use geo::LatLon;
