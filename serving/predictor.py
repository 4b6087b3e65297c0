"""Predictions for entities or inline features: resolve features, then score them in a batch.

Shared by the REST route and the GraphQL API so both answer the same way. Concurrent requests share
a micro-batch end to end: one feature lookup (Redis MGET, then one SQL statement for the misses)
and one scoring call for all of their rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from serving.batcher import MicroBatcher
from serving.features import FeatureLookup, Features, FeatureSource, ResolvedFeatures
from serving.model_holder import ModelHolder
from serving.scoring import LoadedModel, Prediction, score_rows
from shared.mojo import MojoInputError


class NoChampionError(Exception):
    """No model is being served; the message says why."""


@dataclass(frozen=True)
class EntityPrediction:
    """One scored subject: its entity (None for inline features), source, and prediction."""

    entity_id: str | None
    source: FeatureSource
    degraded: bool
    model_version: int
    prediction: Prediction


T = TypeVar("T")

# What a row is scored for: an entity id (features looked up) or inline features.
_Subject = str | Features


@dataclass(frozen=True)
class _Resolved:
    entity_id: str | None
    resolved: ResolvedFeatures


class Predictor:
    """Resolves features and scores them with the current champion through the micro-batcher."""

    def __init__(
        self,
        holder: ModelHolder,
        lookup: FeatureLookup,
        executor: Executor,
        *,
        max_wait_s: float,
        max_size: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._holder = holder
        self._lookup = lookup
        self._executor = executor
        self._batcher: MicroBatcher[_Subject, _Resolved, EntityPrediction] = MicroBatcher(
            self._score_batch,
            executor,
            prepare=self._resolve_batch,
            max_wait_s=max_wait_s,
            max_size=max_size,
            on_batch=on_batch,
        )

    async def _resolve_batch(self, subjects: list[_Subject]) -> list[_Resolved]:
        """Features of a whole batch: one lookup for every entity of every request in it."""
        entity_ids = [subject for subject in subjects if isinstance(subject, str)]
        found = await self._lookup.resolve(entity_ids) if entity_ids else {}
        return [
            _Resolved(subject, found[subject])
            if isinstance(subject, str)
            else _Resolved(None, ResolvedFeatures(subject, FeatureSource.INLINE))
            for subject in subjects
        ]

    def _score_batch(self, rows: list[_Resolved]) -> list[EntityPrediction]:
        """One champion for the whole batch (runs in a thread)."""
        model: LoadedModel | None = self._holder.current  # read once: a swap cannot split a batch
        if model is None:
            raise NoChampionError(self.not_ready_reason)
        scored = score_rows(model, [row.resolved.features for row in rows])
        return [
            EntityPrediction(
                entity_id=row.entity_id,
                source=row.resolved.source,
                degraded=row.resolved.degraded,
                model_version=result.model_version,
                prediction=result.prediction,
            )
            for row, result in zip(rows, scored, strict=True)
        ]

    @property
    def not_ready_reason(self) -> str:
        """Why there is no model to score with."""
        return self._holder.not_ready_reason or "no champion loaded"

    def _require_model(self) -> None:
        if self._holder.current is None:
            raise NoChampionError(self.not_ready_reason)

    async def predict_entities(self, entity_ids: Sequence[str]) -> list[EntityPrediction]:
        """Predictions for `entity_ids`, in order, with each entity's feature source."""
        self._require_model()
        return await self._batcher.submit(entity_ids)

    async def predict_features(self, features: Features) -> EntityPrediction:
        """The prediction for one inline feature vector naming at least one model column."""
        self._require_model()
        model = self._holder.current
        assert model is not None
        if not any(name in features for name in model.mojo.columns):
            # Every model column would be missing: a plausible number for a request that named
            # none of what the model reads (a typo, another model's features) helps nobody.
            given = ", ".join(sorted(features)[:10]) or "none"
            raise MojoInputError(
                f"no key of `features` is a column of champion model_version "
                f"{model.model_version} (given: {given}; it reads: {', '.join(model.mojo.columns)})"
            )
        [result] = await self._batcher.submit([features])
        return result

    async def on_champion(self, work: Callable[[LoadedModel], T]) -> T:
        """`work(champion)` in the scoring pool, in one call: a large batch skips the batcher."""
        model = self._holder.current  # read once: a swap cannot split the batch
        if model is None:
            raise NoChampionError(self.not_ready_reason)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, model)

    async def drain(self) -> None:
        """Finish the batches in flight (at shutdown)."""
        await self._batcher.drain()
