"""Acceptance: an automl-only matrix -> `converge demo` promotes its leader -> `converge serve`."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from serving.launch import app_process, wait_until_ready
from shared.net import free_port
from shared.registry import current_champion
from tests.training.conftest import REPOSITORY_ROOT, demo

CONVERGE = str(Path(sys.executable).with_name("converge"))
# Small for 2 shared cores; the ensemble's Logit metalearner transform is what the runtime scores.
AUTOML_ONLY = """\
automl:
  max_models: 2
  nfolds: 2
  seed: 7
  include_algos: [GBM, StackedEnsemble]
"""


@pytest.mark.h2o
def test_automl_leader_is_promoted_and_served(
    h2o_cluster: Any, demo_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    configs = tmp_path / "automl.yaml"
    configs.write_text(AUTOML_ONLY)
    env = {**demo_env, "CONVERGE_MODEL_CONFIGS": str(configs)}
    done = demo(env, "--entities", "400")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Champion: automl (auc " in done.stdout and "promoted to champion" in done.stdout

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        champion = current_champion(conn)
    assert champion is not None
    model = champion.model
    assert model.training_config["algo"] == "automl"
    assert model.training_config["leader_algo"] == model.algo
    assert model.training_config["leader_model_id"]
    assert model.training_config["include_algos"] == ["GBM", "StackedEnsemble"]

    port = free_port()
    serve_env = {**env, "REDIS_URL": redis_url, "CONVERGE_SERVING_MODEL_POLL_INTERVAL_S": "0.5"}
    argv = [CONVERGE, "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("wb") as output, app_process(argv, serve_env, output, REPOSITORY_ROOT) as app:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, app, timeout_s=240, poll_s=0.1)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from exc
        request = urllib.request.Request(
            base + "/v1/predict",
            data=json.dumps({"entity_id": "customer-000001"}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
    assert answer["model_version"] == model.model_version and answer["degraded"] is False
    (prediction,) = answer["predictions"]
    assert prediction["entity_id"] == "customer-000001" and prediction["source"] == "db"
    scores = prediction["prediction"]
    assert scores["predict"] in {"0", "1"}
    assert abs(scores["p0"] + scores["p1"] - 1.0) < 1e-9
