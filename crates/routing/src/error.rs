//! Errors of graph building and loading.

/// Why a graph could not be built from an OpenStreetMap file.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The file could not be opened or read.
    #[error("cannot read the OSM file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a valid OSM PBF (wrong format, truncated, corrupt).
    #[error("not a readable OSM PBF file: {0}")]
    Pbf(String),
    /// The file holds no way a person may walk on (or none with known nodes).
    #[error("the extract contains no walkable ways")]
    NoWalkableWays,
    /// More edges or geometry points than the u32 indices of the format allow.
    #[error("the extract is too large for the graph format")]
    TooLarge,
}

/// Why a graph file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("cannot read the graph file: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the graph magic.
    #[error("not a firstlink graph file (bad magic)")]
    NotAGraph,
    /// The file is a graph of an unsupported format version.
    #[error("unsupported graph format version {0}")]
    Version(u32),
    /// The file is shorter than its header says.
    #[error("graph file is truncated")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("graph file checksum mismatch (corrupt file)")]
    Checksum,
    /// The contents are inconsistent.
    #[error("graph file is corrupt: {0}")]
    Corrupt(&'static str),
}
