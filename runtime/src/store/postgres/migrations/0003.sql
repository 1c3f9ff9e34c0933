-- Version 3: invocation records. The record is kept whole as JSON (event, outcome, logs,
-- tape, shadow run); the columns beside it are what lists and trimming need. Ids come from
-- blocks each node reserves in chatfn_counters ('invocation'), so lists order by time.
CREATE TABLE chatfn_invocations (
    app TEXT NOT NULL,
    id BIGINT NOT NULL,
    function_id BIGINT NOT NULL,
    -- RFC 3339, UTC, fixed width: its text order is time order.
    created_time TEXT NOT NULL,
    record JSONB NOT NULL,
    PRIMARY KEY (app, id)
);

CREATE INDEX chatfn_invocations_by_function ON chatfn_invocations (app, function_id, created_time, id);
CREATE INDEX chatfn_invocations_by_time ON chatfn_invocations (app, created_time, id);
