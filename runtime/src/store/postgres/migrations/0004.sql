-- Version 4: chat events. The queue and the dead letters of every app (each event whole, as
-- JSON: what the chat backend sent, its runs and failures), and the idempotency keys seen.
-- Sequence numbers come from chatfn_counters ('event'); the app's events.* counters there
-- count what happened (events.queued is the queue's depth).
CREATE TABLE chatfn_events (
    app TEXT NOT NULL,
    seq BIGINT NOT NULL,
    dead BOOLEAN NOT NULL,
    record JSONB NOT NULL,
    PRIMARY KEY (app, seq)
);

CREATE INDEX chatfn_events_by_state ON chatfn_events (app, dead, seq);

CREATE TABLE chatfn_event_ids (
    app TEXT NOT NULL,
    id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- Milliseconds since the Unix epoch: when it was accepted, or last redriven.
    accepted_ms BIGINT NOT NULL,
    PRIMARY KEY (app, id)
);
