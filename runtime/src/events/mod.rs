//! Chat events: ChatKitty's non-blocking triggers. The chat backend reports each event
//! (`POST /v1/events`, `platform/events.rs`); chatfn checks it has its trigger's shape, stores
//! it durably (`store/events.rs`) and runs the app's function for it from the queue
//! (`delivery.rs`): at least once, in order per key, retried with backoff, then dead-lettered.
//!
//! This file is the one reading of what the backend sends: a batch of events, each with its
//! trigger (`type`), its idempotency key (`id`) and its body (`event`), checked against the
//! trigger's shape, and the key its deliveries are ordered by.

pub mod delivery;
pub mod leader;

use serde_json::Value;

use crate::config::Trigger;

/// One event as the chat backend reported it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEvent {
    /// The idempotency key: the event's `id`, the request's `Idempotency-Key` for a single
    /// event, or one made here.
    pub id: String,
    pub trigger: Trigger,
    /// `channel/<id>` for an event in a channel, else `user/<id>`: runs of one key are ordered.
    pub key: String,
    pub event: Value,
}

/// Most events one request may report.
pub const MAX_BATCH: usize = 1000;

/// Reads a request body: one event `{"type", "id"?, "event"}`, a JSON array of them, or
/// `{"events": [...]}`. `idempotency_key` (the header) names a single event. The error names
/// the bad event and field.
pub fn parse_batch(body: &[u8], idempotency_key: Option<&str>) -> Result<Vec<ChatEvent>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let (items, single) = match value {
        Value::Array(items) => (items, false),
        Value::Object(mut object) if object.contains_key("events") => match object.remove("events")
        {
            Some(Value::Array(items)) => (items, false),
            _ => return Err("events must be an array of events".into()),
        },
        Value::Object(object) => (vec![Value::Object(object)], true),
        _ => {
            return Err("expected an event object, an array of events or {\"events\": [...]}".into())
        }
    };
    if items.is_empty() {
        return Err("no events in the batch".into());
    }
    if items.len() > MAX_BATCH {
        return Err(format!("{} events in one batch; at most {MAX_BATCH}", items.len()));
    }
    if idempotency_key.is_some() && !single {
        return Err("the Idempotency-Key header names a single event; give each event of a batch its own id".into());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = if single { String::new() } else { format!("events[{i}]: ") };
            parse_one(item, idempotency_key).map_err(|e| format!("{at}{e}"))
        })
        .collect()
}

fn parse_one(item: Value, idempotency_key: Option<&str>) -> Result<ChatEvent, String> {
    let Value::Object(mut item) = item else { return Err("an event must be a JSON object".into()) };
    let trigger = match item.get("type") {
        Some(Value::String(name)) => {
            Trigger::from_name(name).filter(|t| !t.is_blocking()).ok_or_else(|| {
                let known: Vec<_> =
                    Trigger::ALL.iter().filter(|t| !t.is_blocking()).map(|t| t.name()).collect();
                format!("type {name:?} is not a chat event; one of {}", known.join(", "))
            })?
        }
        Some(_) => return Err("type must be a string".into()),
        None => return Err("type is required (the trigger, e.g. \"user.sent.message\")".into()),
    };
    let id = match (item.get("id"), idempotency_key) {
        (Some(Value::String(id)), _) => id.clone(),
        (Some(Value::Number(n)), _) => n.to_string(),
        (Some(_), _) => return Err("id must be a string or a number".into()),
        (None, Some(header)) => header.to_string(),
        (None, None) => format!("chatfn-{}", uuid::Uuid::new_v4()),
    };
    if id.is_empty() || id.len() > 256 {
        return Err("id must be 1 to 256 bytes".into());
    }
    let event = item.remove("event").ok_or("event is required (the event's body)")?;
    let key = check_shape(trigger, &event).map_err(|e| format!("{}: {e}", trigger.name()))?;
    Ok(ChatEvent { id, trigger, key, event })
}

/// A field of an event body and what it must be.
enum Field {
    Object,
    OptionalObject,
    Bool,
    Number,
}

