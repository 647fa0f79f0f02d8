//! Where a volunteer is: position reports (single and batched) and forgetting them.

use super::*;

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PositionReport {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy in metres, if known (fixes worse than 1 km are ignored).
    pub accuracy_m: Option<f64>,
    /// When the fix was taken (default: now).
    pub at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionBatch {
    /// Up to 100 fixes, e.g. collected while offline; only the newest is kept.
    pub positions: Vec<PositionReport>,
}

fn check_fix(
    app: &App,
    r: &PositionReport,
    field: &str,
) -> ApiResult<(firstlink_domain::geo::LatLon, u32)> {
    let p = Location {
        lat: r.lat,
        lon: r.lon,
    }
    .validate(field)?;
    if let Some(a) = r.accuracy_m
        && (!a.is_finite() || a < 0.0)
    {
        return Err(ApiError::field(
            format!("{field}.accuracy_m"),
            "must be a non-negative number",
        ));
    }
    let now = app.now();
    let at = r.at.unwrap_or(now);
    if at > now + Duration::seconds(60) {
        return Err(ApiError::field(format!("{field}.at"), "is in the future"));
    }
    let at = u32::try_from(at.timestamp())
        .map_err(|_| ApiError::field(format!("{field}.at"), "is out of range"))?;
    Ok((p, at))
}

pub(super) async fn store_fix(
    app: &std::sync::Arc<App>,
    id: VolunteerId,
    fix: Option<(firstlink_domain::geo::LatLon, u32)>,
) -> ApiResult<()> {
    let Some((p, at)) = fix else { return Ok(()) };
    let retention = i64::from(app.config.position_retention_hours) * 3600;
    if i64::from(at) < app.now().timestamp() - retention {
        return Ok(());
    }
    // Durable first, then visible to dispatch.
    let fix = firstlink_store::PositionFix {
        volunteer: id,
        position: p,
        at_unix: at,
    };
    app.store.save_positions(std::slice::from_ref(&fix)).await?;
    crate::changes::apply(app, vec![firstlink_store::Change::Positions(vec![fix])]).await;
    app.metrics.position_updates.inc();
    Ok(())
}

/// Report the current position. Only the latest is kept.
#[utoipa::path(post, path = "/api/v1/me/position", tag = "volunteer", request_body = PositionReport,
    responses((status = 204), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn post_position(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(r): Body<PositionReport>,
) -> ApiResult<StatusCode> {
    let (id, _) = volunteer_of(&who)?;
    let fix = check_fix(&app, &r, "position")?;
    let fix = if r.accuracy_m.is_some_and(|a| a > 1_000.0) {
        None
    } else {
        Some(fix)
    };
    store_fix(&app, id, fix).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Report several positions at once (newest wins).
#[utoipa::path(post, path = "/api/v1/me/positions", tag = "volunteer", request_body = PositionBatch,
    responses((status = 204), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn post_positions(
    State(app): State<AppState>,
    Auth(who): Auth,
    Body(b): Body<PositionBatch>,
) -> ApiResult<StatusCode> {
    let (id, _) = volunteer_of(&who)?;
    if b.positions.len() > 100 {
        return Err(ApiError::field("positions", "at most 100 per request"));
    }
    let mut best: Option<(firstlink_domain::geo::LatLon, u32)> = None;
    for (i, r) in b.positions.iter().enumerate() {
        let fix = check_fix(&app, r, &format!("positions[{i}]"))?;
        if r.accuracy_m.is_some_and(|a| a > 1_000.0) {
            continue;
        }
        if best.is_none_or(|b| fix.1 >= b.1) {
            best = Some(fix);
        }
    }
    store_fix(&app, id, best).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the stored position now.
#[utoipa::path(delete, path = "/api/v1/me/position", tag = "volunteer", responses((status = 204)), security(("bearer" = [])))]
pub async fn forget_position(
    State(app): State<AppState>,
    Auth(who): Auth,
) -> ApiResult<StatusCode> {
    let (id, _) = volunteer_of(&who)?;
    app.store.delete_position(id).await?;
    crate::changes::apply(&app, vec![firstlink_store::Change::PositionDeleted(id)]).await;
    Ok(StatusCode::NO_CONTENT)
}
