//! The one error type of the HTTP API: every failure becomes `{"error": CODE, "message": ...}`
//! with a fitting status. Internal failures are logged in full and answered without details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::session::{AttemptError, Denial, DenialCode};

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    /// The body is over the app's limit (in bytes).
    TooLarge(usize),
    Denied(Denial),
    Internal(String),
}

impl From<AttemptError> for ApiError {
    fn from(e: AttemptError) -> ApiError {
        match e {
            AttemptError::BadRequest(message) => ApiError::BadRequest(message),
            AttemptError::Store(e) => ApiError::Internal(e.to_string()),
        }
    }
}

fn denial_status(code: DenialCode) -> StatusCode {
    match code {
        DenialCode::AccessDenied | DenialCode::GuestUsersDisabled | DenialCode::NotAGuest | DenialCode::UserNotFound => {
            StatusCode::FORBIDDEN
        }
        DenialCode::FunctionLoadError | DenialCode::FunctionCrashed => StatusCode::INTERNAL_SERVER_ERROR,
        DenialCode::FunctionTimeout => StatusCode::GATEWAY_TIMEOUT,
        DenialCode::FunctionOutOfMemory => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, "BadRequest".to_string(), message),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, "NotFound".to_string(), message),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge".to_string(),
                format!("the request body is larger than this app's limit of {limit} bytes"),
            ),
            ApiError::Denied(Denial { code, message }) => {
                (denial_status(code), code.as_str().to_string(), message)
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error while answering a request");
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError".into(), "internal error; see the server log".into())
            }
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
