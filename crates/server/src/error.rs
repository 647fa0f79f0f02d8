//! The API's errors: a stable machine-readable code, a message for people,
//! and the offending field where there is one. Internal causes are logged
//! once and never shown to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::missions::InputError;
use firstlink_domain::mission::MissionError;
use firstlink_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code to program against; see the catalogue in docs/api-errors.md.
    pub code: String,
    pub message: String,
    /// JSON path of the offending field, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A field that breaks a rule (400 `invalid_field`).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your credentials do not allow this",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = s.to_string().parse()
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("record"),
            StoreError::Conflict(what) => {
                ApiError::conflict("conflict", format!("{what} already exists"))
            }
            StoreError::Stale => {
                ApiError::unavailable("the record is being changed by another request; retry")
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::NotFound => ApiError::not_found("incident"),
            InputError::Store(s) => s.into(),
            InputError::NoRegion => ApiError::internal("mission of an unknown region"),
            e @ InputError::OutsideRegion { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "outside_region",
                e.to_string(),
            ),
            InputError::Mission(m) => {
                let code = match m {
                    MissionError::NotActive => "mission_over",
                    MissionError::NotAlerted => "not_alerted",
                    MissionError::NoLongerPart => "no_longer_part",
                    MissionError::NotResponding => "not_responding",
                    MissionError::Backwards { .. } => "invalid_transition",
                    MissionError::NoAedTask => "no_aed_task",
                    MissionError::AlreadyStarted => "already_started",
                };
                let status = if m == MissionError::NotAlerted {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::CONFLICT
                };
                ApiError::new(status, code, m.to_string())
            }
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
