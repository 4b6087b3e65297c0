"""XGBoost beyond gbtree: dart and gblinear boosters, multinomial, and one_hot_explicit encoding.

Each model is small (few trees, shallow) and scored by genmodel's PredictCsv and by the runtime on
its training rows plus edge rows. one_hot_explicit models are scored twice: on the original columns
(which genmodel ignores: the MOJO's inputs are the expanded indicator columns) and on the expanded
columns themselves.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared.mojo import UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.datasets import load_datasets
from tests.mojo.parity import (
    ParityCase,
    check_against_genmodel,
    edge_rows,
    predict_csv,
)

DART = {"booster": "dart", "rate_drop": 0.3}  # rate_drop > 0: trees get weights other than 1
GBLINEAR = {"booster": "gblinear"}
OHE = {"categorical_encoding": "one_hot_explicit"}

# case name: (dataset, estimator options, the scope table's description of the variant)
MODELS: dict[str, tuple[str, dict[str, Any], str]] = {
    "dart-prostate_binomial": ("prostate_binomial", DART, "booster=dart, rate_drop=0.3"),
    "dart-iris_multinomial": ("iris_multinomial", DART, "booster=dart, rate_drop=0.3"),
    "dart-prostate_regression": ("prostate_regression", DART, "booster=dart, rate_drop=0.3"),
    "dart-synthetic_regression": (
        "synthetic_regression",
        DART,
        "booster=dart, rate_drop=0.3, sparse one-hot",
    ),
    "dart-synthetic_multinomial": (
        "synthetic_multinomial",
        DART,
        "booster=dart, rate_drop=0.3, sparse one-hot",
    ),
    "dart_poisson-prostate_psa": (
        "prostate_psa",
        {**DART, "distribution": "poisson"},
        "booster=dart, distribution=poisson",
    ),
    "gblinear-prostate_binomial": ("prostate_binomial", GBLINEAR, "booster=gblinear"),
    "gblinear-iris_multinomial": ("iris_multinomial", GBLINEAR, "booster=gblinear"),
    "gblinear-prostate_regression": ("prostate_regression", GBLINEAR, "booster=gblinear"),
    "gblinear-synthetic_regression": (
        "synthetic_regression",
        GBLINEAR,
        "booster=gblinear, sparse one-hot",
    ),
    "gblinear-synthetic_multinomial": (
        "synthetic_multinomial",
        GBLINEAR,
        "booster=gblinear, sparse one-hot",
    ),
    **{
        f"gblinear_{family}-prostate_psa": (
            "prostate_psa",
            {**GBLINEAR, "distribution": family},
            f"booster=gblinear, distribution={family}",
        )
        for family in ("poisson", "gamma", "tweedie")
    },
    "ohe-prostate_binomial": (
        "prostate_binomial",
        OHE,
        "categorical_encoding=one_hot_explicit, input: the original columns (ignored)",
    ),
    "ohe-synthetic_regression": (
        "synthetic_regression",
        OHE,
        "categorical_encoding=one_hot_explicit, sparse, input: the original columns (ignored)",
    ),
    "ohe_gblinear-prostate_binomial": (
        "prostate_binomial",
        {**OHE, **GBLINEAR},
        "categorical_encoding=one_hot_explicit, booster=gblinear",
    ),
    # H2O's other frame-level encodings for XGBoost: the MOJO's columns are the encoded ones too.
    "binary-prostate_binomial": (
        "prostate_binomial",
        {"categorical_encoding": "binary"},
        "categorical_encoding=binary",
    ),
    "sort_by_response-prostate_binomial": (
        "prostate_binomial",
        {"categorical_encoding": "sort_by_response"},
        "categorical_encoding=sort_by_response",
    ),
    "label_encoder-prostate_binomial": (
        "prostate_labels",  # numeric columns in the MOJO: PredictCsv fails on unseen level text
        {"categorical_encoding": "label_encoder"},
        "categorical_encoding=label_encoder",
    ),
    "ohe_dart-synthetic_multinomial": (
        "synthetic_multinomial",
        {**OHE, **DART},
        "categorical_encoding=one_hot_explicit, booster=dart",
    ),
}
EXPANDED = [name for name in MODELS if name.startswith("ohe")]


@pytest.fixture(scope="module")
def xgboost_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """MODELS trained once and exported, plus `<name>+expanded` cases for one_hot_explicit."""
    h2o = h2o_cluster
    from h2o.estimators import H2OXGBoostEstimator

    directory = tmp_path_factory.mktemp("xgboost")
    datasets = load_datasets(h2o, synthetic_rows=400)
    cases: dict[str, ParityCase] = {}
    for name, (dataset, options, description) in MODELS.items():
        data = datasets[dataset]
        scoring_csv = data.scoring_csv(directory)
        model = H2OXGBoostEstimator(ntrees=6, max_depth=3, seed=1, **options)
        model.train(x=data.x, y=data.y, training_frame=data.frame)
        mojo = directory / f"{name}.zip"
        Path(model.download_mojo(path=str(directory))).rename(mojo)
        cases[name] = ParityCase(name, mojo, scoring_csv, description)
        if name in EXPANDED:
            expanded_csv = directory / f"{name}-expanded.csv"
            expanded = explicit_one_hot(data.text, model_columns(mojo), list(data.levels))
            features = list(expanded.columns)
            edges = edge_rows([*features, data.y], {}, features)
            rows = pd.concat(
                [expanded.assign(**{data.y: data.text[data.y]}), edges], ignore_index=True
            )
            rows.to_csv(expanded_csv, index=False)
            described = f"{description}, input: the expanded columns"
            cases[f"{name}+expanded"] = ParityCase(
                f"{name}+expanded", mojo, expanded_csv, described
            )
    return cases


def model_columns(mojo: Path) -> list[str]:
    """The input columns listed in a MOJO's model.ini (response excluded)."""
    with zipfile.ZipFile(mojo) as bundle:
        text = bundle.read("model.ini").decode("utf-8")
    section = text.split("[columns]")[1].split("[domains]")[0]
    return section.strip().splitlines()[:-1]


