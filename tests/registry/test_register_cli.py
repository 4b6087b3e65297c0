"""`converge registry register`: a real H2O MOJO stored and registered, or refused whole."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner, Result

from converge.cli import cli
from shared.registry import list_models
from tests.mojo.mojo_edit import rewrite_mojo, set_info

pytestmark = pytest.mark.h2o

FEATURES = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@dataclass(frozen=True)
class Exported:
    """A MOJO, rows of its training data and H2O's predictions of them."""

    mojo: Path
    rows: Path
    predictions: Path


@pytest.fixture(scope="module")
def exported(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A small binomial GBM on prostate, 60 input rows and H2O's predictions of them as CSV."""
    from h2o.estimators import H2OGradientBoostingEstimator

    root = tmp_path_factory.mktemp("byo")
    frame = h2o_cluster.upload_file(
        str(Path(h2o_cluster.__file__).parent / "h2o_data" / "prostate.csv")
    )
    frame["CAPSULE"] = frame["CAPSULE"].asfactor()
    model = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=3)
    model.train(x=FEATURES, y="CAPSULE", training_frame=frame)
    rows = frame[:60, FEATURES]
    rows.as_data_frame(use_multi_thread=False).to_csv(root / "rows.csv", index=False)
    predictions = model.predict(rows).as_data_frame(use_multi_thread=False)
    predictions.to_csv(root / "predictions.csv", index=False)
    mojo = Path(model.download_mojo(str(root)))
    return Exported(mojo, root / "rows.csv", root / "predictions.csv")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The artifact store folder of this test (absent until something is stored)."""
    return tmp_path / "artifacts"


@pytest.fixture
def register(
    database_url: str, store: Path, settings_env: Callable[..., None]
) -> Callable[..., Result]:
    """Invoke `converge registry register ...` against the test's database and store."""
    settings_env(DATABASE_URL=database_url, ARTIFACT_STORE_URI=store.as_uri())

    def invoke(*args: object) -> Result:
        return CliRunner().invoke(cli, ["registry", "register", *map(str, args)])

    return invoke


def _nothing_written(database_url: str, store: Path) -> bool:
    with psycopg.connect(database_url) as conn:
        models = list_models(conn)
    return models == [] and not any(store.rglob("*.zip"))


def test_register_with_parity_check(
    register: Callable[..., Result], exported: Exported, database_url: str, store: Path
) -> None:
    result = register(
        exported.mojo,
        "--metrics",
        '{"auc": 0.79}',
        "--reason",
        "trained offline",
        "--check-against",
        exported.predictions,
        "--input",
        exported.rows,
    )
    assert result.exit_code == 0, result.output
    assert "registered model_version 1 (gbm, h2o 3.46.0.11)" in result.output
    assert "on 60 rows (tolerance 1e-06)" in result.output
    with psycopg.connect(database_url) as conn:
        (model,) = list_models(conn)
    assert model.algo == "gbm" and model.h2o_version_matches
    assert model.metrics == {"auc": 0.79}
    assert model.training_config["reason"] == "trained offline"
    assert model.training_config["parity_rows"] == 60
    assert model.training_config["parity_max_abs_diff"] <= 1e-6
    assert model.feature_list == tuple(FEATURES)
    (stored,) = store.rglob("*.zip")
    assert stored.read_bytes() == exported.mojo.read_bytes()
    assert model.artifact_uri == stored.as_uri() and model.artifact_sha256 in str(stored)

    again = register(exported.mojo)
    assert again.exit_code == 1
    assert "already registered as model_version 1" in again.output


def test_register_without_parity_check(
    register: Callable[..., Result], exported: Exported, database_url: str
) -> None:
    result = register(exported.mojo)
    assert result.exit_code == 0, result.output
    with psycopg.connect(database_url) as conn:
        (model,) = list_models(conn)
    assert model.metrics == {} and "parity_rows" not in model.training_config


def _mojo_with(exported: Exported, tmp_path: Path, key: str, value: str) -> Path:
    return rewrite_mojo(
        exported.mojo, tmp_path / "edited.zip", lambda name, text: set_info(text, key, value)
    )


def _shifted_predictions(exported: Exported, tmp_path: Path) -> Path:
    predictions = pd.read_csv(exported.predictions)
    predictions["p1"] = predictions["p1"] + [0.01 if i == 7 else 0.0 for i in range(60)]
    path = tmp_path / "shifted.csv"
    predictions.to_csv(path, index=False)
    return path


def _fewer_predictions(exported: Exported, tmp_path: Path) -> Path:
    path = tmp_path / "fewer.csv"
    pd.read_csv(exported.predictions).head(59).to_csv(path, index=False)
    return path


def _text_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _zip_without_ini(tmp_path: Path) -> Path:
    import zipfile

    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("domains/d000.txt", "a\n")
    return path


# (arguments made from the exported MOJO and tmp_path, exit code, message)
REFUSALS: dict[str, tuple[Callable[[Exported, Path], list[object]], int, str]] = {
    "not a zip": (
        lambda e, t: [_text_file(t, "model.zip", "not a zip")],
        1,
        "is not a zip file: not an H2O-3 MOJO",
    ),
    "no model.ini": (lambda e, t: [_zip_without_ini(t)], 1, "has no model.ini"),
    "other h2o version": (
        lambda e, t: [_mojo_with(e, t, "h2o_version", "3.44.0.3")],
        1,
        "was exported by H2O 3.44.0.3 (gbm); versions.env pins H2O_VERSION=3.46.0.11",
    ),
    "runtime refuses": (
        lambda e, t: [_mojo_with(e, t, "balance_classes", "true")],
        1,
        "the JVM-free runtime refuses",
    ),
    "metrics not JSON": (lambda e, t: [e.mojo, "--metrics", "auc=0.8"], 1, "--metrics is not JSON"),
    "metrics not an object": (
        lambda e, t: [e.mojo, "--metrics", "[0.8]"],
        1,
        "--metrics must be a JSON object",
    ),
    "metrics not finite": (
        lambda e, t: [e.mojo, "--metrics", '{"auc": NaN}'],
        1,
        "auc is nan, which JSON cannot store",
    ),
    "predictions without input": (
        lambda e, t: [e.mojo, "--check-against", e.predictions],
        2,
        "--check-against and --input go together",
    ),
    "parity differs": (
        lambda e, t: [e.mojo, "--check-against", _shifted_predictions(e, t), "--input", e.rows],
        1,
        "parity check failed: rows.csv: JVM-free runtime differs from H2O on column 'p1' "
        "by 1.000e-02",
    ),
    "row counts differ": (
        lambda e, t: [e.mojo, "--check-against", _fewer_predictions(e, t), "--input", e.rows],
        1,
        "holds 59 predictions for the 60 rows of",
    ),
    "predictions without predict column": (
        lambda e, t: [e.mojo, "--check-against", e.rows, "--input", e.rows],
        1,
        "has no 'predict' column",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_name_the_problem_and_write_nothing(
    case: str,
    register: Callable[..., Result],
    exported: Exported,
    tmp_path: Path,
    database_url: str,
    store: Path,
) -> None:
    make_args, exit_code, message = REFUSALS[case]
    result = register(*make_args(exported, tmp_path))
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert _nothing_written(database_url, store)


def test_unreachable_database_stores_nothing(
    exported: Exported, store: Path, settings_env: Callable[..., None]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings_env(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/converge",
        ARTIFACT_STORE_URI=store.as_uri(),
    )
    result = CliRunner().invoke(cli, ["registry", "register", str(exported.mojo)])
    assert result.exit_code == 1
    assert "cannot reach the converge database" in result.output
    assert not store.exists()
