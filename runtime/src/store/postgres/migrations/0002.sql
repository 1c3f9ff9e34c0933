-- Version 2: what each app runs (the Node.js runtime, functions and their versions), what was
-- last taken from its directory, and per-app locks for changes that span several statements.

-- The runtime as one JSON record (dependencies, initialization script, environment, version).
CREATE TABLE chatfn_runtimes (
    app TEXT PRIMARY KEY,
    record JSONB NOT NULL
);

CREATE TABLE chatfn_functions (
    app TEXT NOT NULL,
    id BIGINT NOT NULL,
    trigger TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    -- 0 until a version is saved.
    current_version_number BIGINT NOT NULL,
    shadow_version_number BIGINT,
    created_time TEXT NOT NULL,
    PRIMARY KEY (app, id),
    UNIQUE (app, trigger)
);

-- Immutable once written.
CREATE TABLE chatfn_function_versions (
    app TEXT NOT NULL,
    id BIGINT NOT NULL,
    function_id BIGINT NOT NULL,
    version_number BIGINT NOT NULL,
    handler_script TEXT NOT NULL,
    file TEXT NOT NULL,
    created_time TEXT NOT NULL,
    PRIMARY KEY (app, id),
    UNIQUE (app, function_id, version_number),
    FOREIGN KEY (app, function_id) REFERENCES chatfn_functions (app, id) ON DELETE CASCADE
);

-- The digest of what was last taken from the app directory, per item.
CREATE TABLE chatfn_applied (
    app TEXT NOT NULL,
    item TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (app, item)
);

-- A row per app and purpose ('directory': taking the app directory into the store), locked
-- with SELECT ... FOR UPDATE by the node doing it.
CREATE TABLE chatfn_app_locks (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (app, name)
);

-- Bumped by every change of an app's functions: a node that may have missed a notification
-- compares these numbers (one query for every app) and re-reads the apps that changed.
CREATE TABLE chatfn_generations (
    app TEXT NOT NULL,
    what TEXT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (app, what)
);
