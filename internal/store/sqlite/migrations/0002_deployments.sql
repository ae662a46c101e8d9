-- Deployments are the ledger of target changes. endpoint has no foreign key
-- on purpose: the history outlives a deleted endpoint. phase and finished_at
-- repeat what body says so that the active filter and the measures can use
-- an index; UpdateDeployment writes them together with body.
CREATE TABLE deployments (
	id          TEXT PRIMARY KEY,
	endpoint    TEXT NOT NULL,
	phase       TEXT NOT NULL,
	created_at  TEXT NOT NULL, -- lists are newest first
	finished_at TEXT,          -- NULL until the phase is terminal
	body        TEXT NOT NULL
);
CREATE INDEX deployments_endpoint ON deployments (endpoint, created_at);
CREATE INDEX deployments_phase ON deployments (phase);
CREATE INDEX deployments_created_at ON deployments (created_at);
