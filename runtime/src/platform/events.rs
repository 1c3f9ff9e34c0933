//! Chat events, as the chat backend reports them, and the dead letters.
//!
//! - `POST /v1/events` (or `/v1/apps/{app}/events`): one event or a batch; 202 once every one
//!   is durably queued, 429 with `Retry-After` when the app's queue is full (nothing queued).
//! - `GET /v1/events/stats`: counts and the queue's depth.
//! - `/v1/events/dead-letters`: listed oldest first, one inspected or deleted,
//!   `.../redrive` and `.../delete` for those a filter picks (`seqs`, `type`, `key` or `all`).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    json_body, resource_id, Authorized, ErrorBody, OAuthError, Page, PageQuery, PlatformApp,
    PlatformError,
};
use crate::store::events::{EventCounts, NewEvent, QueuedEvent};
use crate::store::StoreError;
use crate::time::now_ms;

/// What became of one reported event.
#[derive(Serialize, ToSchema)]
pub struct EventReceipt {
    id: String,
    /// Its place in the app's queue (for a duplicate, where it was first queued); none when
    /// the app has no function for its trigger.
    seq: Option<u64>,
    /// `QUEUED`; `DUPLICATE`: its id was accepted before, nothing was queued again;
    /// `UNHANDLED`: the app has no function for its trigger (counted, not queued).
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Receipts {
    events: Vec<EventReceipt>,
}

/// Reports chat events: `{"type", "id"?, "event"}`, an array of them, or `{"events": [...]}`.
#[utoipa::path(post, path = "/v1/events", tag = "events", security(("bearer" = [])),
    request_body(content = Object, description = "an event {type, id, event}, an array of them, or {events: [...]}"),
    responses((status = 202, body = Receipts), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn report(
    Authorized(app): Authorized,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Receipts>), PlatformError> {
    accept(&app, &headers, body).await
}

/// `POST /v1/events` for the app the path names (the token must be that app's).
#[utoipa::path(post, path = "/v1/apps/{app}/events", tag = "events", security(("bearer" = [])), params(("app" = String, Path)),
    request_body(content = Object, description = "as POST /v1/events"),
    responses((status = 202, body = Receipts), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn report_for_app(
    Authorized(app): Authorized,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Receipts>), PlatformError> {
    if app.app.name != name {
        return Err(PlatformError::Unauthorized);
    }
    accept(&app, &headers, body).await
}

async fn accept(
    app: &PlatformApp,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Receipts>), PlatformError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    PlatformError::BadRequest("the Idempotency-Key header must be text".into())
                })?
                .to_string(),
        ),
        None => None,
    };
    // A batch of up to a thousand events is read and checked on a blocking thread: the
    // serving thread goes on answering session attempts meanwhile.
    let events = crate::events::delivery::background()
        .spawn_blocking(move || crate::events::parse_batch(&body, idempotency_key.as_deref()))
        .await
        .map_err(|e| PlatformError::Internal(format!("reading the events failed: {e}")))?
        .map_err(PlatformError::BadRequest)?;
    let deployment = app.sessions.deployment();
    let (handled, unhandled): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| deployment.has_function(e.trigger));
    let batch = handled
        .into_iter()
        .map(|e| NewEvent {
            id: e.id,
            trigger: e.trigger.name().into(),
            key: e.key,
            event: e.event,
        })
        .collect::<Vec<_>>();
    let keys: Vec<String> = batch.iter().map(|e| e.key.clone()).collect();
    let now = now_ms();
    let accepted = match app
        .events
        .store()
        .accept(batch, unhandled.len(), app.events.config().max_queue, now)
        .await
    {
        Ok(accepted) => accepted,
        Err(StoreError::Conflict(message)) => return Err(PlatformError::TooManyRequests(message)),
        Err(e) => return Err(e.into()),
    };
    app.events.queued(
        accepted.iter().zip(keys).filter(|(a, _)| !a.duplicate).map(|(a, key)| (a.seq, key, now)),
    );
    let mut receipts: Vec<EventReceipt> = accepted
        .into_iter()
        .map(|a| EventReceipt {
            id: a.id,
            seq: Some(a.seq),
            status: if a.duplicate { "DUPLICATE" } else { "QUEUED" },
        })
        .collect();
    receipts.extend(unhandled.into_iter().map(|e| EventReceipt {
        id: e.id,
        seq: None,
        status: "UNHANDLED",
    }));
    Ok((StatusCode::ACCEPTED, Json(Receipts { events: receipts })))
}

#[utoipa::path(get, path = "/v1/events/stats", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = OAuthError)))]
pub async fn stats(Authorized(app): Authorized) -> Result<Json<Stats>, PlatformError> {
    Ok(Json(Stats {
        counts: app.events.store().counts().await?,
        delay: app.events.delays(),
        delivering: app.events.delivers(),
    }))
}

