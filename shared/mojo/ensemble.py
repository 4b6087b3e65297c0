"""StackedEnsemble: nested base models scored on their own columns, fed to a metalearner."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, Scorer, check_common, n_classes

ENSEMBLE_MOJO_VERSIONS = ("1.00", "1.01")
TRANSFORMS = ("NONE", "Logit")
# genmodel clips base probabilities to [1e-9, 1 - 1e-9] and log-odds from below at -19.
_CLIP = 1e-9
_LOGIT_FLOOR = -19.0

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
        if transform not in TRANSFORMS:
            raise UnsupportedMojoError(
                f"metalearner_transform '{transform}' (supported: {', '.join(TRANSFORMS)})"
            )
        self._n_classes = n_classes(info)
        # genmodel applies the transform to classifiers' probabilities only.
        self._logit = transform == "Logit" and self._n_classes > 1
        directories = {
            info.text(f"submodel_key_{i}"): info.text(f"submodel_dir_{i}")
            for i in range(info.integer("submodel_count"))
        }
        names = info.feature_names
        self._bases: list[_BaseModel | None] = []
        for i in range(info.integer("base_models_num")):
            key = info.info.get(f"base_model{i}")
            if key is None:  # a base model the metalearner does not use: not exported
                self._bases.append(None)
                continue
            if key not in directories:
                raise UnsupportedMojoError(f"base model {key} is not in the MOJO")
            nested = archive.nested(directories[key])
            base_info = nested.model_info()
            _check_unencoded(base_info, key)
            if base_info.offset_column is not None:
                # Base models are handed the ensemble's feature columns only.
                raise UnsupportedMojoError(f"base model {key} with an offset column")
            _check_same_levels(info, base_info, key)
            columns = [names.index(name) for name in base_info.feature_names]
            scorer = _nested_scorer(make_scorer, nested, base_info, f"base model {key}")
            self._bases.append(_BaseModel(scorer, columns))
        meta = archive.nested(directories[info.text("metalearner")])
        meta_info = meta.model_info()
        if meta_info.offset_column is not None:
            raise UnsupportedMojoError("a metalearner with an offset column")
        self._metalearner = _nested_scorer(make_scorer, meta, meta_info, "metalearner")
        per_model = self._n_classes if self._n_classes > 2 else 1
        if meta_info.n_features > len(self._bases) * per_model:
            raise UnsupportedMojoError(
                f"a metalearner reading {meta_info.n_features} columns from "
                f"{len(self._bases)} base models"
            )

    def score(self, rows: FloatArray) -> FloatArray:
        """StackedEnsembleMojoModel.score0 for every row."""
        per_model = self._n_classes if self._n_classes > 2 else 1
        stacked = np.zeros((len(rows), len(self._bases) * per_model))
        for i, base in enumerate(self._bases):
            if base is None:  # its slot stays 0 (before the transform), as in genmodel
                continue
            preds = base.scorer.score(rows[:, base.columns])
            if self._n_classes > 2:
                values = preds[:, 1:]
            elif self._n_classes == 2:
                values = preds[:, 2:3]
            else:
                values = preds[:, :1]
            stacked[:, i * per_model : (i + 1) * per_model] = values
        if self._logit:
            stacked = _logit(stacked)
        # The metalearner gets every slot, as genmodel passes it the whole array: its own columns
        # come first, and a multinomial tie is broken with a hash over all of them.
        return self._metalearner.score(stacked)


def _check_unencoded(base_info: MojoInfo, key: str) -> None:
    # genmodel hands a base model the ensemble's row as it is, never through the base model's
    # categorical encoding: a base model trained on encoded columns is refused.
    encoding = base_info.info.get("_genmodel_encoding", "AUTO")
    if encoding not in ("AUTO", "Enum", "SortByResponse"):
        raise UnsupportedMojoError(f"base model {key} with categorical_encoding '{encoding}'")


def _logit(probabilities: FloatArray) -> FloatArray:
    """StackedEnsembleMojoModel.logitTransformRow: clipped log-odds (NaN stays NaN)."""
    clipped = np.minimum(1.0 - _CLIP, np.maximum(probabilities, _CLIP))
    # After clipping the odds are > 0, so genmodel's "odds == 0 gives -19" branch never applies.
    result: FloatArray = np.maximum(_LOGIT_FLOOR, np.log(clipped / (1.0 - clipped)))
    return result


def _nested_scorer(
    make_scorer: ScorerFactory, archive: MojoArchive, info: MojoInfo, role: str
) -> Scorer:
    """The scorer of a nested model; a refusal says which member of the ensemble it is."""
    try:
        return make_scorer(archive, info)
    except UnsupportedMojoError as error:
        raise UnsupportedMojoError(f"{role} ({info.algo}): {error}") from error


def _check_same_levels(info: MojoInfo, base_info: MojoInfo, key: str) -> None:
    levels = dict(zip(info.feature_names, info.feature_domains, strict=True))
    for name, domain in zip(base_info.feature_names, base_info.feature_domains, strict=True):
        if name not in levels:
            raise UnsupportedMojoError(f"base model {key} reads column '{name}' the ensemble lacks")
        if levels[name] != domain:
            raise UnsupportedMojoError(f"base model {key} has other levels for column '{name}'")
