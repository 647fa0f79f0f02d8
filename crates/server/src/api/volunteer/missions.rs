//! A volunteer's alerts and missions: the current alert, history, accepting,
//! declining, status reports, leaving, the survey and the route.

use super::*;

/// A mission as a volunteer sees it. The address, notes, task and AED access
/// details appear only after accepting and only while the mission is live.
#[derive(Serialize, ToSchema)]
pub struct VolunteerMission {
    pub incident_id: IncidentId,
    /// active, not_alerted, ended, cancelled
    #[schema(value_type = String)]
    pub status: Status,
    /// This volunteer's state.
    #[schema(value_type = String)]
    pub state: AlertState,
    pub alerted_at: DateTime<Utc>,
    /// Answer before this time.
    pub answer_by: DateTime<Utc>,
    /// Walking distance to the patient when alerted, metres.
    pub distance_m: u32,
    /// Walking time to the patient when alerted, seconds.
    pub eta_s: u32,
    pub test: bool,
    pub address: Option<String>,
    pub location: Option<Location>,
    pub notes: Option<String>,
    pub ems_eta_at: Option<DateTime<Utc>>,
    pub task: Option<TaskView>,
    /// The other responders on their way.
    pub responders: Vec<OtherResponder>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskView {
    /// `cpr`: go straight to the patient and start CPR; `fetch_aed`: fetch the AED first.
    #[schema(value_type = String)]
    pub role: Role,
    pub eta_at: DateTime<Utc>,
    pub aed: Option<AedTaskView>,
}

#[derive(Serialize, ToSchema)]
pub struct AedTaskView {
    pub id: AedId,
    pub name: String,
    pub location: Location,
    pub eta_at: DateTime<Utc>,
    /// Where it hangs.
    pub description: Option<String>,
    pub level: Option<String>,
    pub indoor: Option<bool>,
    pub locked: Option<bool>,
    /// The cabinet code: only for the responder sent to this AED.
    pub access_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OtherResponder {
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = String)]
    pub state: AlertState,
    pub eta_at: Option<DateTime<Utc>>,
}

async fn volunteer_view(
    app: &Arc<App>,
    region: RegionId,
    m: &Mission,
    me: VolunteerId,
) -> ApiResult<VolunteerMission> {
    let a = m.alert(me).ok_or_else(|| ApiError::not_found("mission"))?;
    let inside = a.state.responding() && m.is_live();
    let speed = m.policy.speed_mps;
    let mut task = None;
    if inside && let Some(t) = &a.task {
        let aed = match &t.aed {
            Some(x) => {
                let rec = app.aeds().get(x.id).cloned();
                let d = rec.as_ref().map(|r| r.details.clone()).unwrap_or_default();
                let lang = app
                    .store
                    .volunteer(me)
                    .await?
                    .map(|v| v.language)
                    .unwrap_or_default();
                let description = d
                    .location_desc
                    .iter()
                    .find(|(l, _)| *l == lang)
                    .or(d.location_desc.first())
                    .map(|(_, s)| s.clone());
                Some(AedTaskView {
                    id: x.id,
                    name: x.name.clone(),
                    location: x.position.into(),
                    eta_at: x.eta_at,
                    description,
                    level: d.level,
                    indoor: d.indoor,
                    locked: d.locked,
                    access_code: d.access_code,
                })
            }
            None => None,
        };
        task = Some(TaskView {
            role: t.role,
            eta_at: t.eta_at,
            aed,
        });
    }
    let mut responders = Vec::new();
    if inside {
        for o in m
            .alerts
            .iter()
            .filter(|o| o.volunteer != me && o.state.responding())
        {
            let name = app
                .store
                .volunteer(o.volunteer)
                .await?
                .map(|v| first_name(&v.name))
                .unwrap_or_default();
            responders.push(OtherResponder {
                name,
                role: o.task.as_ref().map_or(Role::Cpr, |t| t.role),
                state: o.state,
                eta_at: crate::api::dispatch::live_eta(app, region, m, o),
            });
        }
    }
    Ok(VolunteerMission {
        incident_id: m.id,
        status: m.status,
        state: a.state,
        alerted_at: a.alerted_at,
        answer_by: a.alerted_at + Duration::seconds(i64::from(m.policy.answer_timeout_s)),
        distance_m: a.walk_m.round() as u32,
        eta_s: (a.walk_m / speed).round() as u32,
        test: m.incident.test,
        address: inside.then(|| m.incident.address.clone()),
        location: inside.then(|| m.incident.location.into()),
        notes: if inside {
            m.incident.notes.clone()
        } else {
            None
        },
        ems_eta_at: if inside { m.ems_eta_at } else { None },
        task,
        responders,
    })
}

