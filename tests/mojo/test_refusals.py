"""Anything the runtime cannot score exactly like genmodel is refused at load time, naming what."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.mojo import UnsupportedMojoError, load_mojo
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import ParityCase

# (case to start from, model.ini key, new value, text the error must contain)
TOP_LEVEL_EDITS = [
    ("gbm-prostate_binomial", "algo", "word2vec", "algorithm 'word2vec'"),
    ("gbm-prostate_binomial", "mojo_version", "1.50", "mojo_version 1.50"),
    ("drf-prostate_regression", "mojo_version", "1.30", "mojo_version 1.30"),
    ("xgboost-prostate_binomial", "mojo_version", "1.00", "mojo_version 1.00"),
    ("glm-prostate_binomial", "mojo_version", "1.10", "mojo_version 1.10"),
    ("gbm-prostate_binomial", "category", "Clustering", "category 'Clustering'"),
    ("gbm-prostate_binomial", "balance_classes", "true", "balance_classes"),
    ("gbm-prostate_binomial", "calib_method", "platt", "calibration"),
    ("gbm-prostate_binomial", "_genmodel_encoding", "OneHotInternal", "OneHotInternal"),
    ("gbm-prostate_regression", "distribution", "custom", "distribution 'custom'"),
    ("gbm-prostate_regression", "link_function", "ologit", "link function 'ologit'"),
    ("xgboost-prostate_binomial", "calib_method", "isotonic", "calibration"),
    ("drf-prostate_binomial", "offset_column", "PSA", "offset column on a drf model"),
    ("gbm-iris_multinomial", "offset_column", "Sepal.Length", "offset column on a multinomial"),
    ("glm-iris_multinomial", "offset_column", "Sepal.Length", "offset column on a multinomial"),
    ("gbm-iris_multinomial", "category", "Ordinal", "category 'Ordinal'"),
    ("glm-prostate_regression", "family", "AUTO", "family 'AUTO'"),
    ("glm-prostate_regression", "link", "logit", "family 'gaussian' with link 'logit'"),
    ("glm-prostate_binomial", "link", "log", "family 'binomial' with link 'log'"),
    ("glm-prostate_regression", "nums", "4", "interaction columns"),
    ("xgboost-prostate_binomial", "has_offset", "true", "has_offset disagrees"),
    ("xgboost-prostate_binomial", "offset_column", "PSA", "has_offset disagrees"),
    ("stackedensemble-prostate_binomial", "metalearner_transform", "Percentile", "'Percentile'"),
]


@pytest.mark.h2o
@pytest.mark.parametrize(("case", "key", "value", "named"), TOP_LEVEL_EDITS)
def test_refuses_what_it_cannot_honour(
    case: str, key: str, value: str, named: str, parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    source = parity_cases[case].mojo
    edited = rewrite_mojo(
        source,
        tmp_path / "edited.zip",
        lambda name, text: set_info(text, key, value) if name == "model.ini" else text,
    )
    load_mojo(source)  # the unedited model loads, so the edit is what is refused
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


@pytest.mark.h2o
def test_refuses_an_ensemble_whose_base_model_has_an_offset(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = rewrite_mojo(
        parity_cases["stackedensemble-prostate_binomial"].mojo,
        tmp_path / "edited.zip",
        lambda name, text: set_info(text, "offset_column", "PSA") if "/GBM/" in name else text,
    )
    with pytest.raises(UnsupportedMojoError, match="with an offset column"):
        load_mojo(edited)
    metalearner = rewrite_mojo(
        parity_cases["stackedensemble-prostate_binomial"].mojo,
        tmp_path / "metalearner.zip",
        lambda name, text: set_info(text, "offset_column", "PSA") if "/GLM/" in name else text,
    )
    with pytest.raises(UnsupportedMojoError, match="metalearner with an offset column"):
        load_mojo(metalearner)


@pytest.mark.h2o
def test_refuses_an_ensemble_whose_base_model_is_unsupported(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = rewrite_mojo(
        parity_cases["stackedensemble-prostate_binomial"].mojo,
        tmp_path / "edited.zip",
        lambda name, text: set_info(text, "algo", "word2vec") if "/GBM/" in name else text,
    )
    with pytest.raises(UnsupportedMojoError, match="algorithm 'word2vec'"):
        load_mojo(edited)


@pytest.mark.h2o
def test_refuses_an_ensemble_whose_metalearner_is_unsupported(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = rewrite_mojo(
        parity_cases["stackedensemble-prostate_binomial"].mojo,
        tmp_path / "edited.zip",
        lambda name, text: set_info(text, "algo", "naivebayes") if "/metalearner" in name else text,
    )
    with pytest.raises(UnsupportedMojoError, match=r"metalearner \(naivebayes\).*'naivebayes'"):
        load_mojo(edited)


def test_refuses_a_zip_that_is_not_a_mojo(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedMojoError, match=r"without model\.ini"):
        load_mojo(path)


def test_refuses_a_driverless_ai_mojo_zip_with_a_pointer_to_the_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "mojo.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("mojo-pipeline/pipeline.mojo", b"\x00\x01")
    with pytest.raises(UnsupportedMojoError, match=r"pipeline\.mojo inside it"):
        load_mojo(path)


def test_refuses_a_file_that_is_neither(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"not a model")
    with pytest.raises(UnsupportedMojoError, match="neither an H2O-3 MOJO"):
        load_mojo(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no MOJO file"):
        load_mojo(tmp_path / "absent.zip")


def _with_member(source: Path, target: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, change(data) if item.filename == member else data)
    return target


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("case", "member"),
    [
        ("gbm-synthetic_binomial", "trees/t00_003.bin"),
        ("xgboost-prostate_regression", "boosterBytes"),
    ],
)
def test_refuses_a_truncated_model_blob(
    case: str, member: str, parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    damaged = _with_member(
        parity_cases[case].mojo,
        tmp_path / "damaged.zip",
        member,
        lambda data: data[: len(data) // 2],
    )
    with pytest.raises(UnsupportedMojoError, match="damaged or malformed"):
        load_mojo(damaged)


@pytest.mark.h2o
def test_refuses_unreadable_numbers_in_model_ini(
    parity_cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    damaged = rewrite_mojo(
        parity_cases["glm-prostate_binomial"].mojo,
        tmp_path / "damaged.zip",
        lambda _, text: set_info(text, "beta", "[0.1, oops]"),
    )
    with pytest.raises(UnsupportedMojoError, match="'beta' is not a list of numbers"):
        load_mojo(damaged)
