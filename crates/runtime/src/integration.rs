//! A region's dispatch-centre (CAD) integration settings: which CAP alerts and
//! EIDO incidents mean a suspected cardiac arrest, the signature policy and
//! the status webhook. The HTTP API checks and stores them
//! (`firstlink_server::api::cad`); [`crate::webhooks`] delivers by them.

use firstlink_cad::{CapMapping, EidoMapping};
use firstlink_domain::ids::RegionId;
use firstlink_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;

/// A region's dispatch-centre integration settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationSettings {
    pub cap: CapSettings,
    pub eido: EidoSettings,
    /// The dispatch centre's status feed; none = no webhook.
    pub webhook: Option<WebhookSettings>,
}

/// Which CAP alerts mean a suspected cardiac arrest, and the signature policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CapSettings {
    /// `info/event` values (trimmed, case-insensitive), e.g. `"Cardiac arrest"`.
    pub events: Vec<String>,
    /// `info/eventCode` pairs, e.g. `{ "name": "CAD", "value": "09E01" }`.
    pub event_codes: Vec<EventCode>,
    /// Optional extra filter on `info/category` (e.g. `"Health"`); never matches on its own.
    pub categories: Vec<String>,
    /// Refuse alerts without a valid XML signature (needs `trusted_certificates`).
    pub require_signature: bool,
    /// The dispatch centre's signing certificates, PEM, one per entry (at most
    /// 20). Pinned: a signature must verify with one of these keys (RSA ≥ 2048
    /// bits or ECDSA P-256); no chain is built. When any are set, a signed
    /// alert is verified even where signatures are not required.
    pub trusted_certificates: Vec<String>,
    /// Accept alerts whose every `info/expires` is already past (replays,
    /// tests); by default they are refused with `cap_expired`.
    pub accept_expired: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCode {
    /// `valueName`, e.g. `SAME`.
    pub name: String,
    pub value: String,
}

/// Which EIDO incident types mean a suspected cardiac arrest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EidoSettings {
    /// `incidentComponent.incidentTypeCommonRegistryText` values.
    pub incident_types: Vec<String>,
    /// `incidentComponent.incidentTypeInternalCode` values.
    pub internal_codes: Vec<String>,
}

/// Body format of the status webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// firstlink's JSON events (see docs/integrators.md).
    #[default]
    Firstlink,
    /// NENA EIDO 1.0 update documents.
    Eido,
}

/// The status webhook: every mission event of the region, in order, signed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `https://…` (or `http://` for tests and private networks).
    pub url: String,
    /// HMAC-SHA256 key, at least 16 characters. Write-only: reads show `null`;
    /// leave it out (or null) on update to keep the current one.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub format: WebhookFormat,
    /// First retry delay, milliseconds (default 1000); doubles per failure.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_ms: u64,
    /// Largest retry delay, milliseconds (default 300000).
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    /// Per-request timeout, milliseconds (default 10000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_retry_initial() -> u64 {
    1_000
}
fn default_retry_max() -> u64 {
    300_000
}
fn default_timeout() -> u64 {
    10_000
}

impl CapSettings {
    pub fn mapping(&self) -> CapMapping {
        CapMapping {
            events: self.events.clone(),
            event_codes: self
                .event_codes
                .iter()
                .map(|c| (c.name.clone(), c.value.clone()))
                .collect(),
            categories: self.categories.clone(),
        }
    }
}

impl EidoSettings {
    pub fn mapping(&self) -> EidoMapping {
        EidoMapping {
            incident_types: self.incident_types.clone(),
            internal_codes: self.internal_codes.clone(),
        }
    }
}

/// Why a region's stored settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored integration settings: {0}")]
    Stored(serde_json::Error),
}

/// The region's settings as stored (defaults when none were saved).
pub async fn load_settings(app: &App, region: RegionId) -> Result<IntegrationSettings, LoadError> {
    match app.store.integration(region).await? {
        None => Ok(IntegrationSettings::default()),
        Some(v) => serde_json::from_value(v).map_err(LoadError::Stored),
    }
}
