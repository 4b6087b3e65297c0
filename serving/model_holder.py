"""The champion being served: load and verify it, swap it atomically, follow promotions.

Promotions arrive by LISTEN on CHAMPION_CHANNEL; polling every `poll_interval_s` is the safety net
for a dropped connection or a missed notification. A champion that fails verification (missing,
corrupt, outside the store, another h2o version, unloadable) is refused (counted by reason, logged,
shown by /ready) and never takes serving down: on a swap the previous model keeps serving, at
start-up the newest earlier champion that loads is served instead.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import psycopg

from serving.metrics import ServingMetrics
from serving.scoring import LoadedModel, score_rows
from shared.champion_artifact import ArtifactRefusedError, load_verified_mojo
from shared.kernel_cache import compiled_kernels
from shared.registry import (
    CHAMPION_CHANNEL,
    Champion,
    current_champion_async,
    promotion_history_async,
)

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds the current LoadedModel (or why there is none), in step with the registry."""

    def __init__(
        self,
        database_url: str,
        *,
        artifact_store_uri: str,
        expected_h2o_version: str,
        cache_dir: Path,
        metrics: ServingMetrics,
        poll_interval_s: float,
    ) -> None:
        self._database_url = database_url
        self._store_uri = artifact_store_uri
        self._expected_h2o = expected_h2o_version
        self._cache_dir = cache_dir
        self._metrics = metrics
        self._poll_interval_s = poll_interval_s
        self._refresh_lock = asyncio.Lock()
        # A refused promotion is not retried on every poll; a new promotion is tried afresh.
        self._refused_promotion: int | None = None
        self.current: LoadedModel | None = None
        self.not_ready_reason: str | None = "no champion loaded yet"
        # The newest champion refused while an older model (or none) is served; /ready shows it.
        self.refused: ArtifactRefusedError | None = None

    async def start(self) -> None:
        """Serve the champion, or if it is refused the newest earlier champion that loads."""
        async with await psycopg.AsyncConnection.connect(self._database_url) as conn:
            history = await promotion_history_async(conn)
        if not history:
            self.not_ready_reason = "no champion is registered in the model registry"
            log.warning("serving starts without a model: %s", self.not_ready_reason)
            return
        tried: set[int] = set()
        for promotion in history:
            if promotion.model.model_version in tried:
                continue
            tried.add(promotion.model.model_version)
            try:
                loaded = await self._load(promotion)
            except ArtifactRefusedError as exc:
                self._refuse(history[0], exc)
                continue
            self._swap(loaded, is_champion=promotion is history[0])
            self._metrics.set_served_promotion(promotion)
            return
        self.not_ready_reason = f"{self.refused}; no earlier champion could be served either"
        log.error("serving starts without a model: %s", self.not_ready_reason)

    async def refresh(self, conn: psycopg.AsyncConnection[Any] | None = None) -> None:
        """Swap in the registry's champion if it changed; refuse (and keep the old) if it fails."""
        async with self._refresh_lock:
            champion = await self._fetch_champion(conn)
            if champion is None or champion.promotion_id == self._refused_promotion:
                return
            if (
                self.current is not None
                and self.current.model_version == champion.model.model_version
            ):
                self.refused = None  # a rollback to what is served: the refused one is history
                self._metrics.set_refused(None, self._expected_h2o)
                self._metrics.set_served_promotion(champion)
                return
            try:
                loaded = await self._load(champion)
            except ArtifactRefusedError as exc:
                self._refuse(champion, exc)
                return
            except Exception:  # the store unreachable, say: not a verdict on the model
                log.exception(
                    "champion model_version %s could not be fetched; retrying at the next poll",
                    champion.model.model_version,
                )
                return
            self._swap(loaded, is_champion=True)
            self._metrics.set_served_promotion(champion)

    async def follow(self) -> None:
        """Forever: refresh on each promotion notice, and at least every poll interval."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHAMPION_CHANNEL}")
                    while True:
                        # The first pass also catches promotions made while we were not listening.
                        await self.refresh(conn)
                        # Returns at the first notice or after the poll interval: look either way.
                        async for _notice in conn.notifies(
                            timeout=self._poll_interval_s, stop_after=1
                        ):
                            pass
            except (psycopg.Error, OSError) as exc:
                log.warning("champion follower lost its connection (%s); retrying", exc)
            except Exception:  # a supervisor loop: one failed refresh must not stop following
                log.exception("champion refresh failed; retrying")
            await asyncio.sleep(self._poll_interval_s)

    async def _fetch_champion(
        self, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> Champion | None:
        if conn is not None:
            return await current_champion_async(conn)
        async with await psycopg.AsyncConnection.connect(self._database_url) as fresh:
            return await current_champion_async(fresh)

    async def _load(self, champion: Champion) -> LoadedModel:
        try:
            return await asyncio.to_thread(self._load_blocking, champion)
        except ArtifactRefusedError as exc:
            self._metrics.model_refusals.labels(exc.reason).inc()
            raise

    def _load_blocking(self, champion: Champion) -> LoadedModel:
        """Fetch, verify sha256 and h2o_version, and parse the MOJO (blocking: run in a thread)."""
        record = champion.model
        version = record.model_version
        dest = self._cache_dir / str(version)
        dest.mkdir(parents=True, exist_ok=True)
        mojo = load_verified_mojo(record, self._store_uri, dest, self._expected_h2o)
        loaded = LoadedModel(version, record.h2o_version, record.algo, record.artifact_sha256, mojo)
        # Score one all-missing row through the request path now: first use compiles kernels and
        # imports lazily, which holds the GIL and would stall the event loop under live requests.
        score_rows(loaded, [{}])
        from_cache, compiled = compiled_kernels()
        log.info(
            "numba kernels in this process: %d loaded from the cache, %d compiled",
            from_cache,
            compiled,
        )
        return loaded

    def _refuse(self, champion: Champion, exc: ArtifactRefusedError) -> None:
        """Remember the refused promotion (not retried on every poll) and say what is served."""
        self._refused_promotion = champion.promotion_id
        if exc.model_version == champion.model.model_version:
            self.refused = exc
            self._metrics.set_refused(exc, self._expected_h2o)
        kept = self.current.model_version if self.current else None
        log.error("%s; serving model_version %s", exc, kept)
        if exc.reason == "h2o_version":
            # Its own line (and converge_version_mismatch): what log-based alerts match on.
            log.error(
                "version mismatch: champion model_version %s has h2o_version %s, versions.env "
                "H2O_VERSION is %s",
                exc.model_version,
                exc.found,
                self._expected_h2o,
            )

    def _swap(self, loaded: LoadedModel, *, is_champion: bool) -> None:
        # One reference assignment: a batch reads `current` once, so it never sees a mixture.
        self.current = loaded
        self.not_ready_reason = None
        if is_champion:
            self.refused = None
            self._metrics.set_refused(None, self._expected_h2o)
        self._metrics.model_swaps.inc()
        self._metrics.set_model(loaded.model_version, loaded.h2o_version, loaded.algo)
        log.info("serving model_version %s (%s)", loaded.model_version, loaded.algo)
