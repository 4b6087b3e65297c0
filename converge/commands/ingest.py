"""`converge ingest PATH`: load a CSV or Parquet file into the feature store and print a summary."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import redis

from shared.db import connect, database_url
from shared.feature_cache import invalidate
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
    try:
        # Autocommit: each batch is its own transaction, committed as soon as it is written.
        with connect(database_url(component="ingest"), autocommit=True) as conn:
            summary = ingest_file(
                conn, path, entity_col, timestamp_col, batch_size, assume_timezone=assume_timezone
            )
    except (ValueError, IngestBatchError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_summary(summary))
    click.echo(_invalidate_cache(summary))
    if strict and summary.rows_quarantined:
        raise click.ClickException(
            f"--strict: {summary.rows_quarantined} row(s) rejected (see ingest_quarantine)"
        )


def _invalidate_cache(summary: IngestSummary) -> str:
    """Drop serving's cached features of the entities written; say what happened."""
    from serving.config import get_serving_settings  # the cache's key prefix is serving's

    prefix = get_serving_settings().cache_key_prefix
    try:
        removed = invalidate(get_settings().redis_url, prefix, summary.entity_ids)
    except redis.RedisError as exc:
        ttl = get_serving_settings().cache_ttl_s
        return (
            f"feature cache NOT invalidated (Redis: {exc}); serving may answer with features "
            f"up to {ttl} s old for the {len(summary.entity_ids)} entities written"
        )
    return f"feature cache: {removed} cached entities invalidated"


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
