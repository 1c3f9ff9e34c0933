//! `POST /v1/sessions`: where a session attempt enters chatfn. Parses the body of ChatKitty's
//! `startSession` (`{"username", "authParams"}`) and hands it to `session::Sessions`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::session::{AttemptRequest, Decision, Sessions};

pub async fn start_session(State(sessions): State<Arc<Sessions>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request = parse(&body)?;
    let attempt = sessions.attempt(request).await?;
    if let Some(invocation) = &attempt.invocation {
        tracing::debug!(
            trigger = invocation.trigger.name(),
            outcome = ?invocation.outcome,
            duration_ms = invocation.duration_ms,
            log_lines = invocation.logs.len(),
            "function invoked"
        );
    }
    match attempt.decision {
        Decision::Allowed { session, user } => Ok(Json(json!({
            "session": session,
            "user": {
                "id": user.id,
                "name": user.name,
                "displayName": user.display_name,
                "isGuest": user.is_guest,
                "properties": user.properties,
                "createdTime": user.created_time,
            },
        }))),
        Decision::Denied(denial) => Err(ApiError::Denied(denial)),
    }
}

fn parse(body: &[u8]) -> Result<AttemptRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty; send {\"username\": ..., \"authParams\": {...}}".into()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::BadRequest(format!(
            "the request body does not have the expected shape: a JSON object, not {}",
            json_type(&value)
        )));
    };
    let username = match fields.remove("username") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("username must be a string, not {}", json_type(&other))));
        }
        None => return Err(ApiError::BadRequest("username is required".into())),
    };
    let auth_params = fields.remove("authParams").or_else(|| fields.remove("auth_params")).unwrap_or(Value::Null);
    Ok(AttemptRequest { username, auth_params })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_with_clear_messages() {
        let bad = [
            ("", "empty"),
            ("{", "not valid JSON"),
            ("[1,2]", "expected shape"),
            ("{}", "username is required"),
            ("{\"username\": 7}", "must be a string, not a number"),
        ];
        for (body, expected) in bad {
            match parse(body.as_bytes()) {
                Err(ApiError::BadRequest(m)) => assert!(m.contains(expected), "{body:?} → {m}"),
                other => panic!("{body:?} → {other:?}"),
            }
        }
        let ok = parse(br#"{"username":"ann","authParams":{"idToken":"t"}}"#).unwrap();
        assert_eq!(ok.username, "ann");
        assert_eq!(ok.auth_params["idToken"], "t");
    }
}
