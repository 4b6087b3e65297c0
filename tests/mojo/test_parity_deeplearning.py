"""DeepLearning MOJOs against genmodel's PredictCsv: every activation, standardisation on and off,
one-hot with and without all factor levels, MeanImputation and Skip, every problem type, the
regression distributions with their links; training rows plus edge rows for each.

One small network per row of `VARIANTS` (not the full cross product: each option is covered at
least once), trained once per module on prostate, iris and the synthetic frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.mojo.parity import ParityCase, check_parity, edge_rows, synthetic_frame

# name: (dataset, estimator parameters, the options column of the scope table)
VARIANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "rectifier-prostate_binomial": ("prostate_binomial", {}, "activation=Rectifier"),
    "tanh-iris_multinomial": ("iris_multinomial", {"activation": "Tanh"}, "activation=Tanh"),
    "rectifier-prostate_regression": (
        "prostate_regression",
        {},
        "activation=Rectifier, standardized response",
    ),
    "tanh-synthetic_binomial": (
        "synthetic_binomial",
        {"activation": "Tanh", "standardize": False},
        "activation=Tanh, standardize=false, 300-level categorical",
    ),
    "rectifier-synthetic_multinomial": (
        "synthetic_multinomial",
        {"use_all_factor_levels": False},
        "activation=Rectifier, use_all_factor_levels=false",
    ),
    "maxout-synthetic_regression": (
        "synthetic_regression",
        {"activation": "Maxout", "missing_values_handling": "Skip"},
        "activation=Maxout, missing_values_handling=Skip",
    ),
    "maxout-iris_multinomial": (
        "iris_multinomial",
        {"activation": "Maxout", "standardize": False},
        "activation=Maxout, standardize=false",
    ),
    "rectifierwithdropout-synthetic_binomial": (
        "synthetic_binomial",
        {
            "activation": "RectifierWithDropout",
            "hidden_dropout_ratios": [0.3, 0.1],
            "input_dropout_ratio": 0.1,
            "missing_values_handling": "Skip",
            "use_all_factor_levels": False,
        },
        "activation=RectifierWithDropout, input_dropout_ratio=0.1, Skip, "
        "use_all_factor_levels=false",
    ),
    "tanhwithdropout-prostate_binomial": (
        "prostate_binomial",
        {"activation": "TanhWithDropout", "hidden_dropout_ratios": [0.2, 0.4]},
        "activation=TanhWithDropout",
    ),
    "maxoutwithdropout-synthetic_multinomial": (
        "synthetic_multinomial",
        {
            "activation": "MaxoutWithDropout",
            "hidden_dropout_ratios": [0.2, 0.2],
            "standardize": False,
        },
        "activation=MaxoutWithDropout, standardize=false",
    ),
    "rectifier-prostate_regression_raw": (
        "prostate_regression",
        {"standardize": False, "use_all_factor_levels": False},
        "activation=Rectifier, standardize=false, use_all_factor_levels=false",
    ),
    "tanh-prostate_poisson": (
        "prostate_regression",
        {"activation": "Tanh", "distribution": "poisson"},
        "distribution=poisson (log link)",
    ),
    "rectifier-synthetic_laplace": (
        "synthetic_regression",
        {"distribution": "laplace"},
        "distribution=laplace",
    ),
}

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
PROSTATE_LEVELS = {"RACE": "1", "DPROS": "2", "DCAPS": "1"}
SYNTHETIC_X = ["x1", "x2", "city", "colour"]
SYNTHETIC_LEVELS = {"city": "city_001", "colour": "red"}


def train_cases(h2o: Any, directory: Path) -> dict[str, ParityCase]:
    """Train every variant in `VARIANTS` on the running cluster and export it as a MOJO."""
    from h2o.estimators import H2ODeepLearningEstimator

    h2o_data = Path(str(h2o.__file__)).parent / "h2o_data"
    prostate_text = pd.read_csv(h2o_data / "prostate.csv", dtype=str)
    prostate = h2o.upload_file(str(h2o_data / "prostate.csv"))
    for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        prostate[column] = prostate[column].asfactor()
    iris_text = pd.read_csv(h2o_data / "iris.csv", dtype=str)
    iris = h2o.upload_file(str(h2o_data / "iris.csv"))
    synthetic = synthetic_frame()
    synthetic_h2o = h2o.H2OFrame(
        synthetic,
        column_types={"city": "enum", "colour": "enum", "y_bin": "enum", "y_multi": "enum"},
    )
    synthetic_text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)
    iris_x = list(iris_text.columns[:4])
    # dataset: (H2O frame, the same rows as text, x, y, categorical edge values, numeric columns)
    datasets: dict[str, tuple[Any, pd.DataFrame, list[str], str, dict[str, str], list[str]]] = {
        "prostate_binomial": (
            prostate,
            prostate_text,
            PROSTATE_X,
            "CAPSULE",
            PROSTATE_LEVELS,
            ["AGE", "PSA", "VOL", "GLEASON"],
        ),
        "prostate_regression": (
            prostate,
            prostate_text,
            [c for c in PROSTATE_X if c != "VOL"],
            "VOL",
            PROSTATE_LEVELS,
            ["AGE", "PSA", "GLEASON"],
        ),
        "iris_multinomial": (iris, iris_text, iris_x, "Species", {}, iris_x),
        "synthetic_binomial": (
            synthetic_h2o,
            synthetic_text,
            SYNTHETIC_X,
            "y_bin",
            SYNTHETIC_LEVELS,
            ["x1", "x2"],
        ),
        "synthetic_multinomial": (
            synthetic_h2o,
            synthetic_text,
            SYNTHETIC_X,
            "y_multi",
            SYNTHETIC_LEVELS,
            ["x1", "x2"],
        ),
        "synthetic_regression": (
            synthetic_h2o,
            synthetic_text,
            SYNTHETIC_X,
            "y_reg",
            SYNTHETIC_LEVELS,
            ["x1", "x2"],
        ),
    }
    scoring_csvs: dict[str, Path] = {}
    cases: dict[str, ParityCase] = {}
    for name, (dataset, parameters, options) in VARIANTS.items():
        frame, text, x, y, levels, numeric = datasets[dataset]
        if dataset not in scoring_csvs:
            columns = [*x, y]
            scoring = pd.concat(
                [text[columns], edge_rows(columns, levels, numeric)], ignore_index=True
            )
            scoring_csvs[dataset] = directory / f"{dataset}.csv"
            scoring.to_csv(scoring_csvs[dataset], index=False)
        model = H2ODeepLearningEstimator(
            hidden=[10, 10], epochs=5, seed=1, reproducible=True, **parameters
        )
        model.train(x=x, y=y, training_frame=frame)
        target = directory / f"deeplearning-{name}.zip"
        Path(model.download_mojo(path=str(directory))).rename(target)
        cases[name] = ParityCase(
            name=f"deeplearning-{name}",
            mojo=target,
            scoring_csv=scoring_csvs[dataset],
            options=options,
        )
    return cases


@pytest.fixture(scope="module")
def deeplearning_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """Every DeepLearning variant, trained once for this module."""
    return train_cases(h2o_cluster, tmp_path_factory.mktemp("deeplearning"))


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(VARIANTS))
def test_matches_genmodel_predict_csv(
    name: str,
    deeplearning_cases: dict[str, ParityCase],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    model = check_parity(deeplearning_cases[name], genmodel_jar, tmp_path)
    assert model.algo == "deeplearning"
