"""Predictions for entities or inline features: resolve features, then score them in a batch.

Shared by the REST route and the GraphQL API so both answer the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from serving.batcher import MicroBatcher
from serving.features import FeatureLookup, Features, FeatureSource, ResolvedFeatures
from serving.model_holder import ModelHolder
from serving.scoring import LoadedModel, Prediction, Scored, score_rows


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
        self._batcher: MicroBatcher[Features, Scored] = MicroBatcher(
            self.score_batch, executor, max_wait_s=max_wait_s, max_size=max_size, on_batch=on_batch
        )

    def score_batch(self, rows: list[Features]) -> list[Scored]:
        """The batcher's scoring function: one champion for the whole batch (runs in a thread)."""
        model: LoadedModel | None = self._holder.current  # read once: a swap cannot split a batch
        if model is None:
            raise NoChampionError(self.not_ready_reason)
        return score_rows(model, rows)

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
        resolved = await self._lookup.resolve(entity_ids)
        subjects = [resolved[entity_id] for entity_id in entity_ids]
        scored = await self._batcher.submit([subject.features for subject in subjects])
        return [
            _entity_prediction(entity_id, subject, result)
            for entity_id, subject, result in zip(entity_ids, subjects, scored, strict=True)
        ]

    async def predict_features(self, features: Features) -> EntityPrediction:
        """The prediction for one inline feature vector."""
        self._require_model()
        [result] = await self._batcher.submit([features])
        return _entity_prediction(None, ResolvedFeatures(features, FeatureSource.INLINE), result)

    async def drain(self) -> None:
        """Finish the batches in flight (at shutdown)."""
        await self._batcher.drain()


def _entity_prediction(
    entity_id: str | None, subject: ResolvedFeatures, result: Scored
) -> EntityPrediction:
    return EntityPrediction(
        entity_id=entity_id,
        source=subject.source,
        degraded=subject.degraded,
        model_version=result.model_version,
        prediction=result.prediction,
    )
