"""The schema's GIN index serves containment queries, also for a key added without any DDL."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import psycopg

from bench.gin import load
from shared.feature_store import ingest_frame


def test_containment_on_a_new_key_uses_the_gin_index(conn: psycopg.Connection) -> None:
    load(conn, rows=5000, seed=3)
    new_rows = pd.DataFrame(
        {
            "id": ["n1", "n2", "n3"],
            "ts": [datetime(2025, 1, 1, tzinfo=UTC)] * 3,
            "loyalty_tier": [42, 42, 7],
        }
    )
    summary = ingest_frame(conn, new_rows, "id", "ts", source="new-key")
    # The bench loads rows without feature definitions: this is the first ingest, a baseline.
    assert (summary.baseline, summary.drift) == (True, [])
    conn.execute("ANALYZE feature_store")

    query = "SELECT entity_id FROM feature_store WHERE dynamic_features @> %s::jsonb ORDER BY 1"
    plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, ('{"loyalty_tier": 42}',)))
    assert "Bitmap Index Scan on feature_store_dynamic_features_gin" in plan
    found = conn.execute(query, ('{"loyalty_tier": 42}',)).fetchall()
    assert found == [("n1",), ("n2",)]
