"""Feature lookup for scoring: Redis cache, else PostgreSQL's latest row, else the default vector.

Read-through: a database hit is written back to Redis with a TTL. Each dependency sits behind its
circuit breaker; a failed or refused call is the one explicit fallback path, counted in metrics.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from serving.breaker import Breaker, BreakerOpenError
from serving.metrics import ServingMetrics
from shared.feature_cache import cache_key
from shared.feature_store import FeatureRow, features_as_of_async, latest_async
from shared.schemas import FeatureValue

log = logging.getLogger(__name__)

Features = Mapping[str, FeatureValue]


class FeatureSource(enum.Enum):
    """Where an entity's features came from."""

    CACHE = "cache"
    DB = "db"
    DEFAULT = "default"
    INLINE = "inline"


@dataclass(frozen=True)
class ResolvedFeatures:
    """One entity's features and the source that served them."""

    features: Features
    source: FeatureSource

    @property
    def degraded(self) -> bool:
        """True when the features are the configured default rather than the entity's own."""
        return self.source is FeatureSource.DEFAULT


@dataclass(frozen=True)
class FeaturesAsOf:
    """An entity's features as of an instant: its row's event time, None for the default."""

    resolved: ResolvedFeatures
    event_timestamp: datetime | None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BreakerOpenError):
        return "breaker_open"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


class FeatureLookup:
    """Resolves features through Cache -> DB -> Default, each dependency behind a breaker."""

    def __init__(
        self,
        redis: Redis,
        pool: AsyncConnectionPool,
        *,
        redis_breaker: Breaker,
        db_breaker: Breaker,
        redis_timeout_s: float,
        db_timeout_s: float,
        default_features: Features,
        cache_ttl_s: int,
        key_prefix: str,
        metrics: ServingMetrics,
    ) -> None:
        self._redis = redis
        self._pool = pool
        self._redis_breaker = redis_breaker
        self._db_breaker = db_breaker
        self._redis_timeout_s = redis_timeout_s
        self._db_timeout_s = db_timeout_s
        self._default = dict(default_features)
        self._ttl_s = cache_ttl_s
        self._prefix = key_prefix
        self._metrics = metrics

    def cache_key(self, entity_id: str) -> str:
        """The Redis key holding an entity's cached features."""
        return cache_key(self._prefix, entity_id)

    async def resolve(self, entity_ids: Sequence[str]) -> dict[str, ResolvedFeatures]:
        """Each entity's features (one MGET, one SQL for misses); never raises for a dependency."""
        unique = list(dict.fromkeys(entity_ids))
        resolved: dict[str, ResolvedFeatures] = {}
        cached = await self._from_cache(unique)
        if cached is not None:
            for entity_id, features in cached.items():
                resolved[entity_id] = ResolvedFeatures(features, FeatureSource.CACHE)
        missing = [entity_id for entity_id in unique if entity_id not in resolved]
        if missing:
            rows = await self._from_db(missing)
            if rows:
                for entity_id, row in rows.items():
                    resolved[entity_id] = ResolvedFeatures(row.dynamic_features, FeatureSource.DB)
                if cached is not None:  # Redis answered just now: fill it for the next request
                    await self._write_back(rows)
        default = ResolvedFeatures(self._default, FeatureSource.DEFAULT)
        for entity_id in unique:
            resolved.setdefault(entity_id, default)
        # One increment per source and call (a batch), not one per entity.
        served = Counter(resolved[entity_id].source for entity_id in entity_ids)
        for source, count in served.items():
            self._metrics.feature_source.labels(source.value).inc(count)
        return resolved

    async def latest_rows(self, entity_ids: Sequence[str]) -> dict[str, FeatureRow] | None:
        """The newest rows straight from PostgreSQL through its breaker (None: it failed)."""
        return await self._from_db(list(dict.fromkeys(entity_ids)))

    async def resolve_as_of(
        self, entity_ids: Sequence[str], moments: Sequence[datetime]
    ) -> list[FeaturesAsOf | None]:
        """Each entity's row as of its moment, neither event nor ingestion after it (None: no row).

        One SQL statement through the PostgreSQL breaker (a cache of latest rows cannot answer);
        when PostgreSQL fails every entity gets the default vector, degraded, as `resolve` does.
        """

        async def query() -> list[FeatureRow | None]:
            async with self._pool.connection(timeout=self._db_timeout_s) as conn:
                return await features_as_of_async(conn, entity_ids, moments, moments)

        try:
            rows = await self._db_breaker.call(query, self._db_timeout_s)
        except Exception as exc:  # the counted fallback path: serve the default vector instead
            self._fell_back("postgres", exc)
            default = FeaturesAsOf(ResolvedFeatures(self._default, FeatureSource.DEFAULT), None)
            self._metrics.feature_source.labels(FeatureSource.DEFAULT.value).inc(len(entity_ids))
            return [default] * len(entity_ids)
        found = sum(row is not None for row in rows)
        self._metrics.feature_source.labels(FeatureSource.DB.value).inc(found)
        return [
            None
            if row is None
            else FeaturesAsOf(
                ResolvedFeatures(row.dynamic_features, FeatureSource.DB), row.event_timestamp
            )
            for row in rows
        ]

    def _fell_back(self, dependency: str, exc: BaseException) -> None:
        reason = _reason(exc)
        self._metrics.fallbacks.labels(dependency, reason).inc()
        # Refusals by an open breaker are counted, not logged: the breaker's opening was.
        level = logging.DEBUG if reason == "breaker_open" else logging.WARNING
        log.log(level, "%s unavailable (%s: %s), falling back", dependency, reason, exc)

    async def _from_cache(self, entity_ids: list[str]) -> dict[str, Features] | None:
        """Cached features by entity (misses absent), or None when Redis could not be used."""
        keys = [self.cache_key(entity_id) for entity_id in entity_ids]
        try:
            values = await self._redis_breaker.call(
                lambda: self._redis.mget(keys), self._redis_timeout_s
            )
        except Exception as exc:  # the counted fallback path: serve from the database instead
            self._fell_back("redis", exc)
            return None
        found: dict[str, Features] = {}
        for entity_id, value in zip(entity_ids, values, strict=True):
            if value is not None:
                found[entity_id] = orjson.loads(value)
        return found

    async def _from_db(self, entity_ids: list[str]) -> dict[str, FeatureRow] | None:
        """Latest rows by entity (unknown entities absent), or None when PostgreSQL failed."""

        async def query() -> dict[str, FeatureRow]:
            async with self._pool.connection(timeout=self._db_timeout_s) as conn:
                return await latest_async(conn, entity_ids)

        try:
            return await self._db_breaker.call(query, self._db_timeout_s)
        except Exception as exc:  # the counted fallback path: serve the default vector instead
            self._fell_back("postgres", exc)
            return None

    async def _write_back(self, rows: Mapping[str, FeatureRow]) -> None:
        async def write() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entity_id, row in rows.items():
                    pipe.set(
                        self.cache_key(entity_id),
                        orjson.dumps(row.dynamic_features),
                        ex=self._ttl_s,
                    )
                await pipe.execute()

        try:
            await self._redis_breaker.call(write, self._redis_timeout_s)
        except Exception as exc:  # a failed write-back only costs a cache miss later
            self._fell_back("redis", exc)
