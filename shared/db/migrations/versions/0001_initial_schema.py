"""Initial schema: feature store with latest-row table, feature definitions and drift, quarantine,
immutable model registry with append-only promotions.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE feature_store (
    entity_id        text        NOT NULL CHECK (entity_id <> ''),
    event_timestamp  timestamptz NOT NULL,
    dynamic_features jsonb       NOT NULL CHECK (jsonb_typeof(dynamic_features) = 'object'),
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, event_timestamp)
);
CREATE INDEX feature_store_dynamic_features_gin
    ON feature_store USING gin (dynamic_features jsonb_path_ops);
CREATE INDEX feature_store_ingested_at ON feature_store (ingested_at);

-- The newest row per entity, upserted by a statement-level trigger in the same transaction as
-- the history, so `latest(50 entities)` is one index lookup per entity.
CREATE TABLE feature_latest (
    entity_id        text        PRIMARY KEY,
    event_timestamp  timestamptz NOT NULL,
    dynamic_features jsonb       NOT NULL,
    ingested_at      timestamptz NOT NULL
);

CREATE FUNCTION feature_latest_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feature_latest AS l (entity_id, event_timestamp, dynamic_features, ingested_at)
    SELECT DISTINCT ON (entity_id) entity_id, event_timestamp, dynamic_features, ingested_at
    FROM new_rows
    ORDER BY entity_id, event_timestamp DESC
    ON CONFLICT (entity_id) DO UPDATE
        SET event_timestamp = EXCLUDED.event_timestamp,
            dynamic_features = EXCLUDED.dynamic_features,
            ingested_at = EXCLUDED.ingested_at
        WHERE l.event_timestamp < EXCLUDED.event_timestamp;
    RETURN NULL;
END $$;

CREATE TRIGGER feature_store_refresh_latest
    AFTER INSERT ON feature_store
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feature_latest_refresh();

-- Every feature key ever seen, with its JSON type and the event-time range it was seen in.
CREATE TABLE feature_definitions (
    feature_key      text        PRIMARY KEY,
    value_type       text        NOT NULL CHECK (value_type IN ('number', 'string', 'boolean')),
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    last_ingested_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE feature_drift_events (
    drift_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feature_key text        NOT NULL,
    kind        text        NOT NULL
                CHECK (kind IN ('new_key', 'type_changed', 'stopped_arriving')),
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source      text,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feature_drift_events_detected_at ON feature_drift_events (detected_at);

-- Rows an ingest rejected, with the reason, so nothing is lost silently.
CREATE TABLE ingest_quarantine (
    quarantine_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL,
    source_row     bigint      NOT NULL,
    entity_id      text,
    field          text        NOT NULL,
    reason         text        NOT NULL,
    raw_record     jsonb       NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION reject_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TABLE model_registry (
    model_version   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    artifact_uri    text        NOT NULL,
    artifact_sha256 text        NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
    git_commit_sha  text        NOT NULL,
    h2o_version     text        NOT NULL,
    algo            text        NOT NULL,
    metrics         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    training_config jsonb       NOT NULL DEFAULT '{}'::jsonb,
    feature_list    jsonb       NOT NULL CHECK (jsonb_typeof(feature_list) = 'array'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER model_registry_immutable BEFORE UPDATE OR DELETE ON model_registry
    FOR EACH ROW EXECUTE FUNCTION reject_mutation();
CREATE TRIGGER model_registry_no_truncate BEFORE TRUNCATE ON model_registry
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();

-- Champion history: the current champion is the newest promotion; rollback promotes an older one.
CREATE TABLE model_promotions (
    promotion_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_version bigint      NOT NULL REFERENCES model_registry (model_version),
    reason        text        NOT NULL CHECK (reason <> ''),
    promoted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER model_promotions_immutable BEFORE UPDATE OR DELETE ON model_promotions
    FOR EACH ROW EXECUTE FUNCTION reject_mutation();
CREATE TRIGGER model_promotions_no_truncate BEFORE TRUNCATE ON model_promotions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();

CREATE FUNCTION notify_champion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('converge_champion', NEW.model_version::text);
    RETURN NULL;
END $$;
CREATE TRIGGER model_promotions_notify AFTER INSERT ON model_promotions
    FOR EACH ROW EXECUTE FUNCTION notify_champion();

CREATE VIEW current_champion AS
SELECT r.*, p.promotion_id, p.reason, p.promoted_at
FROM model_promotions p
JOIN model_registry r USING (model_version)
ORDER BY p.promotion_id DESC
LIMIT 1;
"""

DOWNGRADE = r"""
DROP VIEW IF EXISTS current_champion;
DROP TABLE IF EXISTS model_promotions;
DROP TABLE IF EXISTS model_registry;
DROP FUNCTION IF EXISTS notify_champion();
DROP FUNCTION IF EXISTS reject_mutation();
DROP TABLE IF EXISTS ingest_quarantine;
DROP TABLE IF EXISTS feature_drift_events;
DROP TABLE IF EXISTS feature_definitions;
DROP TABLE IF EXISTS feature_latest;
DROP TABLE IF EXISTS feature_store;
DROP FUNCTION IF EXISTS feature_latest_refresh();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
