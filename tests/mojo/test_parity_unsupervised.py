"""Parity with genmodel for the unsupervised MOJOs: Isolation Forest, Extended IF and K-means.

Each model is trained once per module on prostate and on the synthetic frame (missing values, a
300-level categorical) and scored on its training rows, the edge rows and a row whose squares
overflow to infinity (K-means then assigns no cluster, -1).
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from converge.cli import cli
from shared.mojo import UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import (
    ParityCase,
    assert_matches_genmodel,
    check_against_genmodel,
    edge_rows,
    predict_csv,
    synthetic_frame,
)

IF_COLUMNS = ["predict", "mean_length"]
IF_FLAG_COLUMNS = ["predict", "score", "mean_length"]
EIF_COLUMNS = ["anomaly_score", "mean_length"]
# name: (options for the scope table, PredictCsv's output columns)
CASES: dict[str, tuple[str, list[str]]] = {
    "isolationforest-prostate": ("ntrees=20, sample_size=256 (default)", IF_COLUMNS),
    "isolationforest-prostate-contamination": ("contamination=0.1: anomaly flag", IF_FLAG_COLUMNS),
    "isolationforest-prostate-validation": (
        "validation_response_column: flag at the validation AUC threshold",
        IF_FLAG_COLUMNS,
    ),
    "isolationforest-prostate-equal_bounds": (
        "min_path_length = max_path_length (edited model.ini): score 1",
        IF_COLUMNS,
    ),
    "isolationforest-synthetic": ("sample_rate=0.5, max_depth=10", IF_COLUMNS),
    "isolationforest-synthetic-contamination": (
        "contamination=0.05, sample_size=128: anomaly flag",
        IF_FLAG_COLUMNS,
    ),
    "extendedisolationforest-prostate-el0": ("extension_level=0, sample_size=128", EIF_COLUMNS),
    "extendedisolationforest-prostate-el6": (
        "extension_level=6 (all 7 columns), sample_size=128",
        EIF_COLUMNS,
    ),
    "extendedisolationforest-synthetic-el2": (
        "extension_level=2, categoricals as level indices",
        EIF_COLUMNS,
    ),
    "kmeans-prostate-k3-standardized": ("k=3, standardize=true, categoricals", ["cluster"]),
    "kmeans-prostate-k4-raw": ("k=4, standardize=false, categoricals", ["cluster"]),
    "kmeans-synthetic-k4-standardized": (
        "k=4, standardize=true, missing values, 300-level categorical",
        ["cluster"],
    ),
    "kmeans-synthetic-k3-raw": (
        "k=3, standardize=false, missing values, 300-level categorical",
        ["cluster"],
    ),
}
PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
SYNTHETIC_X = ["x1", "x2", "city", "colour"]


def _scoring_csv(
    path: Path, text: pd.DataFrame, categorical: dict[str, str], numeric: list[str]
) -> Path:
    columns = list(text.columns)
    overflow = pd.DataFrame([{**{n: "1e200" for n in numeric}, **categorical}], columns=columns)
    rows = [text, edge_rows(columns, categorical, numeric), overflow.fillna("")]
    pd.concat(rows, ignore_index=True).to_csv(path, index=False)
    return path


def _train(h2o: Any, directory: Path) -> dict[str, ParityCase]:
    from h2o.estimators import (
        H2OExtendedIsolationForestEstimator,
        H2OIsolationForestEstimator,
        H2OKMeansEstimator,
    )

    h2o_data = Path(str(h2o.__file__)).parent / "h2o_data"
    prostate_text = pd.read_csv(h2o_data / "prostate.csv", dtype=str)[["CAPSULE", *PROSTATE_X]]
    prostate = h2o.upload_file(str(h2o_data / "prostate.csv"))
    for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        prostate[column] = prostate[column].asfactor()
    synthetic = synthetic_frame()
    synthetic_h2o = h2o.H2OFrame(synthetic, column_types={"city": "enum", "colour": "enum"})
    synthetic_text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)
    # CAPSULE is scored too: the validation-labelled forest lists it among its input columns.
    prostate_csv = _scoring_csv(
        directory / "prostate.csv",
        prostate_text,
        {"CAPSULE": "1", "RACE": "1", "DPROS": "2", "DCAPS": "1"},
        ["AGE", "PSA", "VOL", "GLEASON"],
    )
    synthetic_csv = _scoring_csv(
        directory / "synthetic.csv",
        synthetic_text[SYNTHETIC_X],
        {"city": "city_001", "colour": "red"},
        ["x1", "x2"],
    )
    isolation = H2OIsolationForestEstimator
    extended = H2OExtendedIsolationForestEstimator
    models: dict[str, tuple[Callable[[], Any], bool]] = {  # name: (estimator, on prostate)
        "isolationforest-prostate": (lambda: isolation(ntrees=20, seed=1), True),
        "isolationforest-prostate-contamination": (
            lambda: isolation(ntrees=20, seed=1, contamination=0.1),
            True,
        ),
        "isolationforest-synthetic": (
            lambda: isolation(ntrees=20, seed=1, sample_rate=0.5, max_depth=10),
            False,
        ),
        "isolationforest-synthetic-contamination": (
            lambda: isolation(ntrees=15, seed=1, sample_size=128, contamination=0.05),
            False,
        ),
        "extendedisolationforest-prostate-el0": (
            lambda: extended(ntrees=20, seed=1, extension_level=0, sample_size=128),
            True,
        ),
        "extendedisolationforest-prostate-el6": (
            lambda: extended(ntrees=20, seed=1, extension_level=6, sample_size=128),
            True,
        ),
        "extendedisolationforest-synthetic-el2": (
            lambda: extended(ntrees=20, seed=1, extension_level=2, sample_size=128),
            False,
        ),
        "kmeans-prostate-k3-standardized": (
            lambda: H2OKMeansEstimator(k=3, seed=1, standardize=True),
            True,
        ),
        "kmeans-prostate-k4-raw": (
            lambda: H2OKMeansEstimator(k=4, seed=1, standardize=False),
            True,
        ),
        "kmeans-synthetic-k4-standardized": (
            lambda: H2OKMeansEstimator(k=4, seed=1, standardize=True),
            False,
        ),
        "kmeans-synthetic-k3-raw": (
            lambda: H2OKMeansEstimator(k=3, seed=1, standardize=False),
            False,
        ),
    }
    cases: dict[str, ParityCase] = {}
    for name, (make, on_prostate) in models.items():
        model = make()
        frame, x = (prostate, PROSTATE_X) if on_prostate else (synthetic_h2o, SYNTHETIC_X)
        model.train(x=x, training_frame=frame)
        cases[name] = _export(
            model, directory, name, prostate_csv if on_prostate else synthetic_csv
        )
    labelled = isolation(ntrees=20, seed=1, validation_response_column="CAPSULE")
    labelled.train(x=PROSTATE_X, training_frame=prostate, validation_frame=prostate)
    name = "isolationforest-prostate-validation"
    cases[name] = _export(labelled, directory, name, prostate_csv)
    name = "isolationforest-prostate-equal_bounds"
    equal = rewrite_mojo(
        cases["isolationforest-prostate"].mojo,
        directory / f"{name}.zip",
        lambda _, text: set_info(set_info(text, "min_path_length", "90"), "max_path_length", "90"),
    )
    cases[name] = ParityCase(name, equal, prostate_csv, CASES[name][0])
    return cases


def _export(model: Any, directory: Path, name: str, scoring_csv: Path) -> ParityCase:
    target = directory / f"{name}.zip"
    Path(model.download_mojo(path=str(directory))).rename(target)
    return ParityCase(name=name, mojo=target, scoring_csv=scoring_csv, options=CASES[name][0])


@pytest.fixture(scope="module")
def unsupervised_cases(
    h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParityCase]:
    """Every unsupervised variant in scope, trained once for this module."""
    return _train(h2o_cluster, tmp_path_factory.mktemp("unsupervised"))


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(CASES))
def test_matches_genmodel_predict_csv(
    name: str, unsupervised_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(unsupervised_cases[name], genmodel_jar, tmp_path)
    assert model.algo == name.split("-")[0]
    assert model.output_columns == CASES[name][1]
    assert model.classes is None and model.response_column is None
    assert model.category == ("Clustering" if model.algo == "kmeans" else "AnomalyDetection")


@pytest.mark.h2o
def test_cases_exercise_what_they_claim(unsupervised_cases: dict[str, ParityCase]) -> None:
    """Both flag values, several clusters, the -1 of an overflowing row: else parity proves less."""
    scored = {}
    for name, case in unsupervised_cases.items():
        model = load_mojo(case.mojo)
        assert isinstance(model, MojoModel)
        scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
        scored[name] = model.predict(scoring)
    assert set(scored["isolationforest-prostate-contamination"]["predict"]) == {0.0, 1.0}
    assert (scored["isolationforest-prostate-equal_bounds"]["predict"] == 1.0).all()
    clusters = scored["kmeans-synthetic-k4-standardized"]["cluster"]
    assert set(clusters) == {-1.0, 0.0, 1.0, 2.0, 3.0}
    assert clusters.iloc[-1] == -1.0


# (case, model.ini key, new value, text the error must contain)
EDITS = [
    ("isolationforest-prostate", "mojo_version", "1.30", "mojo_version 1.30"),
    ("isolationforest-prostate", "category", "Binomial", "category 'Binomial'"),
    ("isolationforest-prostate", "n_trees_per_class", "2", "more than one tree per iteration"),
    ("isolationforest-prostate", "_genmodel_encoding", "OneHotExplicit", "OneHotExplicit"),
    ("extendedisolationforest-prostate-el0", "mojo_version", "1.10", "mojo_version 1.10"),
    ("extendedisolationforest-prostate-el0", "ntrees", "0", "without trees"),
    ("kmeans-prostate-k4-raw", "mojo_version", "1.10", "mojo_version 1.10"),
    ("kmeans-prostate-k4-raw", "category", "AnomalyDetection", "category 'AnomalyDetection'"),
    ("kmeans-prostate-k4-raw", "center_1", "[1.0, 2.0]", "'center_1' does not hold 7 numbers"),
    ("kmeans-prostate-k3-standardized", "standardize_means", "null", "'standardize_means'"),
]


@pytest.mark.h2o
@pytest.mark.parametrize(("case", "key", "value", "named"), EDITS)
def test_refuses_what_it_cannot_honour(
    case: str,
    key: str,
    value: str,
    named: str,
    unsupervised_cases: dict[str, ParityCase],
    tmp_path: Path,
) -> None:
    source = unsupervised_cases[case].mojo
    edited = rewrite_mojo(
        source, tmp_path / "edited.zip", lambda _, text: set_info(text, key, value)
    )
    load_mojo(source)  # the unedited model loads, so the edit is what is refused
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


def _root_only(tree: bytes) -> bytes:
    # The header and the root split, then padding: both children are gone.
    width = struct.unpack_from("<i", tree, 0)[0]
    end = 4 + 5 + 16 * width
    return tree[:end] + bytes(len(tree) - end)


def _unknown_root_type(tree: bytes) -> bytes:
    return tree[:8] + b"X" + tree[9:]


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("change", "named"),
    [(_root_only, "missing a child"), (_unknown_root_type, "node type 88")],
)
def test_refuses_an_extended_isolation_tree_genmodel_cannot_walk(
    change: Callable[[bytes], bytes],
    named: str,
    unsupervised_cases: dict[str, ParityCase],
    tmp_path: Path,
) -> None:
    source = unsupervised_cases["extendedisolationforest-prostate-el6"].mojo
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(damaged, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, change(data) if item.filename == "trees/t03.bin" else data)
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(damaged)


@pytest.mark.h2o
@pytest.mark.parametrize(
    "name",
    [
        "isolationforest-synthetic-contamination",
        "extendedisolationforest-synthetic-el2",
        "kmeans-synthetic-k4-standardized",
    ],
)
def test_cli_predict_and_info(
    name: str, unsupervised_cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = unsupervised_cases[name]
    output = tmp_path / "ours.csv"
    command = ["mojo", "predict", str(case.mojo), "--input", str(case.scoring_csv)]
    result = CliRunner().invoke(cli, [*command, "--output", str(output)])
    assert result.exit_code == 0, result.output
    expected = predict_csv(genmodel_jar, case.mojo, case.scoring_csv, tmp_path / "genmodel.csv")
    ours = pd.read_csv(output, keep_default_na=False, na_values=["NA"], dtype={"predict": str})
    assert_matches_genmodel(expected, ours, classes=False)
    described = CliRunner().invoke(cli, ["mojo", "info", str(case.mojo)])
    assert described.exit_code == 0, described.output
    assert f"output columns: {', '.join(CASES[name][1])}" in described.output
    assert "response_column: None" in described.output
    assert "city (categorical, 278 levels)" in described.output