/// The fields of each trigger's event, as ChatKitty's function events have them.
fn shape(trigger: Trigger) -> &'static [(&'static str, Field)] {
    use Field::*;
    match trigger {
        Trigger::UserAttemptedStartSession => &[],
        Trigger::UserReceivedNotification => {
            &[("user", Object), ("notification", Object), ("userHasActiveSession", Bool)]
        }
        Trigger::UserSentMessage => &[("user", Object), ("channel", Object), ("message", Object)],
        Trigger::UserStartedChatSession => &[
            ("user", Object),
            ("channel", Object),
            ("channelUnread", Bool),
            ("channelMessagesCount", Number),
        ],
        Trigger::UserReadMessage => &[("user", Object), ("message", Object), ("receipt", Object)],
        Trigger::UserReceivedChannelInvite => {
            &[("user", Object), ("channel", Object), ("invitingUser", OptionalObject)]
        }
        Trigger::UserTriggeredEvent => &[("user", Object), ("channel", Object), ("event", Object)],
        Trigger::SystemTriggeredEvent => &[("channel", Object), ("event", Object)],
        Trigger::UserReactedToMessage => {
            &[("user", Object), ("message", Object), ("reaction", Object)]
        }
    }
}

/// Checks `event` against its trigger's shape; answers its ordering key.
pub fn check_shape(trigger: Trigger, event: &Value) -> Result<String, String> {
    let Value::Object(fields) = event else { return Err("event must be a JSON object".into()) };
    for (name, kind) in shape(trigger) {
        let value = fields.get(*name);
        let fits = match kind {
            Field::Object => value.is_some_and(Value::is_object),
            Field::OptionalObject => value.is_none_or(|v| v.is_object() || v.is_null()),
            Field::Bool => value.is_some_and(Value::is_boolean),
            Field::Number => value.is_some_and(Value::is_number),
        };
        if !fits {
            let what = match kind {
                Field::Object => "is required (an object)",
                Field::OptionalObject => "must be an object when given",
                Field::Bool => "is required (true or false)",
                Field::Number => "is required (a number)",
            };
            return Err(format!("{name} {what}"));
        }
    }
    let id_of = |name: &str| -> Result<String, String> {
        match fields.get(name).and_then(|o| o.get("id")) {
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("{name}.id is required (a number or a string)")),
        }
    };
    if fields.contains_key("channel") {
        Ok(format!("channel/{}", id_of("channel")?))
    } else {
        Ok(format!("user/{}", id_of("user")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(body: Value) -> Result<ChatEvent, String> {
        parse_batch(body.to_string().as_bytes(), None).map(|mut all| all.remove(0))
    }

    #[test]
    fn events_are_keyed_by_channel_else_by_user() {
        let sent = one(json!({"type": "user.sent.message", "id": "e1",
            "event": {"user": {"id": 1}, "channel": {"id": 7}, "message": {"id": 3}}}))
        .unwrap();
        assert_eq!((sent.id.as_str(), sent.key.as_str()), ("e1", "channel/7"));
        let read = one(json!({"type": "user.read.message",
            "event": {"user": {"id": "u9"}, "message": {}, "receipt": {}}}))
        .unwrap();
        assert_eq!(read.key, "user/u9");
        assert!(read.id.starts_with("chatfn-"), "an id is made when none is given");
    }

    #[test]
    fn a_bad_event_is_refused_naming_the_field() {
        let cases = [
            (
                json!({"type": "user.sent.message", "event": {"user": {"id": 1}, "channel": {"id": 7}}}),
                "message is required",
            ),
            (
                json!({"type": "user.started.chat_session", "event": {"user": {"id": 1}, "channel": {"id": 7}, "channelUnread": "no", "channelMessagesCount": 1}}),
                "channelUnread is required (true or false)",
            ),
            (
                json!({"type": "system.triggered.event", "event": {"channel": {}, "event": {}}}),
                "channel.id is required",
            ),
            (json!({"type": "user.attempted.start_session", "event": {}}), "not a chat event"),
            (json!({"type": "user.sent.message"}), "event is required"),
            (json!({"event": {}}), "type is required"),
        ];
        for (body, reason) in cases {
            let error = one(body.clone()).unwrap_err();
            assert!(error.contains(reason), "{body} → {error}");
        }
        let batch = json!([{"type": "user.triggered.event", "event": {"user": {"id": 1}, "channel": {"id": 2}, "event": {}}}, {"type": "nope"}]);
        let error = parse_batch(batch.to_string().as_bytes(), None).unwrap_err();
        assert!(error.starts_with("events[1]: type \"nope\""), "{error}");
    }

    #[test]
    fn the_idempotency_header_names_a_single_event() {
        let body = json!({"type": "user.received.channel_invite", "event": {"user": {"id": 1}, "channel": {"id": 2}}});
        let events = parse_batch(body.to_string().as_bytes(), Some("k-1")).unwrap();
        assert_eq!(events[0].id, "k-1");
        let batch = json!({"events": [body]});
        assert!(parse_batch(batch.to_string().as_bytes(), Some("k-1")).is_err());
    }
}
