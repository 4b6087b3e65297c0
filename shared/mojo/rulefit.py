"""RuleFit: rules from trees become categorical features of a nested GLM MOJO, as genmodel does it.

For every rule depth and tree (and class, for a multinomial model) genmodel
(hex.genmodel.algos.rulefit) evaluates that tree's rules on the raw row; the feature's value is
the level of the last rule that fires in the GLM's domain for that column (missing if none fires,
or if that rule is not a level). RULES_AND_LINEAR appends the raw row; LINEAR is the raw row alone.
The values are then placed into the GLM's columns by `linear_names` and the GLM scores them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.rulefit_rules import RuleFeatures
from shared.mojo.scorer import FloatArray, Scorer, check_common

RULEFIT_MOJO_VERSIONS = ("1.00",)
LINEAR, RULES_AND_LINEAR, RULES = 0, 1, 2

ScorerFactory = Callable[[MojoArchive, MojoInfo], Scorer]


class RuleFitScorer:
    """hex.genmodel.algos.rulefit.RuleFitMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo, make_scorer: ScorerFactory) -> None:
        check_common(info, RULEFIT_MOJO_VERSIONS)
        if "weights_column" in info.info:
            raise UnsupportedMojoError("RuleFit with a weights column")
        self._model_type = info.integer("model_type")
        directories = {
            info.text(f"submodel_key_{i}"): info.text(f"submodel_dir_{i}")
            for i in range(info.integer("submodel_count"))
        }
        nested = archive.nested(directories[info.text("linear_model")])
        glm_info = nested.model_info()
        if glm_info.algo != "glm":
            raise UnsupportedMojoError(f"RuleFit with a '{glm_info.algo}' linear model")
        self._glm = make_scorer(nested, glm_info)
        self._n_glm = glm_info.n_features
        self._rules = None if self._model_type == LINEAR else RuleFeatures.read(info, glm_info)
        size = (self._rules.count if self._rules else 0) + (
            0 if self._model_type == RULES else info.n_features
        )
        linear_names = [
            info.text(f"linear_names_{i}") for i in range(info.integer("linear_names_len"))
        ]
        if len(linear_names) < self._n_glm or size < self._n_glm:
            raise UnsupportedMojoError("RuleFit whose linear model reads more columns than exist")
        # RuleFitMojoModel.map: input position i goes to the GLM column named linear_names[i].
        self._targets = []
        for name in linear_names[: self._n_glm]:
            if name not in glm_info.feature_names:
                raise UnsupportedMojoError(f"RuleFit linear model without column '{name}'")
            self._targets.append(glm_info.feature_names.index(name))

    def score(self, rows: FloatArray) -> FloatArray:
        """RuleFitMojoModel.score0 for every row."""
        parts = [] if self._rules is None else [self._rules.values(rows)]
        if self._model_type != RULES:
            parts.append(rows)
        test = np.concatenate(parts, axis=1)
        glm_rows = np.zeros((len(rows), self._n_glm))  # map() starts from a zeroed row
        glm_rows[:, self._targets] = test[:, : self._n_glm]
        return self._glm.score(glm_rows)
