//! The in-memory view of the AED registry that dispatch asks: "which AEDs can
//! a responder use at time t near this point". The implementation (spatial
//! grid, opening hours, claims, fetch and return) lives in
//! [`firstlink_registry::live`] so it can be benchmarked without a server.

pub use firstlink_registry::live::{AedRegistry, OutForReturn};
