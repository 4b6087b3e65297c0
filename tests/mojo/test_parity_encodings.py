"""GBM and DRF trained with every categorical_encoding genmodel scores, against PredictCsv.

Users send the original columns; genmodel (the reference, even where H2O's own predict differs, as
for EnumLimited and Eigen) encodes them. The synthetic set's 300-level categorical is where limited
levels, binary digits and eigen projections bite; its edge rows hold unseen levels (encoded as NA)
and blanks (left out of the row, so every encoded column stays missing).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared.mojo import UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.datasets import load_datasets
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import ParityCase, check_against_genmodel

ENCODINGS = (
    "one_hot_explicit",
    "binary",
    "label_encoder",
    "enum_limited",
    "sort_by_response",
    "eigen",
)
ALGOS = ("gbm", "drf")
DATASETS = ("prostate_binomial", "iris_multinomial", "synthetic_regression")


@pytest.fixture(scope="module")
def encoded_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """GBM and DRF x every encoding x dataset, small models, exported with their scoring CSVs."""
    h2o = h2o_cluster
    from h2o.estimators import H2OGradientBoostingEstimator, H2ORandomForestEstimator

    directory = tmp_path_factory.mktemp("encodings")
    datasets = load_datasets(h2o)
    makers: dict[str, Callable[..., Any]] = {
        "gbm": lambda **kw: H2OGradientBoostingEstimator(ntrees=6, max_depth=4, seed=1, **kw),
        "drf": lambda **kw: H2ORandomForestEstimator(ntrees=5, max_depth=6, seed=1, **kw),
    }
    cases: dict[str, ParityCase] = {}
    for dataset in DATASETS:
        data = datasets[dataset]
        scoring_csv = data.scoring_csv(directory)
        for algo, make in makers.items():
            for encoding in ENCODINGS:
                model = make(categorical_encoding=encoding)
                model.train(x=data.x, y=data.y, training_frame=data.frame)
                name = f"{algo}-{encoding}-{dataset}"
                target = directory / f"{name}.zip"
                Path(model.download_mojo(path=str(directory))).rename(target)
                options = f"categorical_encoding={encoding}"
                cases[name] = ParityCase(name, target, scoring_csv, options)
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("algo", ALGOS)
def test_encoded_model_matches_genmodel(
    algo: str,
    encoding: str,
    dataset: str,
    encoded_cases: dict[str, ParityCase],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    check_against_genmodel(encoded_cases[f"{algo}-{encoding}-{dataset}"], genmodel_jar, tmp_path)


@pytest.mark.h2o
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_inputs_are_the_original_columns(
    encoding: str, encoded_cases: dict[str, ParityCase]
) -> None:
    model = load_mojo(encoded_cases[f"gbm-{encoding}-synthetic_regression"].mojo)
    assert isinstance(model, MojoModel)
    assert model.columns == ["x1", "x2", "city", "colour"]
    assert sorted(model.domains) == ["city", "colour"]
    assert len(model.domains["city"]) > 250
    # Served by name: a row of original values scores like genmodel's row (checked above).
    assert len(model.predict_rows([{"x1": 0.5, "city": "city_007", "colour": "red"}])) == 1


@pytest.mark.h2o
def test_large_text_frames_encode_unseen_levels_like_small_ones(
    encoded_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    # Frames of arrow-backed text take the pyarrow path, where an unseen level must still be
    # told apart from a missing value (binary encodes it as all zeros, a blank as NaN).
    case = encoded_cases["drf-binary-synthetic_regression"]
    model = load_mojo(case.mojo)
    assert isinstance(model, MojoModel)
    as_arrow = pd.read_csv(case.scoring_csv, dtype="string[pyarrow]", keep_default_na=False)
    as_objects = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    assert len(as_arrow) >= 512
    pd.testing.assert_frame_equal(model.predict(as_arrow), model.predict(as_objects))


@pytest.fixture(scope="module")
def encoded_base_ensemble(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A StackedEnsemble one of whose base models was trained with label_encoder."""
    h2o = h2o_cluster
    from h2o.estimators import (
        H2OGradientBoostingEstimator,
        H2ORandomForestEstimator,
        H2OStackedEnsembleEstimator,
    )

    directory = tmp_path_factory.mktemp("encoded_ensemble")
    prostate = h2o.upload_file(str(Path(str(h2o.__file__)).parent / "h2o_data" / "prostate.csv"))
    for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        prostate[column] = prostate[column].asfactor()
    x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    folds = {"nfolds": 2, "fold_assignment": "Modulo", "keep_cross_validation_predictions": True}
    bases = [
        H2OGradientBoostingEstimator(
            ntrees=3, max_depth=3, seed=1, categorical_encoding="label_encoder", **folds
        ),
        H2ORandomForestEstimator(ntrees=3, max_depth=3, seed=1, **folds),
    ]
    for base in bases:
        base.train(x=x, y="CAPSULE", training_frame=prostate)
    ensemble = H2OStackedEnsembleEstimator(base_models=bases, seed=1)
    ensemble.train(x=x, y="CAPSULE", training_frame=prostate)
    target = directory / "ensemble.zip"
    Path(ensemble.download_mojo(path=str(directory))).rename(target)
    return target


