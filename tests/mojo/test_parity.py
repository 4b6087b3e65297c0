"""Parity with h2o-genmodel: every algorithm x problem type, training rows plus edge rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mojo.parity import ParityCase, check_against_genmodel

ALGOS = ("gbm", "drf", "xgboost", "glm")
DATASETS = (
    "prostate_binomial",
    "prostate_regression",
    "iris_multinomial",
    "synthetic_binomial",
    "synthetic_multinomial",
    "synthetic_regression",
)
CASES = [f"{algo}-{dataset}" for algo in ALGOS for dataset in DATASETS] + [
    "stackedensemble-prostate_binomial",
    "stackedensemble-iris_multinomial",
    "stackedensemble-synthetic_regression",
]


@pytest.mark.h2o
@pytest.mark.parametrize("name", CASES)
def test_matches_genmodel_predict_csv(
    name: str, parity_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(parity_cases[name], genmodel_jar, tmp_path)
    assert model.algo == name.split("-")[0]


@pytest.mark.h2o
def test_high_cardinality_split_uses_a_bitset_over_32_levels(
    parity_cases: dict[str, ParityCase],
) -> None:
    """The synthetic GBM must exercise the long-bitset node form, or parity proves less."""
    import zipfile

    from shared.mojo.archive import MojoArchive
    from shared.mojo.tree_models import decode_trees

    with zipfile.ZipFile(parity_cases["gbm-synthetic_binomial"].mojo) as bundle:
        archive = MojoArchive(bundle)
        builder = decode_trees(archive, archive.model_info())
    counts = [rule.bitset.count for rule in builder.rules if rule and rule.bitset]
    assert max(counts) > 32
