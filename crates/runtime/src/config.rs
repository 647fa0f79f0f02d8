//! Configuration: defaults, then a TOML file, then `FIRSTLINK_*` environment
//! variables (nested keys with `__`, e.g. `FIRSTLINK_NOTIFY__SMS__URL`), then
//! command-line flags.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Where the embedded database and generated keys live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH`; default `sqlite://<data_dir>/firstlink.db`.
    pub database_url: Option<String>,
    /// The address people reach this server at (links in notifications).
    pub public_url: Option<String>,
    /// Positions older than this are deleted (Denmark: 72 h).
    pub position_retention_hours: u32,
    /// Volunteer sessions last this long.
    pub volunteer_session_days: u32,
    /// Operator sessions last this long.
    pub operator_session_hours: u32,
    /// Requests per minute per client address on public endpoints (sign-up, sign-in).
    pub public_rate_per_minute: u32,
    /// `text` or `json`.
    pub log_format: String,
    pub outbox: OutboxConfig,
    pub notify: firstlink_notify::NotifyConfig,
    /// Pedestrian graphs by region slug (built with `firstlink routing build`).
    /// A region without an entry uses `<data_dir>/graphs/<slug>.flg` if it
    /// exists, else straight line × the policy's detour factor.
    pub graphs: std::collections::BTreeMap<String, PathBuf>,
    /// AED readiness monitoring (units in AED cabinets).
    pub monitor: MonitorConfig,
    /// Several nodes on one PostgreSQL database.
    pub cluster: ClusterConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name in leases and outbox claims; unique per node and
    /// stable across its restarts. Default: the host name and listen port.
    pub node_id: Option<String>,
    /// A mission's timers move to another node this long after its node
    /// stops renewing (renewed every `lease_seconds / 4`).
    pub lease_seconds: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            lease_seconds: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// An external MQTT broker to subscribe to, e.g. `mqtt://127.0.0.1:1883`; none = only the embedded endpoint.
    pub mqtt_url: Option<String>,
    /// Client id at the external broker (keep it stable: the session persists).
    pub mqtt_client_id: String,
    pub mqtt_username: Option<String>,
    pub mqtt_password: Option<String>,
    /// Also take LoRaWAN uplinks from The Things Stack's MQTT integration (`v3/+/devices/+/up`).
    pub lorawan: bool,
    /// Where the embedded MQTT endpoint for units listens; empty = off.
    pub broker_listen: String,
    /// 64 hex digits; default: `<data_dir>/monitor.key`, generated at first start.
    /// Every node of a cluster needs the same key.
    pub master_key: Option<String>,
    /// Rule states and telemetry buckets are saved this often.
    pub checkpoint_seconds: u32,
    /// Telemetry buckets (charts) are kept this long; readiness history and tickets are kept.
    pub telemetry_retention_days: u32,
    /// Runs monitoring on this node (rule states, timers, ingest). In a
    /// cluster exactly one node runs it; the others answer the HTTPS ingest
    /// with 503 and learn readiness changes from the database.
    pub enabled: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            mqtt_url: None,
            mqtt_client_id: "firstlink".into(),
            mqtt_username: None,
            mqtt_password: None,
            lorawan: true,
            broker_listen: "127.0.0.1:1884".into(),
            master_key: None,
            checkpoint_seconds: 30,
            enabled: true,
            telemetry_retention_days: 90,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Notifications sent at the same time.
    pub concurrency: usize,
    /// Attempts before a notification is given up.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_attempts: 10,
            base_backoff_ms: 500,
            max_backoff_ms: 60_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("firstlink-data"),
            database_url: None,
            public_url: None,
            position_retention_hours: 72,
            volunteer_session_days: 180,
            operator_session_hours: 12,
            public_rate_per_minute: 30,
            log_format: "text".into(),
            outbox: OutboxConfig::default(),
            notify: firstlink_notify::NotifyConfig::default(),
            graphs: Default::default(),
            monitor: MonitorConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Config {
    /// Defaults < `file` (if given) < `FIRSTLINK_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        // Every field has a serde default, so an empty figment yields the defaults.
        let mut f = Figment::new();
        if let Some(p) = file {
            f = f.merge(Toml::file_exact(p));
        }
        f.merge(
            Env::prefixed("FIRSTLINK_")
                .split("__")
                .ignore(&["config", "failpoint"]),
        )
        .extract()
        .map_err(Box::new)
    }

    /// The graph file for a region, if one is configured or present.
    pub fn graph_path(&self, slug: &str) -> Option<PathBuf> {
        match self.graphs.get(slug) {
            Some(p) => Some(p.clone()),
            None => Some(self.data_dir.join("graphs").join(format!("{slug}.flg")))
                .filter(|p| p.exists()),
        }
    }

    /// The SQLite file this configuration points at.
    pub fn sqlite_path(&self) -> Result<PathBuf, String> {
        match &self.database_url {
            None => Ok(self.data_dir.join("firstlink.db")),
            Some(u) => match u.strip_prefix("sqlite://") {
                Some(p) => Ok(PathBuf::from(p)),
                None => Err(format!(
                    "unsupported database_url {u:?}: this build supports sqlite://PATH and postgres://USER@HOST:PORT/DB"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three-node example in `deploy/cluster/` is a working configuration
    /// once the secrets it leaves to the environment are given.
    #[test]
    fn the_three_node_example_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster");
        let secrets = r#"
            [notify.web_push]
            vapid_private_key = "secret-from-the-environment"
            [monitor]
            master_key = "0000000000000000000000000000000000000000000000000000000000000000"
        "#;
        let mut ids = Vec::new();
        let mut monitoring = 0;
        for n in 1..=3 {
            let c: Config = Figment::new()
                .merge(Toml::file_exact(dir.join(format!("node{n}.toml"))))
                .merge(Toml::string(secrets))
                .extract()
                .unwrap_or_else(|e| panic!("node{n}.toml: {e}"));
            assert!(
                c.database_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("postgres://"))
            );
            ids.push(c.cluster.node_id.clone().expect("a node id"));
            monitoring += usize::from(c.monitor.enabled);
        }
        ids.dedup();
        assert_eq!(ids.len(), 3, "every node has its own id");
        assert_eq!(monitoring, 1, "exactly one node runs monitoring");
    }
}
