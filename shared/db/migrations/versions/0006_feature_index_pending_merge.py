"""`merge_feature_index_pending()`: the ingest role may merge the GIN index's pending list.

feature_store's GIN index (`jsonb_path_ops`, fast update on) first appends each row's entries to
a pending list; the backend whose insert takes the list past `gin_pending_list_limit` merges it
into the index itself, in the middle of its COPY: 58 % of the backend CPU of a plain 200k-row
COPY here. `gin_clean_pending_list()` does that merge from another session, so on another core,
and an inserting backend skips its own merge while one runs; PostgreSQL lets only the index's
owner call it, as it does for VACUUM. This function, owned by the migrations' owner, merges that
one index and nothing else; only converge_ingest may call it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION merge_feature_index_pending() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT gin_clean_pending_list('public.feature_store_dynamic_features_gin'::regclass);
$$;
REVOKE ALL ON FUNCTION merge_feature_index_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION merge_feature_index_pending() TO converge_ingest;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP FUNCTION merge_feature_index_pending()")
