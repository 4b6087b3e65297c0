"""`converge report`: the architecture report, filled with live figures from this installation.

The figures come from the database (registry, champion lineage, promotions, the feature store and
its GIN index), this machine (memory split, training concurrency, version checks) and, given
--serving-url, a running serving app's /metrics (event-loop lag, breaker states, the champion it
serves, feature sources). The template is rendered with StrictUndefined: a figure the template
names but the command did not gather fails the report instead of leaving a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import jinja2
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from shared.db import database_url
from shared.registry import list_models, promotion_history
from shared.versions import REPOSITORY_ROOT, compare_versions

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_TEMPLATE = TEMPLATES / "report.md.j2"
GIN_INDEX = "feature_store_dynamic_features_gin"
LAG_METRIC = "converge_event_loop_lag_seconds"
ROLLBACK_PREFIX = "rollback from "
RECENT_PROMOTIONS = 10

Figures = dict[str, Any]


def registry_figures(conn: psycopg.Connection[Any]) -> Figures:
    """Models, the champion with its lineage (every promotion before it), and promotion counts."""
    models = list_models(conn)
    history = promotion_history(conn)  # newest first: the first one is the champion
    champion = history[0] if history else None
    return {
        "models": len(models),
        "models_by_orchestrator": _count_by(m.orchestrator for m in models),
        "champion": None
        if champion is None
        else {
            "model_version": champion.model.model_version,
            "algo": champion.model.algo,
            "h2o_version": champion.model.h2o_version,
            "h2o_version_matches": champion.model.h2o_version_matches,
            "artifact_sha256": champion.model.artifact_sha256,
            "git_commit_sha": champion.model.git_commit_sha,
            "orchestrator": champion.model.orchestrator,
            "features": len(champion.model.feature_list),
            "metrics": dict(champion.model.metrics),
            "promoted_at": _when(champion.promoted_at),
            "actor": champion.actor,
            "reason": champion.reason,
        },
        "promotions": len(history),
        "rollbacks": sum(p.reason.startswith(ROLLBACK_PREFIX) for p in history),
        "lineage": [
            {
                "promotion_id": p.promotion_id,
                "model_version": p.model.model_version,
                "algo": p.model.algo,
                "promoted_at": _when(p.promoted_at),
                "actor": p.actor,
                "reason": p.reason,
            }
            for p in history[:RECENT_PROMOTIONS]
        ],
    }


def feature_store_figures(conn: psycopg.Connection[Any]) -> Figures:
    """Entities, feature keys, and the GIN index's size against the table's."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM feature_latest), (SELECT count(*) FROM feature_definitions),"
        " pg_table_size('feature_store'), pg_relation_size(to_regclass(%s)),"
        " (SELECT opc.opcname FROM pg_index x JOIN pg_opclass opc ON opc.oid = x.indclass[0]"
        "  WHERE x.indexrelid = to_regclass(%s))",
        (GIN_INDEX, GIN_INDEX),
    ).fetchone()
    assert row is not None
    entities, keys, table_bytes, index_bytes, opclass = row
    return {
        "entities": entities,
        "feature_keys": keys,
        "table_mib": table_bytes / 2**20,
        "gin_index": GIN_INDEX,
        "gin_opclass": opclass or "missing",
        "gin_index_mib": (index_bytes or 0) / 2**20,
        "gin_ratio": (index_bytes or 0) / table_bytes if table_bytes else 0.0,
    }


def machine_figures(container_limit: str | None) -> Figures:
    """The JVM memory split of this machine (or the given limit) and the training concurrency."""
    from resources.environments import get_training_policy
    from resources.memory_split import split_memory

    split = split_memory(container_limit)
    policy = get_training_policy()
    return {
        "limit_gib": split.limit_bytes / 2**30,
        "limit_source": split.source,
        "xmx": split.xmx,
        "headroom_gib": split.headroom_bytes / 2**30,
        "node_memory": policy.node_memory,
        "task_memory": policy.task_memory,
        "training_concurrency": policy.concurrency_limit(),
    }


def version_figures() -> Figures:
    """`converge versions check` as figures: pins agreeing, mismatches, notes."""
    report = compare_versions(REPOSITORY_ROOT)
    return {
        "agreed": len(report.agreed),
        "mismatches": [str(m) for m in report.mismatches],
        "notes": list(report.notes),
    }


def serving_figures(url: str) -> Figures:
    """What a running serving app reports in /metrics (one worker's view)."""
    try:
        response = httpx.get(url.rstrip("/") + "/metrics", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise click.ClickException(f"--serving-url: cannot read {url}/metrics: {exc}") from exc
    samples = [
        s for family in text_string_to_metric_families(response.text) for s in family.samples
    ]
    lag = {float(s.labels["le"]): s.value for s in samples if s.name == LAG_METRIC + "_bucket"}
    if not lag:
        raise click.ClickException(f"--serving-url: {url}/metrics has no {LAG_METRIC}")
    served = [s.labels for s in samples if s.name == "converge_model_info" and s.value == 1]
    return {
        "url": url,
        "loop_lag_samples": int(max(lag.values())),
        "loop_lag_p50_ms": _quantile(lag, 0.5) * 1000,
        "loop_lag_p99_ms": _quantile(lag, 0.99) * 1000,
        "breakers": {
            s.labels["dependency"]: s.labels["state"]
            for s in samples
            if s.name == "converge_breaker_state" and s.value == 1
        },
        "served_model_version": int(served[0]["model_version"]) if served else None,
        "feature_sources": {
            s.labels["source"]: int(s.value)
            for s in samples
            if s.name == "converge_feature_source_total"
        },
        "fallbacks": int(
            sum(s.value for s in samples if s.name == "converge_feature_fallbacks_total")
        ),
        "requests_shed": int(
            sum(s.value for s in samples if s.name == "converge_requests_shed_total")
        ),
    }


def _quantile(buckets: Mapping[float, float], q: float) -> float:
    from serving.prometheus_text import histogram_quantile

    return histogram_quantile({}, dict(buckets), q).value


def _count_by(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(template: Path, figures: Figures) -> str:
    """The template rendered with `figures`; a figure it names that is missing raises."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    return environment.get_template(template.name).render(figures)


@click.command("report")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here instead of printing it.",
)
@click.option(
    "--serving-url",
    default=None,
    help="Base URL of a running serving app (one worker) to read /metrics from.",
)
@click.option(
    "--container-limit",
    default=None,
    help="Memory limit for the split, e.g. 16g. Default: this machine's cgroup limit.",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Jinja2 template to render.",
)
def report(
    output: Path | None, serving_url: str | None, container_limit: str | None, template: Path
) -> None:  # fmt: skip
    """Render the architecture report with live figures of this installation."""
    try:
        with psycopg.connect(database_url(), connect_timeout=10) as conn:
            figures: Figures = {
                "generated_at": _when(datetime.now(UTC)),
                "registry": registry_figures(conn),
                "feature_store": feature_store_figures(conn),
            }
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot read the database: {str(exc).strip()}") from exc
    try:
        figures["machine"] = machine_figures(container_limit)
    except ValueError as exc:
        raise click.UsageError(f"--container-limit: {exc}") from exc
    figures["versions"] = version_figures()
    figures["serving"] = serving_figures(serving_url) if serving_url else None
    try:
        text = render(template, figures)
    except jinja2.UndefinedError as exc:
        raise click.ClickException(f"{template}: a figure is missing: {exc.message}") from exc
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
