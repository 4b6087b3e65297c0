"""A real Prometheus server scraping a real `converge serve`: metrics arrive and alerts fire.

The rules file is loaded as committed (production `for:` durations): the breaker alert fires a
minute after a real opening (Redis killed under requests), the version-mismatch and refusal alerts
at once. `promtool test rules` covers the timing of every rule; these tests cover that the rules
match the series the app really exports.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from shared.versions import pinned_versions
from tests.deploy.converge_serve import converge_serve
from tests.deploy.prometheus_server import JOB, prometheus_server
from tests.handmade_mojo import write_glm_mojo
from tests.serving.conftest import Registry, TrainedMojo, glm_mojo, serving_env
from tests.serving.services import PrivateRedis

OTHER_H2O = "3.44.0.3"


def _glm_champion(database_url: str, tmp_path: Path) -> tuple[Registry, int]:
    registry = Registry(database_url, (tmp_path / "artifacts").as_uri())
    version = registry.register(glm_mojo(tmp_path))
    registry.promote(version)
    return registry, version


def test_metrics_arrive_and_a_forced_breaker_opening_fires_its_alert(
    database_url: str, tmp_path: Path
) -> None:
    registry, version = _glm_champion(database_url, tmp_path)
    redis = PrivateRedis()
    redis.start()
    try:
        env = serving_env(registry, redis.url, tmp_path)
        with (
            converge_serve(env, tmp_path / "serving.log") as base,
            prometheus_server(base.removeprefix("http://"), tmp_path / "prometheus") as prom,
            httpx.Client(base_url=base, timeout=10) as client,
        ):
            assert client.post("/v1/predict", json={"entity_id": "e1"}).status_code == 200
            # Arrived: the target is up and the app's own series are stored, with their labels.
            assert prom.wait_for_series(f'up{{job="{JOB}"}} == 1', 30)
            served = prom.wait_for_series(f'converge_model_info{{model_version="{version}"}}', 30)
            assert served[0]["metric"]["algo"] == "glm"
            assert prom.wait_for_series(
                'converge_request_latency_seconds_count{route="/v1/predict", status="200"} > 0', 30
            )
            age = prom.query("time() - converge_model_created_timestamp_seconds")
            assert 0 <= float(age[0]["value"][1]) < 600  # registered by this test
            assert prom.query('converge_breaker_state{dependency="redis", state="closed"} == 1')
            assert not prom.alerts("ConvergeBreakerOpen")

            redis.stop()  # as a crash: connections refused from now on
            for _ in range(8):  # breaker_fail_max is 5; each request is one Redis call
                answer = client.post("/v1/predict", json={"entity_id": "e1"})
                assert answer.status_code == 200, answer.text  # served from the fallback
            assert client.get("/ready").json()["breakers"]["redis"] == "open"

            pending = prom.wait_for_alert("ConvergeBreakerOpen", "pending", 30, dependency="redis")
            opened = time.monotonic()
            firing = prom.wait_for_alert("ConvergeBreakerOpen", "firing", 120, dependency="redis")
            assert time.monotonic() - opened > 45  # `for: 1m` was honoured (minus scrape slack)
            assert firing["labels"]["severity"] == "warning"
            assert pending["labels"]["instance"] == firing["labels"]["instance"]
            assert not [
                a
                for a in prom.alerts("ConvergeBreakerOpen")
                if a["labels"]["dependency"] == "postgres"
            ]
    finally:
        redis.stop()


def test_a_version_mismatch_at_start_up_fires_its_alerts(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    registry, version = _glm_champion(database_url, tmp_path)
    installed = pinned_versions().h2o_version
    # The app starts where versions.env pins another h2o than the champion's and the installed one.
    versions = tmp_path / "versions.env"
    lines = pinned_versions().source.read_text().splitlines()
    versions.write_text(
        "\n".join(
            f"H2O_VERSION={OTHER_H2O}" if line.startswith("H2O_VERSION=") else line
            for line in lines
        )
        + "\n"
    )
    env = serving_env(registry, redis_url, tmp_path, CONVERGE_VERSIONS_FILE=str(versions))
    log = tmp_path / "serving.log"
    with (
        converge_serve(env, log, ready_path="/health") as base,
        prometheus_server(base.removeprefix("http://"), tmp_path / "prometheus") as prom,
    ):
        champion = prom.wait_for_alert(
            "ConvergeVersionMismatch", "firing", 30, component="champion"
        )
        assert champion["labels"]["expected"] == OTHER_H2O
        assert champion["labels"]["found"] == installed
        package = prom.wait_for_alert("ConvergeVersionMismatch", "firing", 30, component="h2o")
        assert (package["labels"]["expected"], package["labels"]["found"]) == (OTHER_H2O, installed)
        refused = prom.wait_for_alert("ConvergeChampionRefused", "firing", 30)
        assert refused["labels"]["model_version"] == str(version)
        assert refused["labels"]["reason"] == "h2o_version"
        # Nothing else could be served: that alert waits its two minutes, but its rule matches now.
        prom.wait_for_alert("ConvergeNoModelServed", "pending", 30)
        assert httpx.get(f"{base}/ready").status_code == 503

        # A champion built for the pinned h2o is swapped in: the champion's alerts clear, the
        # installation's mismatch stays.
        built = TrainedMojo(
            write_glm_mojo(tmp_path / "other.zip", h2o_version=OTHER_H2O), "glm", ["colour", "size"]
        )
        fitting = registry.register(built, h2o_version=OTHER_H2O)
        registry.promote(fitting, allow_version_mismatch=True)
        prom.wait_for_series(f'converge_model_info{{model_version="{fitting}"}}', 30)
        prom.wait_until_empty("converge_champion_refused", 30)
        prom.wait_until_empty('converge_version_mismatch{component="champion"}', 30)
        assert prom.query('converge_version_mismatch{component="h2o"} == 1')
        assert httpx.get(f"{base}/ready").status_code == 200
    text = log.read_text()
    assert (
        f"version mismatch: champion model_version {version} has h2o_version {installed}, "
        f"versions.env H2O_VERSION is {OTHER_H2O}"
    ) in text
    assert (
        f"version mismatch: installed h2o {installed}, versions.env H2O_VERSION is {OTHER_H2O}"
        in text
    )
