"""Parity with h2o-genmodel: every algorithm x problem type, training rows plus edge rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.mojo import load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.conftest import ParityCase, predict_csv

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
TOLERANCE = 1e-6


def assert_matches_genmodel(expected: pd.DataFrame, actual: pd.DataFrame, classes: bool) -> None:
    """Same columns and labels; numbers within 1e-6, NaN exactly where genmodel has NaN."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:
        if column == "predict" and classes:
            mismatched = np.flatnonzero(actual[column].astype(str) != expected[column].astype(str))
            assert mismatched.size == 0, f"labels differ on rows {mismatched[:10].tolist()}"
            continue
        ours = actual[column].to_numpy(dtype=np.float64)
        theirs = expected[column].to_numpy(dtype=np.float64)
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), f"{column}: NaN pattern differs"
        worst = float(np.nanmax(np.abs(ours - theirs), initial=0.0))
        assert worst <= TOLERANCE, f"{column}: max |difference| {worst:.3g}"


@pytest.mark.h2o
@pytest.mark.parametrize("name", CASES)
def test_matches_genmodel_predict_csv(
    name: str, parity_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = parity_cases[name]
    expected = predict_csv(genmodel_jar, case.mojo, case.scoring_csv, tmp_path / "genmodel.csv")
    model = load_mojo(case.mojo)
    assert isinstance(model, MojoModel)
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    actual = model.predict(scoring)
    assert_matches_genmodel(expected, actual, classes=model.classes is not None)
    # serving's path without pandas: the same rows as mappings, and with blank cells left out.
    rows = [{str(key): v for key, v in row.items()} for row in scoring.to_dict(orient="records")]
    for given in (rows, [{key: v for key, v in row.items() if v != ""} for row in rows]):
        from_rows = pd.DataFrame(model.predict_rows(given), columns=model.output_columns)
        assert_matches_genmodel(expected, from_rows, classes=model.classes is not None)
    assert model.algo == name.split("-")[0]
    assert model.h2o_version == "3.46.0.11"
    # The edge rows really reached the model: all-missing and unseen-level rows are included.
    assert len(actual) == len(scoring)


@pytest.mark.h2o
def test_high_cardinality_split_uses_a_bitset_over_32_levels(
    parity_cases: dict[str, ParityCase],
) -> None:
    """The synthetic GBM must exercise the long-bitset node form, or parity proves less."""
    import zipfile

    from shared.mojo.archive import MojoArchive
    from shared.mojo.tree_models import read_forest

    with zipfile.ZipFile(parity_cases["gbm-synthetic_binomial"].mojo) as bundle:
        archive = MojoArchive(bundle)
        forest = read_forest(archive, archive.model_info())
    assert (forest.bits_count > 32).any()
