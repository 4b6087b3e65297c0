"""DeepLearning MOJOs against genmodel's PredictCsv: every activation, standardisation on and off,
one-hot with and without all factor levels, MeanImputation and Skip, every problem type, the
regression distributions with their links; training rows plus edge rows for each.

One small network per row of `VARIANTS` (not the full cross product: each option is covered at
least once), trained once per module on prostate, iris and the synthetic frame.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared.mojo import MojoInputError, UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.datasets import PROSTATE_X, load_datasets
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import ParityCase, check_against_genmodel, predict_csv

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
    "rectifier-prostate_tweedie": (
        "prostate_regression",
        {"distribution": "tweedie"},
        "distribution=tweedie (log link)",
    ),
    "tanh-synthetic_huber": (
        "synthetic_regression",
        {"activation": "Tanh", "distribution": "huber"},
        "distribution=huber",
    ),
    "maxout-prostate_quantile": (
        "prostate_regression",
        {"activation": "Maxout", "distribution": "quantile"},
        "distribution=quantile",
    ),
}

AUTOENCODER = "autoencoder-prostate"


def train_cases(h2o: Any, directory: Path) -> dict[str, ParityCase]:
    """Train every variant in `VARIANTS` on the running cluster and export it as a MOJO."""
    from h2o.estimators import H2ODeepLearningEstimator

    datasets = load_datasets(h2o)
    cases: dict[str, ParityCase] = {}
    for name, (dataset, parameters, options) in VARIANTS.items():
        data = datasets[dataset]
        model = H2ODeepLearningEstimator(hidden=[10, 10], epochs=2, seed=1, **parameters)
        model.train(x=data.x, y=data.y, training_frame=data.frame)
        cases[name] = ParityCase(
            name=f"deeplearning-{name}",
            mojo=_export(model, directory, name),
            scoring_csv=data.scoring_csv(directory),
            options=options,
        )
    autoencoder = H2ODeepLearningEstimator(hidden=[3], epochs=1, seed=1, autoencoder=True)
    prostate = datasets["prostate_binomial"]
    autoencoder.train(x=PROSTATE_X, training_frame=prostate.frame)
    cases[AUTOENCODER] = ParityCase(
        AUTOENCODER, _export(autoencoder, directory, AUTOENCODER), prostate.scoring_csv(directory)
    )
    return cases


def _export(model: Any, directory: Path, name: str) -> Path:
    target = directory / f"deeplearning-{name}.zip"
    Path(model.download_mojo(path=str(directory))).rename(target)
    return target


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
    model = check_against_genmodel(deeplearning_cases[name], genmodel_jar, tmp_path)
    assert model.algo == "deeplearning"


# (case to start from, model.ini key, new value, text the error must contain)
REFUSED_EDITS = [
    ("rectifier-prostate_binomial", "mojo_version", "1.20", "mojo_version 1.20"),
    ("rectifier-prostate_binomial", "activation", "ExpRectifier", "activation 'ExpRectifier'"),
    ("rectifier-prostate_binomial", "distribution", "modified_huber", "'modified_huber'"),
    ("rectifier-prostate_binomial", "distribution", "quasibinomial", "'quasibinomial'"),
    ("rectifier-prostate_regression", "distribution", "custom", "distribution 'custom'"),
    ("rectifier-prostate_regression", "distribution", "ordinal", "distribution 'ordinal'"),
    ("rectifier-prostate_binomial", "_genmodel_encoding", "Enum", "categorical_encoding 'Enum'"),
    ("rectifier-prostate_binomial", "nums", "5", "do not fit"),
    ("rectifier-prostate_binomial", "neural_network_sizes", "[16, 10, 10, 3]", "20 weights"),
    ("maxout-iris_multinomial", "bias_layer0", str([0.5] * 30), "Maxout with 3 channels"),
]


@pytest.mark.h2o
@pytest.mark.parametrize(("case", "key", "value", "named"), REFUSED_EDITS)
def test_refuses_what_it_cannot_honour(
    case: str,
    key: str,
    value: str,
    named: str,
    deeplearning_cases: dict[str, ParityCase],
    tmp_path: Path,
) -> None:
    source = deeplearning_cases[case].mojo
    edited = rewrite_mojo(
        source, tmp_path / "edited.zip", lambda _, text: set_info(text, key, value)
    )
    load_mojo(source)  # the unedited model loads, so the edit is what is refused
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


@pytest.mark.h2o
def test_refuses_an_autoencoder(deeplearning_cases: dict[str, ParityCase]) -> None:
    with pytest.raises(UnsupportedMojoError, match="autoencoder=true"):
        load_mojo(deeplearning_cases[AUTOENCODER].mojo)


@pytest.mark.h2o
@pytest.mark.parametrize("case", ["rectifier-prostate_binomial", "tanh-prostate_poisson"])
def test_rows_that_overflow_to_nan_fail_as_in_genmodel(
    case: str, deeplearning_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    """Infinite inputs give inf - inf inside the network: genmodel throws, so does the runtime."""
    row = {"AGE": "Infinity", "RACE": "1", "DPROS": "2", "DCAPS": "1", "PSA": "-Infinity"}
    scoring = tmp_path / "infinite.csv"
    pd.DataFrame([row]).to_csv(scoring, index=False)
    mojo = deeplearning_cases[case].mojo
    with pytest.raises(subprocess.CalledProcessError):
        predict_csv(genmodel_jar, mojo, scoring, tmp_path / "out.csv")
    model = load_mojo(mojo)
    assert isinstance(model, MojoModel)
    with pytest.raises(MojoInputError, match="NaN"):
        model.predict_rows([row])
