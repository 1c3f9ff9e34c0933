-- chatfn's schema, version 1: users, settings and Platform API credentials of every app.
-- Portable SQL: plain tables, composite primary keys, UNIQUE, JSONB, a foreign key with
-- ON DELETE CASCADE, INSERT ... ON CONFLICT and SELECT ... FOR UPDATE (all of which CockroachDB
-- and YugabyteDB also have). No sequences: ids are counted per app in chatfn_counters.

-- Chat users. Names are NFC (chatfn normalizes them) and unique per app.
CREATE TABLE chatfn_users (
    app TEXT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_guest BOOLEAN NOT NULL,
    properties JSONB NOT NULL,
    -- RFC 3339, UTC, as the API shows it.
    created_time TEXT NOT NULL,
    PRIMARY KEY (app, id),
    UNIQUE (app, name)
);

CREATE TABLE chatfn_user_secrets (
    app TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (app, user_id, name),
    FOREIGN KEY (app, user_id) REFERENCES chatfn_users (app, id) ON DELETE CASCADE
);

-- The last id given per app and kind ('user').
CREATE TABLE chatfn_counters (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (app, name)
);

-- One row per user name that session attempts have held: an attempt locks its name's row
-- (SELECT ... FOR UPDATE) for as long as it runs, on whichever node it runs.
CREATE TABLE chatfn_name_holds (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (app, name)
);

-- Application settings changed through the Platform API ('guest_users').
CREATE TABLE chatfn_settings (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (app, name)
);

-- Platform API client credentials (a SHA-256 of each secret) and the bearer tokens issued
-- for them (a SHA-256 of each token), so a token from one node works on every node.
CREATE TABLE chatfn_platform_keys (
    client_id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_time TEXT NOT NULL
);

CREATE TABLE chatfn_platform_tokens (
    token_sha256 TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES chatfn_platform_keys (client_id) ON DELETE CASCADE,
    -- Milliseconds since the Unix epoch.
    expires_ms BIGINT NOT NULL
);
