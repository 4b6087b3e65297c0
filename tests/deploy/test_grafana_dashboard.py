"""deploy/grafana/converge.json: every panel's PromQL parses and names only exported metrics.

Parsing is Prometheus's own: each query becomes a recording rule that `promtool check rules`
parses. The metric names are read from the parsed query (promql-parser) and must be exported by:
- the serving app: scraped from a real app's /metrics (a labelled family with no sample yet still
  has its HELP/TYPE lines; its sample names follow from its type);
- `converge h2o-exporter`: METRIC_NAMES, which tests/deploy/test_prometheus_h2o_exporter.py
  checks against a scrape of the exporter running on a real H2O;
- cAdvisor (embedded in the kubelet, served at /metrics/cadvisor): the names below, as defined in
  google/cadvisor lib/metrics/prometheus.go (commit 6a0c4f2539a8), with the `container` and `pod`
  labels every Kubernetes container's series carry;
- Prometheus itself: `up`, one per scrape target.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from converge.h2o_exporter import METRIC_NAMES as H2O_EXPORTER_NAMES
from shared.versions import REPOSITORY_ROOT
from tests.deploy.converge_serve import converge_serve
from tests.serving.conftest import Registry, glm_mojo, serving_env

DASHBOARD = REPOSITORY_ROOT / "deploy" / "grafana" / "converge.json"
CADVISOR_NAMES = {"container_spec_memory_limit_bytes", "container_memory_working_set_bytes"}
PROMETHEUS_NAMES = {"up"}
# Grafana's global variables, replaced by durations it would pick; any other `$` is an error.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
# A sample name for each suffix a family of that type exposes (prometheus_client's exposition).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "untyped": ("",),
}


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))  # panels of a collapsed row
    return found


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title and refId, PromQL with Grafana's variables replaced) of every target."""
    queries = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown Grafana variable in {expr}"
            queries.append((f"{panel['title']} ({target['refId']})", expr))
    return queries


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _promtool_parses(
    queries: list[tuple[str, str]], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    rules = [{"record": f"grafana:panel_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana-panels", "rules": rules}]}))
    return subprocess.run(
        ["promtool", "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def metric_names(expr: Any) -> set[str]:
    """Every metric name a parsed PromQL expression selects."""
    if isinstance(expr, promql_parser.VectorSelector):
        if expr.name:
            return {expr.name}
        named = [m.value for m in expr.matchers.matchers if m.name == "__name__"]
        assert named, f"a selector without a metric name: {expr}"
        return set(named)
    if isinstance(expr, promql_parser.MatrixSelector):
        return metric_names(expr.vector_selector)
    if isinstance(expr, promql_parser.BinaryExpr):
        return metric_names(expr.lhs) | metric_names(expr.rhs)
    if isinstance(expr, promql_parser.Call):
        return set().union(*(metric_names(arg) for arg in expr.args))
    if isinstance(expr, promql_parser.AggregateExpr):
        param = metric_names(expr.param) if expr.param is not None else set()
        return metric_names(expr.expr) | param
    if isinstance(
        expr, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        return metric_names(expr.expr)
    assert isinstance(expr, promql_parser.NumberLiteral | promql_parser.StringLiteral), expr
    return set()


def _served_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def test_every_panel_query_parses_in_promtool(tmp_path: Path) -> None:
    queries = _queries(_dashboard())
    assert len(queries) >= 15
    result = _promtool_parses(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_promtool_rejects_a_panel_query_that_does_not_parse(tmp_path: Path) -> None:
    """The check above can fail: one unbalanced parenthesis is reported."""
    queries = _queries(_dashboard())
    title, expr = queries[0]
    result = _promtool_parses([*queries, (title, expr + ")")], tmp_path)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_panels_name_only_metrics_that_are_exported(database_url: str, tmp_path: Path) -> None:
    registry = Registry(database_url, (tmp_path / "artifacts").as_uri())
    registry.promote(registry.register(glm_mojo(tmp_path)))
    env = serving_env(registry, "redis://127.0.0.1:1/0", tmp_path)  # no Redis: fallbacks too
    with converge_serve(env, tmp_path / "serving.log") as base:
        assert httpx.post(f"{base}/v1/predict", json={"entity_id": "e1"}).status_code == 200
        app_names = _served_names(httpx.get(f"{base}/metrics").text)
    known = app_names | H2O_EXPORTER_NAMES | CADVISOR_NAMES | PROMETHEUS_NAMES
    named: dict[str, set[str]] = {}
    for title, expr in _queries(_dashboard()):
        for name in metric_names(promql_parser.parse(expr)):
            named.setdefault(name, set()).add(title)
    unknown = {name: titles for name, titles in named.items() if name not in known}
    assert not unknown, f"panels name metrics nobody exports: {unknown}"
    # What the dashboard is for: each of these is on some panel.
    wanted = {
        "converge_event_loop_lag_seconds_bucket",
        "converge_request_latency_seconds_bucket",
        "converge_request_latency_seconds_count",
        "converge_breaker_state",
        "converge_batch_rows_bucket",
        "converge_feature_source_total",
        "converge_feature_fallbacks_total",
        "converge_h2o_node_heap_max_bytes",
        "container_spec_memory_limit_bytes",
    }
    assert wanted <= set(named), wanted - set(named)


def test_names_are_read_from_every_part_of_a_query() -> None:
    """A misspelt name deep in a query is found, so the check above would report it."""
    parsed = promql_parser.parse(
        "sum by (le) (rate(converge_batch_row_bucket[1m])) / on () group_left max(up)"
    )
    assert metric_names(parsed) == {"converge_batch_row_bucket", "up"}
