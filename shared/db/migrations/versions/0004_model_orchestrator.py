"""Record which orchestrator registered each model version: `dagster`, `mage` or `cli`.

Versions registered before this column existed say `unrecorded`: the registry is immutable, so
they cannot be back-filled with a guess. New rows must name their orchestrator (no default).
The champion view is rebuilt because a view's `r.*` is expanded when the view is created.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CHAMPION_VIEW = r"""
CREATE VIEW current_champion AS
SELECT r.*, p.promotion_id, p.reason, p.promoted_at, p.actor
FROM model_promotions p
JOIN model_registry r USING (model_version)
ORDER BY p.promotion_id DESC
LIMIT 1;
GRANT SELECT ON current_champion TO converge_training, converge_serving, converge_admin;
"""

UPGRADE = r"""
ALTER TABLE model_registry
    ADD COLUMN orchestrator text NOT NULL DEFAULT 'unrecorded'
    CHECK (orchestrator IN ('dagster', 'mage', 'cli', 'unrecorded'));
ALTER TABLE model_registry ALTER COLUMN orchestrator DROP DEFAULT;
DROP VIEW current_champion;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(_CHAMPION_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW current_champion")
    op.execute("ALTER TABLE model_registry DROP COLUMN orchestrator")
    op.execute(_CHAMPION_VIEW)
