"""`converge report` against a real database and a real running serving app's /metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from click.testing import CliRunner, Result

from converge.cli import cli
from shared.registry import rollback
from tests.serving.conftest import (
    Registry,
    glm_champion,
    glm_mojo,
    registry,
    serving_env,
    write_features,
)
from tests.serving.server import uvicorn_server

__all__ = ["glm_champion", "registry"]  # fixtures used here


def _report(
    settings_env: Callable[..., None], database_url: str, tmp_path: Path, *args: str
) -> tuple[Result, str]:
    settings_env(DATABASE_URL=database_url)
    output = tmp_path / "report.md"
    result = CliRunner().invoke(
        cli, ["report", "--output", str(output), "--container-limit", "16g", *args]
    )
    return result, output.read_text() if output.exists() else ""


def _lineage(registry: Registry, champion: int, tmp_path: Path) -> int:
    """A second model promoted over the champion, then a rollback to it; returns the second."""
    second = registry.register(glm_mojo(tmp_path, intercept=20.0))
    registry.promote(second)
    with psycopg.connect(registry.database_url) as conn:
        rollback(conn, champion, "second model drifted")
    return second


def test_every_figure_is_filled_from_the_database_and_a_running_app(
    registry: Registry,
    glm_champion: int,
    redis_url: str,
    settings_env: Callable[..., None],
    tmp_path: Path,
) -> None:
    second = _lineage(registry, glm_champion, tmp_path)
    write_features(registry.database_url, {f"e{i}": {"colour": "red", "size": i} for i in range(5)})
    env = serving_env(registry, redis_url, tmp_path)
    with uvicorn_server(env, tmp_path / "serving.log") as base:
        for entity in ("e1", "e2", "e1", "unknown"):
            answer = httpx.post(f"{base}/v1/predict", json={"entity_id": entity}, timeout=10)
            assert answer.status_code == 200, answer.text
        result, text = _report(settings_env, registry.database_url, tmp_path, "--serving-url", base)
    assert result.exit_code == 0, result.output
    assert "not measured" not in text and "None" not in text and "nan" not in text
    assert f"Champion: **model_version {glm_champion}** (glm, h2o" in text
    assert "2 model versions (cli: 2), 3 promotions of which 1 rollbacks." in text
    assert f"| {second} | glm |" in text and "rollback from " in text
    assert "5 entities with a latest row, 0 feature keys defined" in text  # keys: by ingest
    assert re.search(r"index/table \*\*\d\.\d{3}\*\*", text)
    assert re.search(r"p99 \*\*\d+\.\d\d ms\*\* over \d+ samples", text)
    assert "**Circuit breakers**: redis closed, postgres closed." in text
    assert f"serving model_version {glm_champion};" in text
    assert "features served by source: db 2, cache 1, default 1;" in text
    assert "JVM heap **-Xmx11g**" in text
    assert "at most **2** trainings at once" in text
    assert re.search(r"\d+ pins agree with versions.env", text)


def test_without_a_serving_url_the_serving_figures_say_so(
    database_url: str, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    result, text = _report(settings_env, database_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Champion: none promoted yet." in text
    assert "**Event loop**: not measured (no --serving-url given)." in text
    assert "**Circuit breakers**: not measured (no --serving-url given)." in text


def test_a_template_naming_a_missing_figure_fails(
    database_url: str, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    template = tmp_path / "custom.md.j2"
    template.write_text("GIN ratio {{ feature_store.gin_ratio }}, p99 {{ serving.p99_ms }}\n")
    result, text = _report(settings_env, database_url, tmp_path, "--template", str(template))
    assert result.exit_code == 1
    assert "a figure is missing" in result.output and "p99_ms" in result.output
    assert text == ""


def test_an_unreachable_serving_url_is_named(
    database_url: str, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    result, _ = _report(settings_env, database_url, tmp_path, "--serving-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "--serving-url: cannot read http://127.0.0.1:9/metrics" in result.output


def test_a_bad_container_limit_is_named(
    database_url: str, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    settings_env(DATABASE_URL=database_url)
    result = CliRunner().invoke(cli, ["report", "--container-limit", "lots"])
    assert result.exit_code == 2
    assert "--container-limit" in result.output


def test_an_unreachable_database_is_named(
    settings_env: Callable[..., None], tmp_path: Path
) -> None:
    result, text = _report(settings_env, "postgresql://postgres@127.0.0.1:9/nowhere", tmp_path)
    assert result.exit_code == 1
    assert "cannot read the database" in result.output and "127.0.0.1" in result.output
    assert text == ""
