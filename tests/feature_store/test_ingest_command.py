"""`converge ingest` through click's runner against a real database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis
from click.testing import CliRunner, Result

from converge.cli import cli
from shared.net import free_port

GOOD = "customer,ts,age\nc1,2024-01-01T00:00:00Z,30\nc2,2024-01-01T00:00:00Z,41\n"
BAD = GOOD + "c3,2024-01-02T00:00:00Z,abc\nc4,2024-01-02 00:00:00,5\n"


@pytest.fixture(autouse=True)
def _database(database_url: str, redis_url: str, settings_env: Callable[..., None]) -> None:
    settings_env(DATABASE_URL=database_url, REDIS_URL=redis_url)


def _ingest(path: Path, *extra: str) -> Result:
    args = ["ingest", str(path), "--entity-col", "customer", "--timestamp-col", "ts", *extra]
    return CliRunner().invoke(cli, args)


def test_summary_and_strict_exit_code(
    database_url: str, write_csv: Callable[[str, str], Path]
) -> None:
    result = _ingest(write_csv("bad.csv", BAD), "--strict", "--batch-size", "2")

    assert result.exit_code == 1
    assert "rows read: 4\nrows written: 2\nrows already stored (duplicates): 0\n" in result.output
    assert "rows quarantined: 2" in result.output
    assert "row 3 entity='c3' age: expected a number, got text 'abc'" in result.output
    assert "first ingest: its feature keys are the baseline, not new keys" in result.output
    assert "new_key" not in result.output
    assert "--strict: 2 row(s) rejected" in result.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (2,)


def test_without_strict_rejections_exit_zero_and_reingest_counts_duplicates(
    write_csv: Callable[[str, str], Path],
) -> None:
    path = write_csv("bad.csv", BAD)
    assert _ingest(path).exit_code == 0
    again = _ingest(path, "--assume-timezone", "UTC")

    assert again.exit_code == 0, again.output
    assert (
        "rows written: 1\nrows already stored (duplicates): 2\nrows quarantined: 1" in again.output
    )


@pytest.mark.parametrize(
    ("extra", "text", "message"),
    [
        (("--assume-timezone", "Mars/Olympus"), GOOD, "unknown time zone 'Mars/Olympus'"),
        (("--batch-size", "0"), GOOD, "--batch-size"),
        ((), "id,ts,age\n", "entity column 'customer' is not in the source columns"),
        ((), GOOD + "c9,2024-01-01T00:00:00Z,1,extra\n", "Expected 3 fields in line 4, saw 4"),
    ],
)
def test_bad_invocations_exit_non_zero_naming_the_problem(
    write_csv: Callable[[str, str], Path], extra: tuple[str, ...], text: str, message: str
) -> None:
    result = _ingest(write_csv("f.csv", text), *extra)

    assert result.exit_code != 0
    assert message in result.output


def test_a_database_failure_is_reported_and_the_batch_rolled_back(
    database_url: str, write_csv: Callable[[str, str], Path]
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A real constraint violation when the batch writes its quarantine rows.
        conn.execute(
            "ALTER TABLE ingest_quarantine ADD CONSTRAINT short_reasons CHECK (length(reason) < 5)"
        )
    result = _ingest(write_csv("bad.csv", BAD), "--batch-size", "10")

    assert result.exit_code == 1
    assert "the batch starting at row 1 failed and was rolled back" in result.output
    assert "short_reasons" in result.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (0,)


def test_an_ingest_invalidates_the_cached_features_of_what_it_wrote(
    redis_url: str, write_csv: Callable[[str, str], Path]
) -> None:
    """Serving must not answer with cached features older than the newest ingest."""
    client = redis.Redis.from_url(redis_url)
    client.set("converge:features:c1", b'{"age": 1}')
    client.set("converge:features:other", b'{"age": 2}')
    result = _ingest(write_csv("good.csv", GOOD))
    assert result.exit_code == 0, result.output
    assert "feature cache: 1 cached entities invalidated" in result.output
    assert client.get("converge:features:c1") is None
    assert client.get("converge:features:other") == b'{"age": 2}'


def test_batches_committed_before_a_failure_are_invalidated(
    database_url: str, redis_url: str, write_csv: Callable[[str, str], Path]
) -> None:
    """A failed batch rolls back alone: the cache of the committed ones must still be dropped."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The second batch (c3, c4) has rejections, and storing them violates this constraint.
        conn.execute(
            "ALTER TABLE ingest_quarantine ADD CONSTRAINT short_reasons CHECK (length(reason) < 5)"
        )
    client = redis.Redis.from_url(redis_url)
    client.set("converge:features:c1", b'{"age": 1}')
    client.set("converge:features:c3", b'{"age": 3}')

    result = _ingest(write_csv("bad.csv", BAD), "--batch-size", "2")

    assert result.exit_code == 1
    assert "the batch starting at row 3 failed and was rolled back" in result.output
    assert "feature cache: 1 cached entities invalidated" in result.output
    assert client.get("converge:features:c1") is None
    # c3's batch was rolled back: its cached features are still the stored ones.
    assert client.get("converge:features:c3") == b'{"age": 3}'


def test_an_unreachable_cache_is_reported_and_the_ingest_stands(
    database_url: str, settings_env: Callable[..., None], write_csv: Callable[[str, str], Path]
) -> None:
    settings_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    result = _ingest(write_csv("good.csv", GOOD))
    assert result.exit_code == 0, result.output
    assert "feature cache NOT invalidated" in result.output and "300 s old" in result.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM feature_store").fetchone() == (2,)
