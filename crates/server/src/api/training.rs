//! CPR refresher: the region's interval (operators) and where the signed-in
//! volunteer's training stands (the app's reminder). The reminders
//! themselves are sent by [`crate::refresher`].

use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Auth, Body, audit};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::refresher::{self, INTERVAL_RANGE, RefresherSettings, SOON_DAYS};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_refresher, put_refresher))
        .routes(routes!(my_refresher))
}

/// How long a CPR training counts before a refresher is due.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefresherWire {
    /// Months, 1 to 120 (default 24).
    pub interval_months: u32,
}

/// The region's refresher interval (operators; dispatchers read).
#[utoipa::path(get, path = "/api/v1/regions/{slug}/refresher", tag = "operator", params(("slug" = String, Path)),
    responses((status = 200, body = RefresherWire), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_refresher(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
) -> ApiResult<Json<RefresherWire>> {
    let r = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !(who.can_operate(r.region.id) || who.can_dispatch(r.region.id))
        || matches!(who, Principal::Dispatch { .. })
    {
        return Err(ApiError::forbidden());
    }
    let s = refresher::settings(&app, r.region.id).await?;
    Ok(Json(RefresherWire {
        interval_months: s.interval_months,
    }))
}

/// Set the region's refresher interval (operators).
#[utoipa::path(put, path = "/api/v1/regions/{slug}/refresher", tag = "operator", params(("slug" = String, Path)), request_body = RefresherWire,
    responses((status = 200, body = RefresherWire), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_refresher(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(slug): Path<String>,
    Body(w): Body<RefresherWire>,
) -> ApiResult<Json<RefresherWire>> {
    let r = app
        .region_by_slug(&slug)
        .ok_or_else(|| ApiError::not_found("region"))?;
    if !who.can_operate(r.region.id) {
        return Err(ApiError::forbidden());
    }
    if !INTERVAL_RANGE.contains(&w.interval_months) {
        return Err(ApiError::field(
            "interval_months",
            format!(
                "between {} and {} months",
                INTERVAL_RANGE.start(),
                INTERVAL_RANGE.end()
            ),
        ));
    }
    refresher::set_settings(
        &app,
        r.region.id,
        RefresherSettings {
            interval_months: w.interval_months,
        },
    )
    .await?;
    audit(
        &app,
        &who,
        "region.refresher",
        Some(r.region.id),
        Some(slug),
        serde_json::json!({ "interval_months": w.interval_months }),
    )
    .await;
    Ok(Json(w))
}

/// Where the volunteer's CPR training stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyRefresher {
    pub training_date: Option<NaiveDate>,
    pub interval_months: u32,
    /// When a refresher is due (training date + interval).
    pub due_on: Option<NaiveDate>,
    /// `ok`, `due_soon` (within `soon_days`), `overdue` or `unknown` (no training date).
    pub state: String,
    pub soon_days: i64,
}

/// The volunteer's CPR refresher status, for the app's reminder.
#[utoipa::path(get, path = "/api/v1/me/refresher", tag = "volunteer",
    responses((status = 200, body = MyRefresher), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn my_refresher(
    State(app): State<AppState>,
    Auth(who): Auth,
) -> ApiResult<Json<MyRefresher>> {
    let Principal::Volunteer { id, region } = who else {
        return Err(ApiError::forbidden());
    };
    let v = app
        .store
        .volunteer(id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    let rt = app
        .region(region)
        .ok_or_else(|| ApiError::not_found("region"))?;
    let interval = refresher::settings(&app, region).await?.interval_months;
    let today = app.now().with_timezone(&rt.tz).date_naive();
    let (state, due_on) = refresher::status(v.training_date, interval, today);
    Ok(Json(MyRefresher {
        training_date: v.training_date,
        interval_months: interval,
        due_on,
        state: state.as_str().into(),
        soon_days: SOON_DAYS,
    }))
}
