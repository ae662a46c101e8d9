-- Objects are kept as JSON in body; the columns beside it exist so SQLite can
-- index, constrain and filter them. revision is the optimistic-concurrency
-- counter and is always written together with body. Time columns hold UTC
-- RFC 3339 with exactly nine fractional digits, so text order is time order.

CREATE TABLE model_versions (
	id         TEXT PRIMARY KEY, -- "model/version"
	model      TEXT NOT NULL,
	version    TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	body       TEXT NOT NULL,
	created_at TEXT NOT NULL, -- lists are oldest first
	UNIQUE (model, version)
);

CREATE TABLE model_version_labels (
	version_id TEXT NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	value      TEXT NOT NULL,
	PRIMARY KEY (version_id, key)
);
CREATE INDEX model_version_labels_key_value ON model_version_labels (key, value);

CREATE TABLE policies (
	name     TEXT PRIMARY KEY,
	revision INTEGER NOT NULL,
	body     TEXT NOT NULL
);

-- The foreign keys back up the server's own checks: a version or policy an
-- endpoint refers to cannot disappear underneath it.
CREATE TABLE endpoints (
	name              TEXT PRIMARY KEY,
	model_version     TEXT NOT NULL REFERENCES model_versions (id),
	deployment_policy TEXT REFERENCES policies (name), -- NULL when none
	revision          INTEGER NOT NULL,
	body              TEXT NOT NULL, -- desired state
	status            TEXT NOT NULL  -- the serving plane's view; not covered by revision
);
CREATE INDEX endpoints_model_version ON endpoints (model_version);
CREATE INDEX endpoints_deployment_policy ON endpoints (deployment_policy);

CREATE TABLE endpoint_traffic_split (
	endpoint      TEXT NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
	model_version TEXT NOT NULL REFERENCES model_versions (id),
	PRIMARY KEY (endpoint, model_version)
);
CREATE INDEX endpoint_traffic_split_model_version ON endpoint_traffic_split (model_version);

CREATE TABLE endpoint_labels (
	endpoint TEXT NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (endpoint, key)
);
CREATE INDEX endpoint_labels_key_value ON endpoint_labels (key, value);

-- before and after are BLOBs so they come back byte for byte as hashed.
CREATE TABLE audit_events (
	seq         INTEGER PRIMARY KEY,
	time        TEXT NOT NULL,
	actor       TEXT NOT NULL,
	source      TEXT NOT NULL,
	action      TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	before      BLOB,
	after       BLOB,
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
CREATE INDEX audit_events_object ON audit_events (object_type, object_id);

-- The ledger is append-only. These triggers stop mistakes in code, not an
-- attacker with the file; the hash chain is what detects the latter.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	role        TEXT NOT NULL,
	secret_hash TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret
	created_at  TEXT NOT NULL
);