fn first_name(n: &str) -> String {
    n.split_whitespace().next().unwrap_or("").to_string()
}

async fn my_mission(
    app: &Arc<App>,
    who: &Principal,
    id: &str,
) -> ApiResult<(RegionId, Mission, VolunteerId)> {
    let (me, _) = volunteer_of(who)?;
    let id: IncidentId = id.parse().map_err(|_| ApiError::not_found("mission"))?;
    let (region, m) = app
        .missions
        .get(app, id)
        .await
        .map_err(|_| ApiError::not_found("mission"))?;
    if m.alert(me).is_none() {
        return Err(ApiError::not_found("mission"));
    }
    Ok((region, m, me))
}

/// The alert waiting for an answer, or the mission under way; 204 when there is none.
#[utoipa::path(get, path = "/api/v1/me/alert", tag = "volunteer",
    responses((status = 200, body = VolunteerMission), (status = 204)), security(("bearer" = [])))]
pub async fn current_alert(State(app): State<AppState>, Auth(who): Auth) -> ApiResult<Response> {
    let (me, _) = volunteer_of(&who)?;
    let mut best: Option<(RegionId, Mission)> = None;
    for (r, m) in app.missions.live().await {
        if let Some(a) = m.alert(me)
            && (a.state == AlertState::Alerted || a.state.responding())
            && best
                .as_ref()
                .is_none_or(|(_, b)| b.created_at < m.created_at)
        {
            best = Some((r, m));
        }
    }
    match best {
        Some((r, m)) => Ok(Json(volunteer_view(&app, r, &m, me).await?).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    pub incident_id: IncidentId,
    pub alerted_at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub state: AlertState,
    #[schema(value_type = String)]
    pub status: Status,
    /// The task this volunteer was given: `cpr` (straight to the patient) or
    /// `fetch_aed`; null when they never accepted.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
}

/// Missions the volunteer was alerted for, newest first.
#[utoipa::path(get, path = "/api/v1/me/missions", tag = "volunteer", responses((status = 200, body = Vec<HistoryEntry>)), security(("bearer" = [])))]
pub async fn my_missions(
    State(app): State<AppState>,
    Auth(who): Auth,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    let (me, _) = volunteer_of(&who)?;
    let mut out = Vec::new();
    for id in app.store.alerts_of(me, 50).await? {
        if let Ok((_, m)) = app.missions.get(&app, id).await
            && let Some(a) = m.alert(me)
        {
            let role = a
                .task
                .as_ref()
                .filter(|_| a.state.ever_accepted())
                .map(|t| t.role);
            out.push(HistoryEntry {
                incident_id: id,
                alerted_at: a.alerted_at,
                state: a.state,
                status: m.status,
                role,
            });
        }
    }
    Ok(Json(out))
}

/// One mission the volunteer was alerted for.
#[utoipa::path(get, path = "/api/v1/missions/{id}", tag = "volunteer", params(("id" = String, Path)),
    responses((status = 200, body = VolunteerMission), (status = 404)), security(("bearer" = [])))]
