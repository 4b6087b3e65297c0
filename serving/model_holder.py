"""The champion being served: load and verify it, swap it atomically, follow promotions.

Promotions arrive by LISTEN on CHAMPION_CHANNEL; polling every `poll_interval_s` is the safety net
for a dropped connection or a missed notification. A new champion that fails verification is
refused (metric + log) and the previous one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import psycopg

from serving.metrics import ServingMetrics
from serving.scoring import LoadedModel, score_rows
from shared.artifacts import ArtifactIntegrityError, open_artifact_store
from shared.mojo import MojoModel, UnsupportedMojoError, load_mojo
from shared.registry import CHAMPION_CHANNEL, Champion, current_champion_async

log = logging.getLogger(__name__)


class ModelRefusedError(Exception):
    """A champion's artifact failed verification and will not be served."""

    def __init__(self, model_version: int, reason: str, message: str) -> None:
        super().__init__(f"model_version {model_version} refused: {message}")
        self.model_version = model_version
        self.reason = reason


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

    async def start(self) -> None:
        """Load the current champion; a refused champion stops start-up with the reason."""
        champion = await self._fetch_champion()
        if champion is None:
            self.not_ready_reason = "no champion is registered in the model registry"
            log.warning("serving starts without a model: %s", self.not_ready_reason)
            return
        self._swap(await self._load(champion))

    async def refresh(self, conn: psycopg.AsyncConnection[Any] | None = None) -> None:
        """Swap in the registry's champion if it changed; refuse (and keep the old) if it fails."""
        async with self._refresh_lock:
            champion = await self._fetch_champion(conn)
            if (
                champion is None
                or champion.promotion_id == self._refused_promotion
                or (
                    self.current is not None
                    and self.current.model_version == champion.model.model_version
                )
            ):
                return
            try:
                loaded = await self._load(champion)
            except ModelRefusedError as exc:
                self._refused_promotion = champion.promotion_id
                kept = self.current.model_version if self.current else None
                log.error("%s; still serving model_version %s", exc, kept)
                return
            self._swap(loaded)

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
        except ModelRefusedError as exc:
            self._metrics.model_refusals.labels(exc.reason).inc()
            raise

    def _load_blocking(self, champion: Champion) -> LoadedModel:
        """Fetch, verify sha256 and h2o_version, and parse the MOJO (blocking: run in a thread)."""
        record = champion.model
        version = record.model_version
        if record.h2o_version != self._expected_h2o:
            raise ModelRefusedError(
                version,
                "h2o_version",
                f"registered h2o_version {record.h2o_version} differs from versions.env "
                f"H2O_VERSION {self._expected_h2o}",
            )
        dest = self._cache_dir / str(version)
        dest.mkdir(parents=True, exist_ok=True)
        store = open_artifact_store(self._store_uri)
        try:
            path = store.fetch_verified(record.artifact_uri, record.artifact_sha256, dest)
        except ArtifactIntegrityError as exc:
            raise ModelRefusedError(version, "sha256", str(exc)) from exc
        try:
            mojo = load_mojo(path)
        except UnsupportedMojoError as exc:
            raise ModelRefusedError(version, "unsupported", str(exc)) from exc
        if not isinstance(mojo, MojoModel):
            raise ModelRefusedError(
                version, "unsupported", "a Driverless AI pipeline; serving scores H2O-3 MOJOs"
            )
        if mojo.h2o_version != self._expected_h2o:
            raise ModelRefusedError(
                version,
                "h2o_version",
                f"MOJO was written by h2o {mojo.h2o_version}, versions.env pins "
                f"H2O_VERSION {self._expected_h2o}",
            )
        loaded = LoadedModel(version, record.h2o_version, record.algo, record.artifact_sha256, mojo)
        # Score one all-missing row through the request path now: first use compiles kernels and
        # imports lazily, which holds the GIL and would stall the event loop under live requests.
        score_rows(loaded, [{}])
        return loaded

    def _swap(self, loaded: LoadedModel) -> None:
        # One reference assignment: a batch reads `current` once, so it never sees a mixture.
        self.current = loaded
        self.not_ready_reason = None
        self._metrics.model_swaps.inc()
        self._metrics.set_model(loaded.model_version, loaded.h2o_version, loaded.algo)
        log.info("serving model_version %s (%s)", loaded.model_version, loaded.algo)
