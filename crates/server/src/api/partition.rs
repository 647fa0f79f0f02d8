//! A region's partition: its boundary, border margin and neighbours
//! (see [`crate::partition`]).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Auth, Body, audit};
use crate::app::{App, RegionRt};
use crate::error::{ApiError, ApiResult};
use crate::partition::{self, Partition};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_partition, put_partition))
}

/// A region's partition as operators set it (neighbours by slug).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionWire {
    /// GeoJSON `Polygon` or `MultiPolygon` (lon/lat), or null: no boundary
    /// (the region takes incidents anywhere, dispatched from its own data).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<serde_json::Value>,
    /// How far outside the boundary an incident is still taken (default 500 m).
    #[serde(default)]
    pub border_margin_m: Option<f64>,
    /// Regions (slugs) whose volunteers and AEDs this region's missions may
    /// use, and which may use this region's — only where both name each other.
    #[serde(default)]
    pub neighbours: Vec<String>,
    /// Of `neighbours`, those that named this region too: in effect (read only).
    #[serde(default, skip_deserializing)]
    pub agreed: Vec<String>,
}

fn wire(app: &App, r: &RegionRt) -> PartitionWire {
    let slug = |id| app.region(id).map(|x| x.region.slug);
    let p = &r.partition.settings;
    PartitionWire {
        boundary: p.boundary.clone(),
        border_margin_m: Some(r.partition.margin_m()),
        neighbours: p.neighbours.iter().filter_map(|n| slug(*n)).collect(),
        agreed: app
            .dispatch_regions(r.region.id)
            .into_iter()
            .skip(1)
            .filter_map(slug)
            .collect(),
    }
}

fn operated(app: &App, who: &crate::auth::Principal, slug: &str) -> ApiResult<RegionRt> {
    let r = app
        .region_by_slug(slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    Ok(r)
}

/// The region's boundary, border margin and neighbours (operators).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/partition", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = PartitionWire), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_partition(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<PartitionWire>> {
    let r = operated(&app, &who, &slug)?;
    Ok(Json(wire(&app, &r)))
}

/// Set the region's boundary, border margin and neighbours (operators of the region).
#[utoipa::path(put, path = "/api/v1/regions/{slug}/partition", tag = "operator", params(("slug" = String, Path)), request_body = PartitionWire,
    responses((status = 200, body = PartitionWire), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_partition(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(w): Body<PartitionWire>,
) -> ApiResult<Json<PartitionWire>> {
    let r = operated(&app, &who, &slug)?;
    let mut neighbours = Vec::with_capacity(w.neighbours.len());
    for n in &w.neighbours {
        let other = app
            .region_by_slug(n)
            .ok_or_else(|| ApiError::field("neighbours", format!("no region {n:?}")))?;
        neighbours.push(other.region.id);
    }
    let p = Partition {
        boundary: w.boundary,
        border_margin_m: w.border_margin_m,
        neighbours,
    };
    partition::validate(r.region.id, &p).map_err(|(f, e)| ApiError::field(f, e))?;
    partition::save(&*app.store, r.region.id, &p).await?;
    crate::changes::apply(
        &app,
        vec![firstlink_store::Change::Setting(partition::setting_key(
            r.region.id,
        ))],
    )
    .await;
    audit(
        &app,
        &who,
        "region.partition",
        Some(r.region.id),
        Some(slug.clone()),
        serde_json::json!({
            "boundary": p.boundary.is_some(),
            "border_margin_m": p.border_margin_m,
            "neighbours": w.neighbours,
        }),
    )
    .await;
    let r = app
        .region(r.region.id)
        .ok_or_else(|| ApiError::not_found("region"))?;
    Ok(Json(wire(&app, &r)))
}
