"""RuleFit's rule features (MojoRuleEnsemble.transformRow): read from model.ini, evaluated at once.

A feature per rule depth and tree (and class, for a multinomial model) takes the GLM level of the
last of that tree's rules whose conditions all hold (MojoRule.map, MojoRuleEnsemble.decode), or
missing if none does or that rule is not a level of the GLM column. All conditions of all rules
are evaluated as a few array operations; a rule fires where all of its conditions hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.mojo.archive import MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_LESS_THAN, _GREATER_OR_EQUAL = 0, 1
_CHUNK = 4096  # rows per pass: bounds the rows x rules matrices


@dataclass(frozen=True)
class _Condition:
    """MojoCondition as written by RuleFitMojoWriter."""

    column: int
    categorical: bool
    operator: int
    threshold: float
    levels: tuple[int, ...]
    nas_included: bool


@dataclass(frozen=True)
class RuleFeatures:
    """Every rule feature of a RuleFit MOJO, compiled into arrays."""

    numeric: tuple[IntArray, FloatArray, IntArray, BoolArray]  # column, threshold, operator, NA
    categorical: tuple[IntArray, BoolArray, BoolArray]  # column, level table, NA
    positions: tuple[IntArray, IntArray]  # where numeric / categorical conditions sit
    rule_starts: IntArray  # each rule's first condition (rules with any conditions)
    conditioned: IntArray  # which rules have conditions (one without always fires)
    n_rules: int
    entry_rules: IntArray  # per feature, in order: the rules that may set it
    entry_levels: FloatArray  # NaN, then the GLM level each entry stands for
    starts: IntArray  # where each feature's entries start (features with any entries)
    filled: IntArray  # which features have entries
    count: int

    @classmethod
    def read(cls, info: MojoInfo, glm_info: MojoInfo) -> RuleFeatures:
        """The rules of every (depth, tree[, class]) feature, in transformRow's order."""
        classes = info.response_domain if info.category == "Multinomial" else None
        conditions: list[_Condition] = []
        rule_conditions: list[list[int]] = []
        features: list[list[tuple[int, float]]] = []
        for depth in range(info.integer("depth")):
            for tree in range(info.integer("ntrees")):
                names = []
                for k in range(info.integer(f"num_rules_M{depth}T{tree}")):
                    rule_id = f"{depth}_{tree}_{k}"
                    names.append((len(rule_conditions), info.text(f"var_name_rule_id_{rule_id}")))
                    count = info.integer(f"num_conditions_rule_id_{rule_id}")
                    first = len(conditions)
                    conditions.extend(_condition(info, f"{c}_{rule_id}") for c in range(count))
                    rule_conditions.append(list(range(first, len(conditions))))
                if classes is None:
                    features.append([(r, _level(glm_info, name, None)) for r, name in names])
                    continue
                for class_index, label in enumerate(classes):
                    # genmodel gives a class every rule whose name ends with the label, in order.
                    chosen = [(r, name) for r, name in names if name.endswith(label)]
                    if not chosen:  # genmodel fails on a class without rules
                        raise UnsupportedMojoError(
                            f"RuleFit tree M{depth}T{tree} without a rule for class '{label}'"
                        )
                    features.append([(r, _level(glm_info, n, class_index)) for r, n in chosen])
        return cls._compile(info, conditions, rule_conditions, features)

    @classmethod
    def _compile(
        cls,
        info: MojoInfo,
        conditions: list[_Condition],
        rule_conditions: list[list[int]],
        features: list[list[tuple[int, float]]],
    ) -> RuleFeatures:
        numeric_at = [i for i, c in enumerate(conditions) if not c.categorical]
        categorical_at = [i for i, c in enumerate(conditions) if c.categorical]
        numeric = [conditions[i] for i in numeric_at]
        categorical = [conditions[i] for i in categorical_at]
        conditioned = [rule for rule, members in enumerate(rule_conditions) if members]
        width = max([len(info.domains[c.column] or []) for c in categorical] + [1])
        tables = np.zeros((len(categorical), width), dtype=bool)
        for row, condition in enumerate(categorical):
            if info.domains[condition.column] is None:
                raise UnsupportedMojoError("RuleFit categorical condition on a numeric column")
            tables[row, [level for level in condition.levels if 0 <= level < width]] = True
        entries = [entry for feature in features for entry in feature]
        sizes = np.array([len(feature) for feature in features], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(
            numeric=(
                np.array([c.column for c in numeric], dtype=np.int64),
                np.array([c.threshold for c in numeric]),
                np.array([c.operator for c in numeric], dtype=np.int64),
                np.array([c.nas_included for c in numeric], dtype=bool),
            ),
            categorical=(
                np.array([c.column for c in categorical], dtype=np.int64),
                tables,
                np.array([c.nas_included for c in categorical], dtype=bool),
            ),
            positions=(
                np.array(numeric_at, dtype=np.int64),
                np.array(categorical_at, dtype=np.int64),
            ),
            rule_starts=np.array([rule_conditions[r][0] for r in conditioned], dtype=np.int64),
            conditioned=np.array(conditioned, dtype=np.int64),
            n_rules=len(rule_conditions),
            entry_rules=np.array([rule for rule, _ in entries], dtype=np.int64),
            entry_levels=np.array([np.nan, *(level for _, level in entries)]),
            starts=starts[sizes > 0],
            filled=np.flatnonzero(sizes > 0),
            count=len(features),
        )

    def values(self, rows: FloatArray) -> FloatArray:
        """transformRow for every row: one column per feature."""
        out = np.full((len(rows), self.count), np.nan)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            fires = np.ones((len(chunk), self.n_rules), dtype=bool)
            if len(self.conditioned):
                # a rule's conditions are consecutive: it fires where all of them hold
                holding = self._holding(chunk)
                fires[:, self.conditioned] = np.logical_and.reduceat(
                    holding, self.rule_starts, axis=1
                )
            # decode keeps the last rule that fires: the largest firing entry position, per feature
            positions = fires[:, self.entry_rules] * np.arange(1.0, len(self.entry_rules) + 1)
            if len(self.filled):
                last = np.maximum.reduceat(positions, self.starts, axis=1).astype(np.int64)
                out[start : start + len(chunk), self.filled] = self.entry_levels[last]
        return out

    def _holding(self, rows: FloatArray) -> BoolArray:
        """MojoCondition.map for every condition (in model.ini order) and row."""
        holding = np.empty((len(rows), len(self.positions[0]) + len(self.positions[1])), bool)
        columns, thresholds, operators, numeric_nas = self.numeric
        value = rows[:, columns]
        test = np.where(
            operators == _LESS_THAN,
            value < thresholds,
            (operators == _GREATER_OR_EQUAL) & (value >= thresholds),
        )
        holding[:, self.positions[0]] = np.where(np.isnan(value), numeric_nas, test)
        columns, tables, categorical_nas = self.categorical
        value = rows[:, columns]
        missing = np.isnan(value)
        levels = np.where(missing, 0, value).astype(np.int64)
        member = tables[np.arange(len(columns)), levels]
        holding[:, self.positions[1]] = np.where(missing, categorical_nas, member)
        return holding


def _condition(info: MojoInfo, condition_id: str) -> _Condition:
    column = info.integer(f"feature_index_{condition_id}")
    if not 0 <= column < info.n_features:
        raise UnsupportedMojoError(f"RuleFit condition on column {column}, outside the row")
    categorical = info.integer(f"type_{condition_id}") == 0
    levels: tuple[int, ...] = ()
    threshold = float("nan")
    if categorical:
        count = info.integer(f"cat_treshold_length_{condition_id}")
        # (sic) RuleFitMojoWriter's keys for the levels reuse the "length" prefix
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