/// The counts, and how long events waited from their 202 to their first run.
#[derive(Serialize)]
pub struct Stats {
    #[serde(flatten)]
    counts: EventCounts,
    /// Of the runs this node started.
    delay: crate::events::delivery::Delays,
    /// Whether this node delivers the app's events (always, on sled; one node at a time on a
    /// shared database).
    delivering: bool,
}

/// A dead letter: the event, and every failed run with its error and invocation record.
#[derive(Serialize, ToSchema)]
pub struct DeadLetters {
    #[serde(rename = "deadLetters")]
    #[schema(value_type = Vec<Object>)]
    dead_letters: Vec<QueuedEvent>,
}

/// Oldest first.
#[utoipa::path(get, path = "/v1/events/dead-letters", tag = "events", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<DeadLetters>), (status = 401, body = OAuthError)))]
pub async fn dead_letters(
    Authorized(app): Authorized,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<DeadLetters>>, PlatformError> {
    let (letters, total) = app.events.store().dead_letters(q.page, q.size()).await?;
    Ok(Json(Page::new(
        DeadLetters { dead_letters: letters },
        q.page,
        q.size(),
        total,
        "/v1/events/dead-letters",
    )))
}

#[utoipa::path(get, path = "/v1/events/dead-letters/{seq}", tag = "events", security(("bearer" = [])), params(("seq" = u64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn dead_letter(
    Authorized(app): Authorized,
    Path(seq): Path<String>,
) -> Result<Json<QueuedEvent>, PlatformError> {
    let seq = resource_id(&seq, "dead letter")?;
    app.events
        .store()
        .dead_letter(seq)
        .await?
        .map(Json)
        .ok_or_else(|| PlatformError::NotFound(format!("dead letter {seq} not found")))
}

#[utoipa::path(delete, path = "/v1/events/dead-letters/{seq}", tag = "events", security(("bearer" = [])), params(("seq" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn delete_dead_letter(
    Authorized(app): Authorized,
    Path(seq): Path<String>,
) -> Result<StatusCode, PlatformError> {
    let seq = resource_id(&seq, "dead letter")?;
    match app.events.store().delete_dead(&|e| e.seq == seq).await? {
        0 => Err(PlatformError::NotFound(format!("dead letter {seq} not found"))),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// Which dead letters: by sequence number, by trigger, by key, or all of them.
#[derive(Deserialize, ToSchema)]
pub struct Filter {
    #[serde(default)]
    seqs: Option<Vec<u64>>,
    #[serde(default, rename = "type")]
    trigger: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    all: bool,
}

impl Filter {
    fn read(body: &[u8]) -> Result<Filter, PlatformError> {
        let filter: Filter = json_body(body)?;
        if filter.seqs.is_none() && filter.trigger.is_none() && filter.key.is_none() && !filter.all
        {
            return Err(PlatformError::BadRequest(
                "say which dead letters: {\"seqs\": [...]}, {\"type\": ...}, {\"key\": ...} or {\"all\": true}".into(),
            ));
        }
        Ok(filter)
    }

    fn picks(&self, e: &QueuedEvent) -> bool {
        self.seqs.as_ref().is_none_or(|s| s.contains(&e.seq))
            && self.trigger.as_ref().is_none_or(|t| *t == e.trigger)
            && self.key.as_ref().is_none_or(|k| *k == e.key)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Moved {
    /// How many dead letters the filter picked and were acted on.
    count: usize,
    /// The redriven events as queued again (with their new `seq`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    events: Vec<QueuedEvent>,
}

/// Sends the dead letters the filter picks back to the queue, to run now (after the events of
/// their key accepted since), with their failures kept.
#[utoipa::path(post, path = "/v1/events/dead-letters/redrive", tag = "events", security(("bearer" = [])), request_body = Filter,
    responses((status = 200, body = Moved), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn redrive(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<Moved>, PlatformError> {
    let filter = Filter::read(&body)?;
    let events = app.events.redrive(&|e| filter.picks(e)).await?;
    Ok(Json(Moved { count: events.len(), events }))
}

/// Deletes the dead letters the filter picks.
#[utoipa::path(post, path = "/v1/events/dead-letters/delete", tag = "events", security(("bearer" = [])), request_body = Filter,
    responses((status = 200, body = Moved), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn delete_dead_letters(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<Moved>, PlatformError> {
    let filter = Filter::read(&body)?;
    let count = app.events.store().delete_dead(&|e| filter.picks(e)).await?;
    Ok(Json(Moved { count, events: Vec::new() }))
}