pub async fn get_mission(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<VolunteerMission>> {
    let (region, m, me) = my_mission(&app, &who, &id).await?;
    Ok(Json(volunteer_view(&app, region, &m, me).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The position now; firstlink checks the volunteer is still in range.
    pub position: Option<Location>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptResponse {
    /// `accepted`, `not_needed` (enough responders already) or `out_of_range` (moved too far: released).
    pub outcome: String,
    pub mission: VolunteerMission,
}

/// Accept the alert: the answer carries the task, the address and the AED details.
#[utoipa::path(post, path = "/api/v1/missions/{id}/accept", tag = "volunteer", params(("id" = String, Path)), request_body = Option<AcceptRequest>,
    responses((status = 200, body = AcceptResponse), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn accept(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<AcceptResponse>> {
    let (_, m, me) = my_mission(&app, &who, &id).await?;
    let req: Option<AcceptRequest> = crate::api::parse_optional(&body)?;
    let position = req
        .and_then(|b| b.position)
        .map(|p| p.validate("position"))
        .transpose()?;
    if let Some(p) = position {
        store_fix(&app, me, Some((p, app.now().timestamp() as u32))).await?;
    }
    let (region, m2, out) = app
        .missions
        .input(
            &app,
            m.id,
            Input::Accept {
                volunteer: me,
                position,
            },
        )
        .await?;
    let outcome = match out.accept {
        Some(AcceptReply::Accepted { .. }) => "accepted",
        Some(AcceptReply::NotNeeded) => "not_needed",
        Some(AcceptReply::OutOfRange) => "out_of_range",
        None => "accepted",
    };
    Ok(Json(AcceptResponse {
        outcome: outcome.into(),
        mission: volunteer_view(&app, region, &m2, me).await?,
    }))
}

/// Decline the alert.
#[utoipa::path(post, path = "/api/v1/missions/{id}/decline", tag = "volunteer", params(("id" = String, Path)),
    responses((status = 200, body = VolunteerMission), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn decline(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<VolunteerMission>> {
    let (_, m, me) = my_mission(&app, &who, &id).await?;
    let (region, m2, _) = app
        .missions
        .input(&app, m.id, Input::Decline { volunteer: me })
        .await?;
    Ok(Json(volunteer_view(&app, region, &m2, me).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `en_route`, `aed_collected`, `on_scene` or `handed_over`.
    #[schema(value_type = String)]
    pub status: Progress,
}

/// Report progress on the task.
#[utoipa::path(post, path = "/api/v1/missions/{id}/status", tag = "volunteer", params(("id" = String, Path)), request_body = StatusRequest,
    responses((status = 200, body = VolunteerMission), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn report_status(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    Body(r): Body<StatusRequest>,
) -> ApiResult<Json<VolunteerMission>> {
    let (_, m, me) = my_mission(&app, &who, &id).await?;
    let (region, m2, _) = app
        .missions
        .input(
            &app,
            m.id,
            Input::Progress {
                volunteer: me,
                progress: r.status,
            },
        )
        .await?;
    Ok(Json(volunteer_view(&app, region, &m2, me).await?))
}

/// Withdraw from the mission after accepting (someone else is alerted instead).
#[utoipa::path(post, path = "/api/v1/missions/{id}/leave", tag = "volunteer", params(("id" = String, Path)),
    responses((status = 200, body = VolunteerMission), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn leave(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<VolunteerMission>> {
    let (_, m, me) = my_mission(&app, &who, &id).await?;
    let (region, m2, _) = app
        .missions
        .input(&app, m.id, Input::Leave { volunteer: me })
        .await?;
    Ok(Json(volunteer_view(&app, region, &m2, me).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyRequest {
    /// Did you reach the patient?
    pub arrived: Option<bool>,
    pub gave_cpr: Option<bool>,
    pub used_aed: Option<bool>,
    /// How hard was it for you: `none`, `mild`, `moderate` or `severe`.
    pub impact: String,
    /// Would you like a trained person to call you?
    pub wants_contact: bool,
    pub comments: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SurveyResponse {
    /// Shown when the mission was hard on the volunteer.
    pub support: Option<String>,
}

/// Answer the post-mission survey.
#[utoipa::path(post, path = "/api/v1/missions/{id}/survey", tag = "volunteer", params(("id" = String, Path)), request_body = SurveyRequest,
    responses((status = 201, body = SurveyResponse), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn survey(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
    Body(r): Body<SurveyRequest>,
) -> ApiResult<(StatusCode, Json<SurveyResponse>)> {
    let (_, m, me) = my_mission(&app, &who, &id).await?;
    if !m.alert(me).is_some_and(|a| a.state.ever_accepted()) {
        return Err(ApiError::conflict(
            "not_responding",
            "only volunteers who accepted are asked about the mission",
        ));
    }
    if !["none", "mild", "moderate", "severe"].contains(&r.impact.as_str()) {
        return Err(ApiError::field(
            "impact",
            "must be none, mild, moderate or severe",
        ));
    }
    let comments = opt_text("comments", r.comments.as_deref(), 4_000)?;
    let answers = serde_json::json!({
        "arrived": r.arrived, "gave_cpr": r.gave_cpr, "used_aed": r.used_aed,
        "impact": r.impact, "wants_contact": r.wants_contact, "comments": comments,
    });
    app.store.save_survey(m.id, me, &answers, app.now()).await?;
    let heavy = r.wants_contact || r.impact == "moderate" || r.impact == "severe";
    let support = heavy.then(|| "Thank you. A trained nurse from your region will call you within a day to talk it through. If you need someone now, call your region's support line.".to_string());
    Ok((StatusCode::CREATED, Json(SurveyResponse { support })))
}

/// The walking route from the volunteer's latest position to the patient, via
/// the assigned AED until it is collected: a GeoJSON Feature (LineString) with
/// `distance_m` and `duration_s`. Straight lines where the region has no graph.
#[utoipa::path(get, path = "/api/v1/missions/{id}/route", tag = "volunteer", params(("id" = String, Path)),
    responses((status = 200, body = Object, description = "GeoJSON Feature"), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn route(
    State(app): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (region, m, me) = my_mission(&app, &who, &id).await?;
    let a = m.alert(me).ok_or_else(|| ApiError::not_found("mission"))?;
    let task = a
        .task
        .as_ref()
        .filter(|_| a.state.responding() && m.is_live())
        .ok_or_else(|| {
            ApiError::conflict(
                "not_responding",
                "a route is shown to responders of a live mission",
            )
        })?;
    let from = app.index().position(me).map_or(a.position, |p| p.0);
    let to = m.incident.location;
    let via = task
        .aed
        .as_ref()
        .filter(|_| matches!(a.state, AlertState::Accepted | AlertState::EnRoute))
        .map(|x| x.position);
    let speed = m.policy.speed_mps;
    if let Some(router) = app.router_for(region) {
        let r = match via {
            Some(v) => router.router().route_via(from, v, to),
            None => router.router().route(from, to),
        };
        if let Some(r) = r {
            return Ok(Json(r.to_geojson(speed)));
        }
    }
    let pts: Vec<firstlink_domain::geo::LatLon> = std::iter::once(from)
        .chain(via)
        .chain(std::iter::once(to))
        .collect();
    let metres: f64 = pts
        .windows(2)
        .map(|w| w[0].distance_m(w[1]) * m.policy.detour_factor)
        .sum();
    Ok(Json(serde_json::json!({
        "type": "Feature",
        "geometry": { "type": "LineString", "coordinates": pts.iter().map(|p| [p.lon, p.lat]).collect::<Vec<_>>() },
        "properties": { "distance_m": metres.round(), "duration_s": (metres / speed).round(), "estimated": true }
    })))
}
