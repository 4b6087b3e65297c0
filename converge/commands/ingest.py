"""`converge ingest PATH`: load a CSV or Parquet file into the feature store and print a summary."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import psycopg

from shared.db import connect, database_url
from shared.feature_store import IngestBatchError, IngestSummary, ingest_file
from shared.feature_store.ingest import DEFAULT_BATCH_SIZE
from shared.settings import get_settings


def _zone(ctx: click.Context, param: click.Parameter, value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {value!r} (use an IANA name such as UTC)"
        ) from None


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity-col", required=True, help="Column holding the entity id.")
@click.option("--timestamp-col", required=True, help="Column holding the event timestamp.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any row was rejected.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--assume-timezone",
    callback=_zone,
    help="Time zone for timestamps without one (e.g. UTC). Unset: such rows are rejected.",
)
def ingest(
    path: Path,
    entity_col: str,
    timestamp_col: str,
    strict: bool,
    batch_size: int,
    assume_timezone: ZoneInfo | None,
) -> None:
    """Validate every row of PATH (CSV or Parquet) and load the valid ones."""
    cache = _CacheInvalidation()
    url = database_url(component="ingest")
    try:
        # Autocommit: each batch is its own transaction, committed as soon as it is written.
        with connect(url, autocommit=True) as conn:
            summary = ingest_file(
                conn,
                path,
                entity_col,
                timestamp_col,
                batch_size,
                assume_timezone=assume_timezone,
                on_commit=cache.batch_committed,
                second_connection=partial(psycopg.connect, url),
            )
    except (ValueError, IngestBatchError) as exc:
        if cache.asked:  # batches before the failure are committed
            click.echo(cache.outcome(), err=True)
        raise click.ClickException(str(exc)) from exc
    click.echo(format_summary(summary))
    click.echo(cache.outcome())
    if strict and summary.rows_quarantined:
        raise click.ClickException(
            f"--strict: {summary.rows_quarantined} row(s) rejected (see ingest_quarantine)"
        )


class _CacheInvalidation:
    """Drops serving's cached features of each committed batch's entities, on its own thread.

    A batch's entities are invalidated as soon as it is committed (while the next one is written),
    so serving stops answering with their old features then, not at the end of the ingest, and
    also when a later batch fails. After a Redis error the rest are not tried (each try could wait
    for the timeout); the outcome says how many entities may be served stale.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="converge-cache")
        self._removed = 0
        self._missed: set[str] = set()
        self._error: Exception | None = None
        self.asked = False

    def batch_committed(self, entity_ids: Sequence[str]) -> None:
        """Invalidate the cached features of a committed batch's entities (in the background)."""
        self.asked = True
        self._pool.submit(self._invalidate, set(entity_ids))

    def outcome(self) -> str:
        """Wait for the invalidations asked for; say what happened."""
        self._pool.shutdown(wait=True)
        # The cache's key prefix and TTL are serving's settings.
        from serving.config import get_serving_settings

        if self._error is None:
            return f"feature cache: {self._removed} cached entities invalidated"
        ttl = get_serving_settings().cache_ttl_s
        return (
            f"feature cache NOT invalidated (Redis: {self._error}); serving may answer with "
            f"features up to {ttl} s old for the {len(self._missed)} entities written"
        )

    def _invalidate(self, entity_ids: set[str]) -> None:
        # Imported on this thread: Redis is not needed before the first batch is committed.
        import redis

        from serving.config import get_serving_settings
        from shared.feature_cache import invalidate

        if self._error is None:
            prefix = get_serving_settings().cache_key_prefix
            try:
                self._removed += invalidate(get_settings().redis_url, prefix, entity_ids)
            except redis.RedisError as exc:
                self._error = exc
        if self._error is not None:
            self._missed.update(entity_ids)


def format_summary(summary: IngestSummary) -> str:
    """The ingest summary as printed by the command."""
    lines = [
        f"source: {summary.source}",
        f"rows read: {summary.rows_read}",
        f"rows written: {summary.rows_written}",
        f"rows already stored (duplicates): {summary.rows_duplicate}",
        f"rows quarantined: {summary.rows_quarantined}",
    ]
    if summary.rejected_samples:
        lines.append("rejected (first ones; all are in table ingest_quarantine):")
        lines += [
            f"  row {item.source_row} entity={item.entity_id!r} {item.field}: {item.reason}"
            for item in summary.rejected_samples
        ]
    lines.append(f"drift events: {len(summary.drift)}")
    if summary.baseline:
        lines.append("  first ingest: its feature keys are the baseline, not new keys")
    lines += [f"  {event.describe()}" for event in summary.drift]
    return "\n".join(lines)
