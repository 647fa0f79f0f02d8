//! # firstlink-routing
//!
//! firstlink's own in-process pedestrian router on OpenStreetMap data, and an
//! adapter for external OSRM / Valhalla servers.
//!
//! ```text
//! build_graph(pbf) ──► Graph ──save/load──► file (.flg)
//!                        │
//!                     Router ── reach_from / reach_to (one bounded Dijkstra)
//!                        │      route / route_via (geometry, GeoJSON)
//!                  GraphEstimator: WalkingEstimator (straight-line fallback off graph)
//! HttpEstimator: WalkingEstimator (OSRM table / Valhalla matrix, fallback on error)
//! ```
//!
//! ## Units
//! All distances are *walking-equivalent metres*: metres on flat paved
//! ground; steps, unpaved, steep and mountain paths count extra (see
//! [`tags::walk_profile`]). The caller divides by a walking speed to get
//! seconds. Figures for volunteers going to a cardiac arrest: median
//! **2.3 m/s** (inter-quartile range 1.4–4.0 m/s, i.e. from brisk walking to
//! running), **1.8 m/s** in dense urban areas (crowds, crossings).
//!
//! ## Off-graph points
//! A point farther than [`RouterConfig::max_snap_m`] (default 300 m) from any
//! walkable way is off graph: [`Router`] reports it ([`Reach::OffGraph`],
//! `None`), [`GraphEstimator`] falls back to the straight line for it.

pub mod build;
pub mod error;
pub mod fixtures;
pub mod graph;
pub mod http;
pub mod router;
mod snap;
pub mod tags;

pub use build::{Progress, build_graph, build_graph_with};
pub use error::{BuildError, LoadError};
pub use graph::{BuildOptions, FORMAT_VERSION, Graph, OsmWay};
pub use http::{DEFAULT_TIMEOUT, Flavour, HttpError, HttpEstimator};
pub use router::{AedLegs, GraphEstimator, Reach, Route, Router, RouterConfig};
