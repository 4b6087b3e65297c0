"""Serving-only settings (env prefix CONVERGE_SERVING_); connection URLs: shared.settings."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.schemas import FeatureValue


class ServingSettings(BaseSettings):
    """Knobs of the serving app: executor, micro-batching, breakers, cache, model follow-up."""

    model_config = SettingsConfigDict(
        env_prefix="CONVERGE_SERVING_", env_file=".env", extra="ignore", frozen=True
    )

    executor_workers: int = Field(
        default_factory=lambda: (os.cpu_count() or 1) * 2,
        ge=1,
        description="Threads scoring the model off the event loop (default: cores x 2).",
    )
    # Light traffic never waits, and a pause in arrivals ends a batch early (see serving.batcher).
    # 5 ms made batches larger but cost more CPU per request than 2 ms in a closed loop here.
    batch_max_wait_ms: float = Field(
        default=2.0, ge=0, le=50, description="Longest a request waits for others to share a batch."
    )
    batch_max_size: int = Field(default=256, ge=1, description="Most rows in one scoring call.")
    # Little's law: the p99 latency budget (100 ms) x one worker's throughput (5-7k req/s on
    # 2 cores). 200 shed the opening burst of 1000 clients connecting at once (500 per worker),
    # which this many requests would clear in under 100 ms; beyond it a request mostly waits.
    max_in_flight: int = Field(
        default=512,
        ge=1,
        description="Scoring requests (/v1, /graphql) in flight per worker; beyond: 503 at once.",
    )
    retry_after_s: int = Field(
        default=1, ge=0, description="Retry-After (seconds) on a 503 from admission control."
    )
    breaker_fail_max: int = Field(default=5, ge=1, description="Failures that open a breaker.")
    breaker_reset_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a breaker stays open before one probe is let through.",
    )
    redis_timeout_s: float = Field(
        default=0.25,
        gt=0,
        description="Budget of one Redis call; a slower call counts as a failure.",
    )
    db_timeout_s: float = Field(
        default=0.5,
        gt=0,
        description="Budget of one feature query; a slower one counts as a failure.",
    )
    redis_pool_max_size: int = Field(default=50, ge=1, description="Connections to Redis.")
    db_pool_max_size: int = Field(default=10, ge=1, description="Connections in the feature pool.")
    default_features: dict[str, FeatureValue] = Field(
        default_factory=dict,
        description="Feature vector served when neither Redis nor PostgreSQL can (JSON object).",
    )
    cache_ttl_s: int = Field(
        default=300, ge=1, description="TTL of features written back to Redis."
    )
    cache_key_prefix: str = Field(default="converge:features:", description="Redis key prefix.")
    model_poll_interval_s: float = Field(
        default=30.0, gt=0, description="Champion polling period, the safety net under LISTEN."
    )
    model_cache_dir: str | None = Field(
        default=None, description="Where fetched MOJOs are kept (default: CONVERGE_HOME/serving)."
    )
    kernel_cache: Path | None = Field(
        default=None,
        description="Numba kernels compiled at image build (`converge mojo compile-cache`), "
        "copied into NUMBA_CACHE_DIR by `converge serve`; unset, empty or unusable: compiled at "
        "start.",
    )
    # 10 ms, as Node's monitorEventLoopDelay: ~100 samples a second make a p99 over a short window
    # meaningful, for a few hundred microseconds of CPU a second.
    loop_lag_interval_s: float = Field(
        default=0.01, gt=0, description="How often the loop monitor measures scheduling lag."
    )
    loop_lag_warning_ms: float = Field(
        default=50.0, gt=0, description="Loop lag above which a warning is logged."
    )
    # FastAPI's native OpenTelemetry middleware asks the global providers on every request whether
    # it should record (about 3 % of a request's CPU here) even when none is configured.
    otel_telemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans, metrics and logs (needs configured providers).",
    )
    max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="Largest request body accepted; larger ones get 413 before being parsed.",
    )
    # 10,000 rows of ~10 features are 1-2 MB of JSON: the batch routes (inline rows on
    # /v1/predict/batch, the Open Inference Protocol's infer) get their own, still bounded, limit.
    batch_max_body_bytes: int = Field(
        default=32 << 20,
        ge=1024,
        description="Largest body of a batch request (/v1/predict/batch, /v2/models/*/infer).",
    )
    batch_max_rows: int = Field(
        default=10_000, ge=1, description="Most rows one batch request may have scored."
    )
    graphql_max_depth: int = Field(default=5, ge=1, description="Deepest GraphQL query accepted.")
    graphql_max_aliases: int = Field(
        default=15, ge=1, description="Most aliases in one GraphQL document."
    )
    graphql_max_tokens: int = Field(
        default=2000, ge=10, description="Most tokens in one GraphQL document (checked first)."
    )
    graphql_max_predictions: int = Field(
        default=1000, ge=1, description="Most entities one GraphQL request may have scored."
    )
    graphql_ide: bool = Field(
        default=False, description="Serve GraphiQL on GET /graphql and allow introspection."
    )
    # Hashes, never tokens: a leaked environment or config map does not leak a credential. A
    # token is random (secrets.token_urlsafe(32)), so a plain SHA-256 is enough (no slow KDF).
    graphql_admin_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="GraphQL promote/rollback: JSON {name: SHA-256 hex of the bearer token}; "
        "empty: model operations are off (they also need CONVERGE_ADMIN_DATABASE_URL).",
    )

    @field_validator("graphql_admin_tokens")
    @classmethod
    def _token_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not name.strip():
                raise ValueError("graphql_admin_tokens names must be non-empty")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(
                    f"graphql_admin_tokens[{name!r}] must be the SHA-256 hex digest of the token "
                    "(64 lowercase hex characters), not the token itself"
                )
        return value

    # Past saturation uvloop served some connections over and over while others waited seconds
    # (requests timed out under `bench overload`); asyncio's loop serves them in turn. See
    # docs/serving.md, "Overload".
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="Event loop of the workers: asyncio (fair under overload) or uvloop "
        "(more requests/s below saturation, seconds-long waits for some clients beyond it).",
    )
    # Kubernetes probes go here, not to the main port: see serving/probes.py and docs/serving.md.
    probe_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of /live and /ready answered off the event loop (unset: no probe port).",
    )
    probe_host: str = Field(
        default="127.0.0.1", description="Interface of the probe port (0.0.0.0 in a pod)."
    )
    probe_max_loop_stall_s: float = Field(
        default=5.0,
        gt=0,
        description="Event-loop stall after which the probe port says not live and not ready.",
    )

    @field_validator("kernel_cache", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An image sets the variable; a pod turns the shipped cache off by setting it empty.
        return None if value == "" else value

    @field_validator("default_features", mode="before")
    @classmethod
    def _no_empty_keys(cls, value: Any) -> Any:
        if isinstance(value, dict) and any(not key for key in value):
            raise ValueError("default_features keys must be non-empty")
        return value


@lru_cache(maxsize=1)
def get_serving_settings() -> ServingSettings:
    """The process-wide serving settings, read once from the environment."""
    return ServingSettings()
