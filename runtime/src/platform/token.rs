//! `POST /oauth/token`: OAuth2 client credentials (RFC 6749 §4.4). The client authenticates
//! with HTTP Basic (or `client_id`/`client_secret` form fields) and sends
//! `grant_type=client_credentials`, urlencoded or (as ChatKitty's npm client does) multipart.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::keys::TOKEN_LIFETIME;
use super::{OAuthError, Platform, PlatformError};

#[derive(Serialize, ToSchema)]
pub struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    /// Seconds.
    expires_in: u64,
    scope: &'static str,
}

/// The form fields of a token request (also accepted as multipart/form-data).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `client_credentials`.
    grant_type: String,
    /// When not given with HTTP Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[utoipa::path(post, path = "/oauth/token", tag = "auth", security(("client_credentials" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenAnswer), (status = 400, body = OAuthError), (status = 401, body = OAuthError)))]
pub async fn issue(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let fields = form_fields(content_type, &body);
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let basic = basic_credentials(&headers);
    // The Basic challenge only answers a client that used Basic (RFC 6749 5.2): a browser page
    // sending the credentials as form fields gets no login dialog on a wrong secret.
    let challenge = basic.is_some();
    let Some((client_id, secret)) =
        basic.or_else(|| Some((field("client_id")?, field("client_secret")?)))
    else {
        return invalid_client(true);
    };
    // Which app the key belongs to is part of what the key proves.
    let app = match platform.key_owner(&client_id, &secret).await {
        Ok(Some(app)) => app,
        Ok(None) => return invalid_client(challenge),
        Err(e) => return PlatformError::from(e).into_response(),
    };
    if field("grant_type").as_deref() != Some("client_credentials") {
        let body = OAuthError {
            error: "unsupported_grant_type".into(),
            error_description: "chatfn issues tokens for grant_type=client_credentials".into(),
        };
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let token = match platform.tokens.issue(&app.app.name, &client_id).await {
        Ok(token) => token,
        Err(e) => return PlatformError::from(e).into_response(),
    };
    let body = TokenAnswer {
        access_token: token,
        token_type: "bearer",
        expires_in: TOKEN_LIFETIME.as_secs(),
        scope: "create:* read:* update:* delete:*",
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn invalid_client(challenge: bool) -> Response {
    let body = OAuthError {
        error: "invalid_client".into(),
        error_description: "Bad client credentials".into(),
    };
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"chatfn\""),
        );
    }
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?)
            .ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// The name/value fields of a urlencoded or multipart/form-data body (text fields only).
fn form_fields(content_type: &str, body: &[u8]) -> Vec<(String, String)> {
    let Some(boundary) = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    };
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    body.split(delimiter.as_str())
        .filter_map(|part| {
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head
                .split(';')
                .find_map(|p| p.trim().strip_prefix("name="))?
                .trim_matches('"')
                .to_string();
            Some((name, value.strip_suffix("\r\n").unwrap_or(value).to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::form_fields;

    #[test]
    fn reads_urlencoded_and_multipart_fields() {
        assert_eq!(
            form_fields(
                "application/x-www-form-urlencoded",
                b"grant_type=client_credentials&x=a+b"
            ),
            vec![
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("x".to_string(), "a b".to_string())
            ]
        );
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XyZ--\r\n";
        assert_eq!(
            form_fields("multipart/form-data; boundary=XyZ", multipart.as_bytes()),
            vec![("grant_type".to_string(), "client_credentials".to_string())]
        );
    }
}