@pytest.mark.h2o
def test_refuses_an_ensemble_with_an_encoded_base_model(encoded_base_ensemble: Path) -> None:
    # genmodel hands base models the ensemble's row unencoded: not what they were trained on.
    with pytest.raises(UnsupportedMojoError, match="categorical_encoding 'LabelEncoder'"):
        load_mojo(encoded_base_ensemble)


def _edit_member(source: Path, target: Path, member: str, edit: Callable[[str], str]) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == member:
                data = edit(data.decode("utf-8")).encode("utf-8")
            copy.writestr(item, data)
    return target


def _give_column_levels(text: str, column: int) -> str:
    # Point model column `column` at the response's domain file: it becomes categorical.
    response_domain = text.rstrip("\n").split("\n")[-1].split(":", 1)[1]
    return text.replace("[domains]\n", f"[domains]\n{column}:{response_domain}\n")


def _drop_column_levels(text: str, column: int) -> str:
    lines = text.split("\n")
    return "\n".join(line for line in lines if not line.startswith(f"{column}: "))


# (case to start from, zip member, edit, text the error must contain)
REFUSED_EDITS: list[tuple[str, str, Callable[[str], str], str]] = [
    (
        "gbm-one_hot_explicit-prostate_binomial",
        "model.ini",
        lambda text: set_info(text, "_genmodel_encoding", "OneHotInternal"),
        "categorical_encoding 'OneHotInternal'",
    ),
    (
        "drf-binary-prostate_binomial",
        "model.ini",
        lambda text: set_info(text, "_genmodel_encoding", "null"),
        "categorical_encoding 'null'",
    ),
    (
        "gbm-eigen-prostate_binomial",
        "model.ini",
        lambda text: set_info(text, "_orig_projection_array", "null"),
        "Eigen' without a projection array",
    ),
    (
        "gbm-enum_limited-synthetic_regression",
        "model.ini",
        lambda text: _drop_column_levels(text, 2),
        "EnumLimited': model column 2 for 'city' has no levels",
    ),
    (
        "gbm-one_hot_explicit-prostate_binomial",
        "model.ini",
        lambda text: _give_column_levels(text, 4),
        "column 'RACE' lands on model column 'RACE.0' of another kind",
    ),
    (
        "drf-label_encoder-prostate_binomial",
        "model.ini",
        lambda text: set_info(text, "_n_orig_names", "9"),
        "'_orig_names' holds 8 lines, model.ini says 9",
    ),
    (
        "gbm-binary-prostate_binomial",
        "_orig_domain_values_1",
        lambda text: text.replace("2\n", " 1\n"),
        "column 'RACE' repeats a level",
    ),
]


@pytest.mark.h2o
@pytest.mark.parametrize(("case", "member", "edit", "named"), REFUSED_EDITS)
def test_refuses_encodings_it_cannot_score_exactly(
    case: str,
    member: str,
    edit: Callable[[str], str],
    named: str,
    encoded_cases: dict[str, ParityCase],
    tmp_path: Path,
) -> None:
    source = encoded_cases[case].mojo
    load_mojo(source)  # the unedited model loads, so the edit is what is refused
    edited = _edit_member(source, tmp_path / "edited.zip", member, edit)
    with pytest.raises(UnsupportedMojoError, match=re.escape(named)):
        load_mojo(edited)


@pytest.mark.h2o
def test_refuses_an_encoded_model_without_its_original_columns(
    encoded_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    def drop_originals(name: str, text: str) -> str:
        return "\n".join(line for line in text.split("\n") if not line.startswith("_n_orig_"))

    edited = rewrite_mojo(
        encoded_cases["gbm-one_hot_explicit-synthetic_regression"].mojo,
        tmp_path / "edited.zip",
        drop_originals,
    )
    with pytest.raises(UnsupportedMojoError, match="'OneHotExplicit' without its columns"):
        load_mojo(edited)


@pytest.mark.h2o
def test_original_levels_are_read_trimmed_as_genmodel_reads_them(
    encoded_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    # genmodel trims every line of `_orig_domain_values_N`: padded levels still match "1".."4".
    case = encoded_cases["gbm-binary-prostate_binomial"]
    padded = _edit_member(
        case.mojo,
        tmp_path / "padded.zip",
        "_orig_domain_values_2",
        lambda text: "".join(f" {line}\t\n" for line in text.splitlines()),
    )
    edited = ParityCase(f"{case.name}-padded-levels", padded, case.scoring_csv, case.options)
    model = check_against_genmodel(edited, genmodel_jar, tmp_path)
    assert model.domains["DPROS"] == ["1", "2", "3", "4"]
