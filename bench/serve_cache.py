"""/v1/predict in a closed loop by what its feature lookups find (a warm Redis, half unknown
entities, an empty Redis), with the wrk Lua scripts of each scenario and the entities each
feature source served.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import redis
from prometheus_client.parser import text_string_to_metric_families

from bench.serve_figures import worker_metrics, wrk_cpu
from bench.serving_setup import ENTITIES, WRK_PACING, WRK_THREADS, add_entities
from shared.feature_cache import invalidate
from shared.settings import get_settings

# WRK_PACING plus, for /v1/predict: POST {"entity_id": ENTITY} per request, ENTITY a Lua expression.
WRK_ENTITY = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
__SETUP__
request = function()
  return wrk.format(nil, nil, nil, string.format('{"entity_id": "%s"}', __ENTITY__))
end
"""
# One of ENTITIES known entities at random: all cached once a warm-up asked for them.
KNOWN = 'string.format("bench-%d", math.random(0, __ENTITIES__ - 1))'
# Half known entities, half unknown ones (no row: the default vector, never cached).
HALF_UNKNOWN = (
    'string.format(math.random(2) == 1 and "bench-%d" or "unknown-%d", '
    "math.random(0, __ENTITIES__ - 1))"
)
# Entities bench-__FIRST__ onwards, each asked once: wrk thread t takes __FIRST__ + t + k x threads.
FRESH_SETUP = """
local created = 0
setup = function(thread) thread:set("offset", created); created = created + 1 end
local step = -1
next_fresh = function() step = step + 1; return __FIRST__ + offset + __THREADS__ * step end
"""
FRESH = 'string.format("bench-%d", next_fresh())'
FEATURE_SOURCE = "converge_feature_source_total"
FALLBACKS = "converge_feature_fallbacks_total"


@dataclass(frozen=True)
class Scenario:
    """One /v1/predict load: which entities each request asks for, and what that means."""

    label: str
    entity: str  # Lua expression of the entity_id (see WRK_ENTITY)
    meaning: str
    setup: str = ""

    def script(self, **values: int) -> str:
        """The wrk Lua script, with the placeholders (__ENTITIES__, ...) filled in."""
        text = WRK_ENTITY.replace("__SETUP__", self.setup).replace("__ENTITY__", self.entity)
        for name, value in {"ENTITIES": ENTITIES, "THREADS": WRK_THREADS, **values}.items():
            text = text.replace(f"__{name}__", str(value))
        return text + WRK_PACING


WARM = Scenario("warm Redis", KNOWN, "every entity cached by the warm-up")
MIXED = Scenario(
    "50/50 known/unknown",
    HALF_UNKNOWN,
    "known: cached; unknown: Redis miss, PostgreSQL miss, default vector",
)
EMPTY = Scenario(
    "empty Redis",
    FRESH,
    "this run's keys deleted first, then every request a new entity: Redis miss, "
    "PostgreSQL read, write-back",
    FRESH_SETUP,
)


def _sources(base: str, workers: int) -> Counter[str]:
    """Entities served by each feature source (cache, db, default) and lookups that fell back
    from a failed or refused dependency (redis, postgres), summed over the workers."""
    served: Counter[str] = Counter()
    for text in worker_metrics(base, workers).values():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == FEATURE_SOURCE:
                    served[sample.labels["source"]] += int(sample.value)
                elif sample.name == FALLBACKS:
                    served[f"{sample.labels['dependency']} fallback"] += int(sample.value)
    return served


def closed_loop(
    server: tuple[str, subprocess.Popen[bytes]], script: Path, seconds: int, workers: int
) -> tuple[dict[str, float], Counter[str]]:
    """`wrk_cpu` on /v1/predict at 64 connections, and the entities served by each source."""
    base, process = server
    before = _sources(base, workers)
    figures = wrk_cpu(process, base + "/v1/predict", 64, seconds, script)
    return figures, _sources(base, workers) - before


@contextlib.contextmanager
def keys_deleted(prefix: str) -> Iterator[None]:
    """Deletes the Redis keys under `prefix` on exit."""
    try:
        yield
    finally:
        _delete_keys(prefix)


def _delete_keys(prefix: str) -> None:
    """Deletes the Redis keys under `prefix`, and only those."""
    url = get_settings().redis_url
    client = redis.Redis.from_url(url)
    try:
        keys = [key.decode() for key in client.scan_iter(match=prefix + "*", count=1000)]
    finally:
        client.close()
    invalidate(url, prefix, [key.removeprefix(prefix) for key in keys])


def cache_scenarios(
    server: tuple[str, subprocess.Popen[bytes]],
    root: Path,
    env: dict[str, str],
    health_rps: float,
    warm: tuple[dict[str, float], Counter[str]],
    seconds: int,
    workers: int,
) -> None:
    """/v1/predict with a warm, a half-missing and an empty cache, each against a bare /health
    run just before it (on a shared machine the load drifts within a bench run)."""
    base, process = server
    click.echo(
        "closed loop, 64 connections, /v1/predict by what its feature lookups find, each as a "
        "ratio of a bare /health run just before it (sources: the workers' counters):"
    )
    _scenario_line(WARM, *warm, health_rps)
    mixed = root / "mixed.lua"
    mixed.write_text(MIXED.script())
    health = wrk_cpu(process, base + "/health", 64, seconds, None)
    _scenario_line(MIXED, *closed_loop(server, mixed, seconds, workers), health["rps"])
    # New entities for the whole run at 1.5 x the warm rate (a miss is not faster than a hit).
    count = math.ceil(warm[0]["rps"] * seconds * 1.5) + ENTITIES
    add_entities(env["DATABASE_URL"], ENTITIES, count)
    fresh = root / "fresh.lua"
    fresh.write_text(EMPTY.script(FIRST=ENTITIES))
    _delete_keys(env["CONVERGE_SERVING_CACHE_KEY_PREFIX"])
    health = wrk_cpu(process, base + "/health", 64, seconds, None)
    _scenario_line(EMPTY, *closed_loop(server, fresh, seconds, workers), health["rps"])


def _scenario_line(
    scenario: Scenario, figures: dict[str, float], sources: Counter[str], health_rps: float
) -> None:
    counts = {name: count for name, count in sources.items() if "fallback" not in name}
    total = sum(counts.values()) or 1
    shares = ", ".join(f"{name} {100 * counts[name] / total:.0f}%" for name in sorted(counts))
    # A dependency slower than its timeout counts as failed; enough failures open its breaker.
    fallbacks = "".join(
        f"; {name}s: {sources[name]}" for name in sorted(sources) if "fallback" in name
    )
    click.echo(
        f"  {scenario.label} ({scenario.meaning}): {figures['rps']:.0f} req/s, p50 "
        f"{figures['p50'] / 1000:.1f} ms, p99 {figures['p99'] / 1000:.1f} ms, server CPU "
        f"{figures['cpu_ms']:.3f} ms/request, non-2xx {figures['non2xx']:.0f}; ratio "
        f"{figures['rps'] / health_rps:.2f} (/health {health_rps:.0f} req/s); "
        f"sources: {shares}{fallbacks}"
    )
