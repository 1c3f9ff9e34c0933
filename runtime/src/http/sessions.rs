//! `POST /v1/apps/{app}/sessions` (and `/v1/sessions` for the first app): where a session
//! attempt enters chatfn. Parses the body of ChatKitty's
//! `startSession` (`{"username", "authParams"}`) and hands it to `session::Sessions`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;

use super::error::ApiError;
use super::Apps;
use crate::session::{AttemptRequest, Decision, Session, Sessions};
use crate::store::User;

pub async fn start_default_app_session(
    State(apps): State<Arc<Apps>>,
    body: Bytes,
) -> Result<Json<SessionStarted>, ApiError> {
    let sessions = apps.default.sessions().await?;
    attempt(&sessions, &body).await
}

pub async fn start_session(
    State(apps): State<Arc<Apps>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<SessionStarted>, ApiError> {
    let served = apps
        .by_name
        .get(&app)
        .ok_or_else(|| ApiError::NotFound(format!("no app named {app:?} is served here")))?;
    let sessions = served.sessions().await?;
    attempt(&sessions, &body).await
}

async fn attempt(sessions: &Sessions, body: &[u8]) -> Result<Json<SessionStarted>, ApiError> {
    if body.len() > sessions.body_limit() {
        return Err(ApiError::TooLarge(sessions.body_limit()));
    }
    let request = parse(body)?;
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
        Decision::Allowed { session, user } => Ok(Json(SessionStarted { session, user })),
        Decision::Denied(denial) => Err(ApiError::Denied(denial)),
    }
}

/// The answer to an allowed attempt: ChatKitty's session and user shapes.
#[derive(serde::Serialize)]
pub struct SessionStarted {
    session: Session,
    user: User,
}

fn parse(body: &[u8]) -> Result<AttemptRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body is empty; send {\"username\": ..., \"authParams\": {...}}".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    AttemptRequest::from_event(value).map_err(ApiError::BadRequest)
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

/// Hostile input through the whole HTTP stack (router, body limit, parser, session rules,
/// sled): whatever the client sends, chatfn answers 200, 400 or 413, never panics and never
/// answers 5xx for a client's mistake.
#[cfg(test)]
mod hostile_input {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use proptest::prelude::*;
    use tower::ServiceExt;

    use crate::config::App;
    use crate::session::Sessions;

    fn router() -> (tempfile::TempDir, axum::Router) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("chatfn.toml"),
            "[app]\nguest_users = \"ENABLED\"\n[limits]\nbody_kb = 4\n",
        )
        .unwrap();
        let app = App::load(dir.path()).unwrap();
        let users = crate::store::open(&dir.path().join("data"), 10).unwrap().users;
        let worker =
            crate::worker::Worker::spawn(&app, users.clone(), crate::worker::Start::Warm).unwrap();
        let sessions = Arc::new(Sessions::new(&app, users, worker));
        let router = super::super::router(Arc::new(super::super::Apps::single(sessions)));
        (dir, router)
    }

    fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Arbitrary bytes, including invalid UTF-8.
            proptest::collection::vec(any::<u8>(), 0..512),
            // JSON-shaped text.
            "[{}\\[\\]\":,a-z0-9 \\\\nu\\-]{0,200}".prop_map(String::into_bytes),
            // Start-session bodies with hostile usernames and authParams.
            (
                any::<String>(),
                prop_oneof![
                    Just("null".to_string()),
                    Just("[]".to_string()),
                    Just("{\"k\":1}".to_string()),
                    Just("\"s\"".to_string())
                ]
            )
                .prop_map(|(name, auth)| format!(
                    "{{\"username\": {}, \"authParams\": {auth}}}",
                    serde_json::Value::String(name)
                )
                .into_bytes()),
            // Too big.
            Just(vec![b' '; 5000]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn every_body_gets_a_client_answer(bodies in proptest::collection::vec(body_strategy(), 1..4), header in "[ -~]{0,2000}") {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (_dir, router) = router();
            runtime.block_on(async {
                for body in bodies {
                    let request = Request::post("/v1/sessions")
                        .header("content-type", "application/json")
                        .header("x-hostile", header.as_str())
                        .body(Body::from(body.clone()))
                        .unwrap();
                    let response = router.clone().oneshot(request).await.unwrap();
                    let status = response.status().as_u16();
                    prop_assert!([200, 400, 413].contains(&status), "{status} for {:?}", String::from_utf8_lossy(&body));
                    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                    if status != 413 {
                        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                        if status == 400 {
                            prop_assert_eq!(&json["error"], "BadRequest");
                            prop_assert!(!json["message"].as_str().unwrap().is_empty());
                        }
                    }
                }
                Ok(())
            })?;
        }
    }
}