def explicit_one_hot(
    text: pd.DataFrame, columns: list[str], categoricals: list[str]
) -> pd.DataFrame:
    """H2O's one_hot_explicit expansion of `text` into the model's columns, as text cells."""
    expanded: dict[str, pd.Series] = {}
    for column in columns:
        source = next((c for c in categoricals if column.startswith(f"{c}.")), None)
        if source is None:
            expanded[column] = text[column]
            continue
        level = column[len(source) + 1 :]
        hot = text[source] == "" if level == "missing(NA)" else text[source] == level
        expanded[column] = hot.map({True: "1", False: "0"})
    return pd.DataFrame(expanded)


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(MODELS))
def test_matches_genmodel(
    name: str, xgboost_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    check_against_genmodel(xgboost_cases[name], genmodel_jar, tmp_path)


@pytest.mark.h2o
@pytest.mark.parametrize("name", EXPANDED)
def test_one_hot_explicit_matches_genmodel_on_expanded_columns(
    name: str, xgboost_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(xgboost_cases[f"{name}+expanded"], genmodel_jar, tmp_path)
    assert any(column.endswith(".missing(NA)") for column in model.columns)


@pytest.mark.h2o
def test_genmodel_ignores_the_original_columns_of_a_one_hot_explicit_model(
    xgboost_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    """The fact behind the runtime's choice of input columns: PredictCsv never reads `RACE`."""
    case = xgboost_cases["ohe-prostate_binomial"]
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    blanked_csv = tmp_path / "blanked.csv"
    scoring.assign(RACE="", DPROS="", DCAPS="").to_csv(blanked_csv, index=False)
    given = predict_csv(genmodel_jar, case.mojo, case.scoring_csv, tmp_path / "given.csv")
    blanked = predict_csv(genmodel_jar, case.mojo, blanked_csv, tmp_path / "blanked_out.csv")
    pd.testing.assert_frame_equal(given, blanked)
    assert {"RACE.1", "DPROS.missing(NA)"} <= set(load_mojo(case.mojo).columns)
    assert not {"RACE", "DPROS", "DCAPS"} & set(load_mojo(case.mojo).columns)


def _edit_booster(source: Path, target: Path, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, change(data) if item.filename == "boosterBytes" else data)
    return target


def _names_end(data: bytes) -> tuple[int, int]:
    """Offsets of the objective's length field and of the byte after the booster's name."""
    objective_at = (4 if data[:4] == b"binf" else 0) + 136
    (length,) = struct.unpack_from("<Q", data, objective_at)
    booster_at = objective_at + 8 + length
    (booster_length,) = struct.unpack_from("<Q", data, booster_at)
    return objective_at, booster_at + 8 + booster_length


def _set_objective(data: bytes, objective: str) -> bytes:
    at = _names_end(data)[0]
    (length,) = struct.unpack_from("<Q", data, at)
    encoded = objective.encode()
    return data[:at] + struct.pack("<Q", len(encoded)) + encoded + data[at + 8 + length :]


def _set_booster(data: bytes, booster: str) -> bytes:
    objective_at, end = _names_end(data)
    (length,) = struct.unpack_from("<Q", data, objective_at)
    at = objective_at + 8 + length
    encoded = booster.encode()
    return data[:at] + struct.pack("<Q", len(encoded)) + encoded + data[end:]


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    return data[:at] + struct.pack("<" + fmt, value) + data[at + struct.calcsize("<" + fmt) :]


def _learner_at(data: bytes) -> int:
    return 4 if data[:4] == b"binf" else 0


# (case, booster bytes edit, text the error must contain)
BOOSTER_EDITS: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("dart-prostate_binomial", lambda d: _set_booster(d, "gbforest"), "booster 'gbforest'"),
    ("gblinear-prostate_binomial", lambda d: _set_objective(d, "rank:pairwise"), "rank:pairwise"),
    (
        "gblinear-prostate_binomial",
        lambda d: _patch(d, _learner_at(d) + 4, "I", 3),  # LearnerModelParam.num_feature
        "gblinear over 3 features",
    ),
    (
        "gblinear-iris_multinomial",
        lambda d: _patch(d, _names_end(d)[1] + 136, "Q", 7),  # the weights' length
        "gblinear with 7 weights",
    ),
    (
        "dart-prostate_binomial",
        lambda d: _patch(
            _patch(d, _learner_at(d) + 12, "i", 1),  # LearnerModelParam.saved_with_pbuffer
            _names_end(d)[1] + 16,  # GBTreeModelParam.num_pbuffer
            "q",
            1,
        ),
        "prediction buffer",
    ),
]


@pytest.mark.h2o
@pytest.mark.parametrize(("case", "edit", "named"), BOOSTER_EDITS)
def test_refuses_booster_it_cannot_score_exactly(
    case: str,
    edit: Callable[[bytes], bytes],
    named: str,
    xgboost_cases: dict[str, ParityCase],
    tmp_path: Path,
) -> None:
    source = xgboost_cases[case].mojo
    assert isinstance(load_mojo(source), MojoModel)  # the unedited model loads
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(_edit_booster(source, tmp_path / "edited.zip", edit))
