"""Log lines carry time, level and logger (JSON on request), and a champion swap is logged."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

from serving.launch import app_process, wait_until_ready
from shared.logs import JsonFormatter, logging_config
from shared.net import free_port
from tests.serving.client import running_app
from tests.serving.conftest import Registry, glm_mojo, serving_env, serving_settings, settings_for
from tests.serving.server import REPO, uvicorn_server


def test_json_lines_have_time_level_logger_and_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("serving.x", logging.ERROR, __file__, 1, "m %s", ("v",), None)
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR" and line["logger"] == "serving.x" and line["message"] == "m v"
    assert line["ts"].endswith("+00:00") and "ValueError: boom" in line["exc_info"]
    assert logging_config("warning", "text")["root"]["level"] == "WARNING"


@pytest.mark.parametrize("launcher", ["uvicorn", "converge serve"])
def test_the_app_logs_json_lines_and_the_model_it_serves(
    launcher: str, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    version = registry.register(glm_mojo(tmp_path))
    registry.promote(version)
    env = {**serving_env(registry, redis_url, tmp_path), "CONVERGE_LOG_FORMAT": "json"}
    log = tmp_path / "app.log"
    if launcher == "uvicorn":
        with uvicorn_server(env, log):
            pass
    else:
        port = free_port()
        argv = [str(Path(sys.executable).with_name("converge")), "serve", "--port", str(port)]
        with (
            log.open("wb") as out,
            app_process(argv, {**os.environ, "PYTHONPATH": str(REPO), **env}, out, REPO) as p,
        ):
            wait_until_ready(f"http://127.0.0.1:{port}", p, timeout_s=240, poll_s=0.1)
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.startswith("{")]
    assert lines, log.read_text()
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    swaps = [line for line in lines if line["message"].startswith("serving model_version")]
    assert swaps and swaps[0]["logger"] == "serving.model_holder"
    assert f"serving model_version {version} (glm)" == swaps[0]["message"]
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    if launcher == "converge serve":  # the default loop, said once by the command
        loops = [line["message"] for line in lines if line["logger"] == "converge.commands.serve"]
        assert "workers run the asyncio event loop" in loops


async def test_a_breaker_transition_is_one_log_line_json_on_request(
    registry: Registry, glm_champion: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: every call fails
    settings = settings_for(registry, dead_redis, tmp_path)
    with caplog.at_level(logging.WARNING, logger="serving.app"):
        async with running_app(serving_settings(tmp_path, breaker_fail_max=1), settings) as (
            _,
            client,
        ):
            for _ in range(3):  # the first failure opens it; the next calls find it open
                answer = await client.post("/v1/predict", json={"entity_id": "e1"})
                assert answer.status_code == 200 and answer.json()["degraded"], answer.text
    lines = [r for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert [r.getMessage() for r in lines] == ["redis circuit breaker is now open"]
    line = json.loads(JsonFormatter().format(lines[0]))
    assert line["level"] == "WARNING" and line["logger"] == "serving.app"
    assert line["message"] == "redis circuit breaker is now open"
