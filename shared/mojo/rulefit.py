"""RuleFit: rules from trees become categorical features of a nested GLM MOJO, as genmodel does it.

For every rule depth and tree (and class, for a multinomial model) genmodel
(hex.genmodel.algos.rulefit) evaluates that tree's rules on the raw row; the feature's value is
the level of the last rule that fires in the GLM's domain for that column (missing if none fires,
or if that rule is not a level). RULES_AND_LINEAR appends the raw row; LINEAR is the raw row alone.
The values are then placed into the GLM's columns by `linear_names` and the GLM scores them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, Scorer, check_common

RULEFIT_MOJO_VERSIONS = ("1.00",)
LINEAR, RULES_AND_LINEAR, RULES = 0, 1, 2
_LESS_THAN, _GREATER_OR_EQUAL = 0, 1

ScorerFactory = Callable[[MojoArchive, MojoInfo], Scorer]


@dataclass(frozen=True)
class _Condition:
    """MojoCondition: one test on one input column."""

    column: int
    categorical: bool
    operator: int
    threshold: float
    levels: tuple[int, ...]
    nas_included: bool

    def holds(self, rows: FloatArray) -> np.ndarray:
        """MojoCondition.map for every row."""
        value = rows[:, self.column]
        if self.categorical:
            test = np.isin(value, self.levels)
        elif self.operator == _LESS_THAN:
            test = value < self.threshold
        elif self.operator == _GREATER_OR_EQUAL:
            test = value >= self.threshold
        else:  # a numeric "In" never holds
            test = np.zeros(len(rows), dtype=bool)
        return np.where(np.isnan(value), self.nas_included, test)


@dataclass(frozen=True)
class _Rule:
    """MojoRule: its conditions and the GLM level it stands for (NaN if not a level)."""

    conditions: tuple[_Condition, ...]
    level: float

    def fires(self, rows: FloatArray) -> np.ndarray:
        """True where every condition holds."""
        fired = np.ones(len(rows), dtype=bool)
        for condition in self.conditions:
            fired &= condition.holds(rows)
        return fired


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
        self._slots = [] if self._model_type == LINEAR else _read_slots(info, glm_info)
        size = len(self._slots) + (0 if self._model_type == RULES else info.n_features)
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
        parts = [_slot_values(rules, rows) for rules in self._slots]
        if self._model_type != RULES:
            parts.extend(rows.T)
        glm_rows = np.empty((len(rows), self._n_glm))
        for position, target in enumerate(self._targets):
            glm_rows[:, target] = parts[position]
        return self._glm.score(glm_rows)


def _slot_values(rules: list[_Rule], rows: FloatArray) -> FloatArray:
    """MojoRuleEnsemble.decode: the level of the last rule that fires, NaN if none does."""
    values = np.full(len(rows), np.nan)
    for rule in rules:
        values = np.where(rule.fires(rows), rule.level, values)
    return values


def _read_slots(info: MojoInfo, glm_info: MojoInfo) -> list[list[_Rule]]:
    """The rules of every (depth, tree[, class]) feature, in MojoRuleEnsemble.transformRow order."""
    classes = info.response_domain if info.category == "Multinomial" else None
    slots = []
    for depth in range(info.integer("depth")):
        for tree in range(info.integer("ntrees")):
            rules = [
                _read_rule(info, f"{depth}_{tree}_{k}")
                for k in range(info.integer(f"num_rules_M{depth}T{tree}"))
            ]
            if classes is None:
                slots.append([_Rule(c, _level(glm_info, name, None)) for name, c in rules])
                continue
            for class_index, label in enumerate(classes):
                # genmodel gives a class every rule whose name ends with the label, in order.
                chosen = [(name, c) for name, c in rules if name.endswith(label)]
                if not chosen:  # genmodel fails on a class without rules
                    raise UnsupportedMojoError(f"RuleFit tree M{depth}T{tree} without '{label}'")
                slots.append([_Rule(c, _level(glm_info, name, class_index)) for name, c in chosen])
    return slots


def _read_rule(info: MojoInfo, rule_id: str) -> tuple[str, tuple[_Condition, ...]]:
    conditions = tuple(
        _read_condition(info, f"{c}_{rule_id}")
        for c in range(info.integer(f"num_conditions_rule_id_{rule_id}"))
    )
    return info.text(f"var_name_rule_id_{rule_id}"), conditions


def _read_condition(info: MojoInfo, condition_id: str) -> _Condition:
    column = info.integer(f"feature_index_{condition_id}")
    if not 0 <= column < info.n_features:
        raise UnsupportedMojoError(f"RuleFit condition on column {column}, outside the row")
    categorical = info.integer(f"type_{condition_id}") == 0
    levels: tuple[int, ...] = ()
    threshold = float("nan")
    if categorical:
        count = info.integer(f"cat_treshold_length_{condition_id}")
        # (sic) genmodel's keys for the levels reuse the "length" prefix
        levels = tuple(
            info.integer(f"cat_treshold_length_{i}_{condition_id}") for i in range(count)
        )
    else:
        threshold = info.number(f"num_treshold{condition_id}")
    return _Condition(
        column=column,
        categorical=categorical,
        operator=info.integer(f"operator_{condition_id}"),
        threshold=threshold,
        levels=levels,
        nas_included=info.flag(f"nas_included_{condition_id}"),
    )


def _level(glm_info: MojoInfo, name: str, class_index: int | None) -> float:
    """getValueByVarName: the rule's level in its GLM column (NaN when not a level there)."""
    column = name[: name.index("N")] + ("" if class_index is None else f"C{class_index}")
    if column not in glm_info.columns:
        raise UnsupportedMojoError(f"RuleFit rule {name} whose GLM column {column} is absent")
    domain = glm_info.domains[glm_info.columns.index(column)]
    if domain is None:
        raise UnsupportedMojoError(f"RuleFit rule column {column} is not categorical")
    return float(domain.index(name)) if name in domain else float("nan")
