//! The one error type of the HTTP API: every failure becomes `{"error": CODE, "message": ...}`
//! with a fitting status. Internal failures are logged in full and answered without details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::session::{AttemptError, Denial, DenialCode};
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    /// The body is over the app's limit (in bytes).
    TooLarge(usize),
    Denied(Denial),
    /// The shared store cannot be reached: the attempt fails closed, to be tried again.
    StoreUnavailable(String),
    /// The app could not be opened (the reason, for the log: chat clients are not told it).
    AppUnavailable(String),
    Internal(String),
}

impl From<AttemptError> for ApiError {
    fn from(e: AttemptError) -> ApiError {
        match e {
            AttemptError::BadRequest(message) => ApiError::BadRequest(message),
            AttemptError::Store(StoreError::Unavailable(m)) => ApiError::StoreUnavailable(m),
            AttemptError::Store(e) => ApiError::Internal(e.to_string()),
        }
    }
}

fn denial_status(code: DenialCode) -> StatusCode {
    match code {
        DenialCode::AccessDenied
        | DenialCode::GuestUsersDisabled
        | DenialCode::NotAGuest
        | DenialCode::UserNotFound => StatusCode::FORBIDDEN,
        DenialCode::FunctionLoadError | DenialCode::FunctionCrashed => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        DenialCode::FunctionTimeout => StatusCode::GATEWAY_TIMEOUT,
        DenialCode::FunctionOutOfMemory => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, "BadRequest".to_string(), message)
            }
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, "NotFound".to_string(), message),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge".to_string(),
                format!("the request body is larger than this app's limit of {limit} bytes"),
            ),
            ApiError::Denied(Denial { code, message }) => {
                (denial_status(code), code.as_str().to_string(), message)
            }
            ApiError::StoreUnavailable(detail) => {
                tracing::warn!(%detail, "the store is unavailable to a session attempt");
                let body = json!({
                    "error": "StoreUnavailable",
                    "message": "the user store is unavailable; the session was not started, try again shortly",
                });
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::AppUnavailable(detail) => {
                tracing::error!(%detail, "a session attempt for an app that cannot be opened");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "AppUnavailable".into(),
                    "this app cannot be opened on this server now; see the server log".into(),
                )
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error while answering a request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError".into(),
                    "internal error; see the server log".into(),
                )
            }
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}

/// Errors that axum or hyper answer before a handler runs (a body far over every limit, a
/// path that does not decode, a bad query string, an unknown route or method) come as plain
/// text; this turns each into the same `{"error", "message"}` JSON, keeping the status.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        s if s.is_client_error() => "BadRequest",
        _ => "InternalError",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut json = (status, Json(json!({ "error": code, "message": message }))).into_response();
    // Headers the rejection carried (Allow, WWW-Authenticate...) stay, but not its length/type.
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}
