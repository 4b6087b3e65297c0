"""Least privilege: one NOLOGIN role per component, promotions through an audited function.

The roles are granted to login users by the operator (`converge db grant ROLE USER`); the owner
that runs migrations keeps every table, trigger and function, so no component can disable a
trigger, rewrite the registry or drop a table. PostgreSQL enforces it all:

- converge_ingest: writes features (history, definitions, drift events, quarantine); the
  latest-row table is written by the history's trigger, which runs as the owner.
- converge_training: reads features, inserts model versions; no promotion, no DDL.
- converge_serving: reads features and the registry/champion (LISTEN needs no grant); nothing else.
- converge_admin: reads everything, promotes and rolls back through `promote_model()`, which
  records who (the session user), when and why.

Roles are cluster-wide: creating them needs CREATEROLE, and is skipped when a DBA made them first.
`artifact_sha256` becomes UNIQUE: one registry version per artifact.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLES = ("converge_ingest", "converge_training", "converge_serving", "converge_admin")

_CREATE_ROLES = r"""
DO $$
DECLARE role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['converge_ingest', 'converge_training', 'converge_serving',
                                     'converge_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- created meanwhile by a migration of another database on this server
            END;
        END IF;
    END LOOP;
END $$;
"""

UPGRADE = r"""
ALTER FUNCTION feature_latest_refresh() SECURITY DEFINER SET search_path = public, pg_temp;

CREATE UNIQUE INDEX model_registry_artifact_sha256 ON model_registry (artifact_sha256);

ALTER TABLE model_promotions ADD COLUMN actor text NOT NULL DEFAULT session_user;

CREATE OR REPLACE VIEW current_champion AS
SELECT r.*, p.promotion_id, p.reason, p.promoted_at, p.actor
FROM model_promotions p
JOIN model_registry r USING (model_version)
ORDER BY p.promotion_id DESC
LIMIT 1;

-- The one way to promote for every role but the owner: records the session user as the actor
-- (current_user is the owner inside a SECURITY DEFINER function).
CREATE FUNCTION promote_model(version bigint, why text)
RETURNS TABLE (promotion_id bigint, reason text, promoted_at timestamptz, actor text)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO model_promotions (model_version, reason, actor)
    VALUES (version, why, session_user)
    RETURNING promotion_id, reason, promoted_at, actor;
$$;
REVOKE ALL ON FUNCTION promote_model(bigint, text) FROM PUBLIC;

GRANT USAGE ON SCHEMA public
    TO converge_ingest, converge_training, converge_serving, converge_admin;

GRANT SELECT, INSERT ON feature_store, feature_drift_events, ingest_quarantine
    TO converge_ingest;
GRANT SELECT, INSERT, UPDATE ON feature_definitions TO converge_ingest;
GRANT SELECT ON feature_latest TO converge_ingest;

GRANT SELECT ON feature_store, feature_latest, feature_definitions, feature_drift_events,
    model_registry, model_promotions, current_champion TO converge_training;
GRANT INSERT ON model_registry TO converge_training;

GRANT SELECT ON feature_store, feature_latest, feature_definitions, model_registry,
    model_promotions, current_champion TO converge_serving;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO converge_admin;
GRANT EXECUTE ON FUNCTION promote_model(bigint, text) TO converge_admin;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS promote_model(bigint, text);
CREATE OR REPLACE VIEW current_champion AS
SELECT r.*, p.promotion_id, p.reason, p.promoted_at
FROM model_promotions p
JOIN model_registry r USING (model_version)
ORDER BY p.promotion_id DESC
LIMIT 1;
"""


def upgrade() -> None:
    op.execute(_CREATE_ROLES)
    op.execute(UPGRADE)


def downgrade() -> None:
    for role in ROLES:
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    op.execute("DROP VIEW current_champion")
    op.execute(DOWNGRADE)
    op.execute("ALTER TABLE model_promotions DROP COLUMN actor")
    op.execute("DROP INDEX model_registry_artifact_sha256")
    op.execute("ALTER FUNCTION feature_latest_refresh() SECURITY INVOKER RESET search_path")
