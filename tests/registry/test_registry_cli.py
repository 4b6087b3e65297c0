"""`converge registry ...` against a real database: output, exit codes and refusals."""

from __future__ import annotations

import json
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from click.testing import CliRunner, Result

from converge.cli import cli
from shared.artifacts import open_artifact_store, sha256_file
from shared.registry import NewModel, current_champion, promotion_history, register_model
from tests.handmade_mojo import write_glm_mojo
from tests.registry.factories import new_model, stored_model

Conn = psycopg.Connection[Any]


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    """The artifact store of the CLI under test (a folder)."""
    return (tmp_path / "store").as_uri()


@pytest.fixture
def run(
    database_url: str, store_uri: str, settings_env: Callable[..., None]
) -> Callable[..., Result]:
    """Invoke `converge registry ...` on the test database and artifact store."""
    settings_env(DATABASE_URL=database_url, ARTIFACT_STORE_URI=store_uri)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["registry", *args])

    return invoke


def test_promote_champion_rollback_round_trip(
    run: Any, store_uri: str, conn: psycopg.Connection[Any]
) -> None:
    first = register_model(conn, stored_model(store_uri))
    second = register_model(conn, stored_model(store_uri, algo="drf"))
    assert run("champion").exit_code == 1

    promoted = run("promote", str(first.model_version), "--reason", "baseline")
    assert promoted.exit_code == 0, promoted.output
    assert run("promote", str(second.model_version), "--reason", "better").exit_code == 0

    champion = run("champion")
    assert champion.exit_code == 0
    assert f"model_version {second.model_version} (drf" in champion.output
    assert second.artifact_sha256 in champion.output

    rolled = run("rollback", str(first.model_version), "--reason", "drift")
    assert rolled.exit_code == 0, rolled.output
    assert f"rollback from {second.model_version}: drift" in rolled.output
    current = current_champion(conn)
    assert current is not None and current.model.model_version == first.model_version

    listing = run("list")
    starred = [line for line in listing.output.splitlines() if line.startswith("*")]
    assert len(starred) == 1 and f" {first.model_version}  gbm" in starred[0]
    history = run("history").output.splitlines()
    assert len(history) == 3 and "drift" in history[0]


def test_show_and_json_output(run: Any, store_uri: str, conn: psycopg.Connection[Any]) -> None:
    model = register_model(conn, stored_model(store_uri))
    run("promote", str(model.model_version), "--reason", "json")

    shown = json.loads(run("show", str(model.model_version)).output)
    assert shown["artifact_uri"] == model.artifact_uri
    assert shown["feature_list"] == list(model.feature_list)
    listed = json.loads(run("list", "--json").output)
    assert [m["model_version"] for m in listed] == [model.model_version]
    champion = json.loads(run("champion", "--json").output)
    assert champion["model"]["model_version"] == model.model_version
    assert champion["reason"] == "json"


def test_refusals_exit_non_zero_with_the_cause(
    run: Any, store_uri: str, conn: psycopg.Connection[Any]
) -> None:
    mismatched = register_model(conn, stored_model(store_uri, h2o_version="3.44.0.3"))

    refused = run("promote", str(mismatched.model_version), "--reason", "try")
    assert refused.exit_code == 1
    assert "3.44.0.3" in refused.output and "--allow-version-mismatch" in refused.output
    assert "(!= versions.env)" in run("list").output

    missing = run("show", "424242")
    assert missing.exit_code == 1 and "no model with model_version 424242" in missing.output
    no_reason = run("promote", str(mismatched.model_version))
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    bad_version = run("promote", "zero", "--reason", "x")
    assert bad_version.exit_code == 2 and "MODEL_VERSION" in bad_version.output
    assert promotion_history(conn) == []

    allowed = run(
        "promote", str(mismatched.model_version), "--reason", "ok", "--allow-version-mismatch"
    )
    assert allowed.exit_code == 0 and "(!= versions.env)" in allowed.output


def test_unreachable_database_is_a_clear_error(settings_env: Callable[..., None]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Nothing listens on `port` once the socket is closed.
    settings_env(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/converge")
    result = CliRunner().invoke(cli, ["registry", "list"])
    assert result.exit_code == 1
    assert "cannot reach the converge database" in result.output and str(port) in result.output


def test_missing_versions_file_is_a_clear_error(
    run: Any, monkeypatch: pytest.MonkeyPatch, conn: psycopg.Connection[Any]
) -> None:
    register_model(conn, new_model())
    monkeypatch.setenv("CONVERGE_VERSIONS_FILE", "/nonexistent/versions.env")
    result = run("list")
    assert result.exit_code == 1
    assert "/nonexistent/versions.env not found" in result.output


def _damaged(damage: str, store_uri: str, tmp_path: Path) -> NewModel:
    """A registration whose artifact serving could not load, in the way `damage` says."""
    if damage == "not a mojo":
        fake = tmp_path / "fake.zip"
        with zipfile.ZipFile(fake, "w") as bundle:
            bundle.writestr("readme.txt", "a zip, not a MOJO")
        stored = open_artifact_store(store_uri).put_file(fake)
        return new_model(artifact_uri=stored.uri, artifact_sha256=stored.sha256)
    if damage == "outside the store":
        elsewhere = write_glm_mojo(tmp_path / "elsewhere" / "model.zip", intercept=1.5)
        return new_model(artifact_uri=elsewhere.as_uri(), artifact_sha256=sha256_file(elsewhere))
    new = stored_model(store_uri)
    path = Path(urlparse(new.artifact_uri).path)
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes() + b"tampered")
    return new


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("delete", "no artifact at"),
        ("corrupt", "is corrupt: expected sha256"),
        ("not a mojo", "not an H2O-3 MOJO"),
        ("outside the store", "outside the store"),
    ],
)
def test_promote_refuses_an_artifact_serving_could_not_load(
    damage: str, reason: str, run: Any, store_uri: str, conn: Conn, tmp_path: Path
) -> None:
    """Nothing is written unless the artifact exists, hashes to its sha256 and loads."""
    good = register_model(conn, stored_model(store_uri))
    assert run("promote", str(good.model_version), "--reason", "baseline").exit_code == 0
    bad = register_model(conn, _damaged(damage, store_uri, tmp_path))
    refused = run("promote", str(bad.model_version), "--reason", "try")
    assert refused.exit_code == 1, refused.output
    assert f"model_version {bad.model_version} refused" in refused.output
    assert reason in refused.output and "nothing was promoted" in refused.output
    champion = current_champion(conn)
    assert champion is not None and champion.model.model_version == good.model_version
