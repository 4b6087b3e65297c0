"""StackedEnsemble: nested base models scored on their own columns, fed to a GLM metalearner."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, Scorer, check_common, n_classes

ENSEMBLE_MOJO_VERSIONS = ("1.00", "1.01")

ScorerFactory = Callable[[MojoArchive, MojoInfo], Scorer]


class _BaseModel:
    def __init__(self, scorer: Scorer, columns: list[int]) -> None:
        self.scorer = scorer
        self.columns = columns


class EnsembleScorer:
    """hex.genmodel.algos.ensemble.StackedEnsembleMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo, make_scorer: ScorerFactory) -> None:
        check_common(info, ENSEMBLE_MOJO_VERSIONS)
        transform = info.info.get("metalearner_transform", "NONE")
        if transform != "NONE":
            raise UnsupportedMojoError(f"metalearner_transform '{transform}'")
        self._n_classes = n_classes(info)
        directories = {
            info.text(f"submodel_key_{i}"): info.text(f"submodel_dir_{i}")
            for i in range(info.integer("submodel_count"))
        }
        names = info.feature_names
        self._bases: list[_BaseModel | None] = []
        for i in range(info.integer("base_models_num")):
            key = info.info.get(f"base_model{i}", "")
            if key not in directories:  # a base model the metalearner dropped
                self._bases.append(None)
                continue
            nested = archive.nested(directories[key])
            base_info = nested.model_info()
            _check_unencoded(base_info, key)
            if base_info.offset_column is not None:
                # Base models are handed the ensemble's feature columns only.
                raise UnsupportedMojoError(f"base model {key} with an offset column")
            _check_same_levels(info, base_info, key)
            columns = [names.index(name) for name in base_info.feature_names]
            self._bases.append(_BaseModel(make_scorer(nested, base_info), columns))
        meta = archive.nested(directories[info.text("metalearner")])
        meta_info = meta.model_info()
        if meta_info.algo != "glm":
            raise UnsupportedMojoError(f"a '{meta_info.algo}' metalearner (supported: glm)")
        if meta_info.offset_column is not None:
            raise UnsupportedMojoError("a metalearner with an offset column")
        self._metalearner = make_scorer(meta, meta_info)

    def score(self, rows: FloatArray) -> FloatArray:
        """StackedEnsembleMojoModel.score0 for every row."""
        per_model = self._n_classes if self._n_classes > 2 else 1
        stacked = np.zeros((len(rows), len(self._bases) * per_model))
        position = 0
        for base in self._bases:
            if base is None:
                # genmodel leaves a zero slot for a dropped binomial/regression base model but
                # packs the next multinomial model's probabilities into the dropped one's place.
                position += 1 if per_model == 1 else 0
                continue
            preds = base.scorer.score(rows[:, base.columns])
            if self._n_classes > 2:
                values = preds[:, 1:]
            elif self._n_classes == 2:
                values = preds[:, 2:3]
            else:
                values = preds[:, :1]
            stacked[:, position : position + per_model] = values
            position += per_model
        return self._metalearner.score(stacked)


def _check_unencoded(base_info: MojoInfo, key: str) -> None:
    # genmodel hands a base model the ensemble's row as it is, never through the base model's
    # categorical encoding: a base model trained on encoded columns is refused.
    encoding = base_info.info.get("_genmodel_encoding", "AUTO")
    if encoding not in ("AUTO", "Enum", "SortByResponse"):
        raise UnsupportedMojoError(f"base model {key} with categorical_encoding '{encoding}'")


def _check_same_levels(info: MojoInfo, base_info: MojoInfo, key: str) -> None:
    levels = dict(zip(info.feature_names, info.feature_domains, strict=True))
    for name, domain in zip(base_info.feature_names, base_info.feature_domains, strict=True):
        if name not in levels:
            raise UnsupportedMojoError(f"base model {key} reads column '{name}' the ensemble lacks")
        if levels[name] != domain:
            raise UnsupportedMojoError(f"base model {key} has other levels for column '{name}'")
