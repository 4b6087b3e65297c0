"""`converge registry register`: bring your own MOJO into the artifact store and the registry.

Every check runs before anything is written: model.ini's h2o version against versions.env, the
runtime loading it, the optional parity check, the database. Only then is the file stored
(content-addressed) and registered, so a refusal leaves neither an artifact nor a model version.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import click
import pandas as pd
from pydantic import ValidationError

from converge.commands.mojo import read_predict_csv
from converge.commands.registry import registry_connection
from shared.artifacts import open_artifact_store, sha256_file
from shared.mojo import MojoInputError, UnsupportedMojoError, load_mojo
from shared.mojo.archive import MojoArchive
from shared.mojo.model import MojoModel
from shared.parity import PARITY_TOLERANCE, ParityError, check_parity
from shared.registry import NewModel, current_git_commit, list_models, register_model
from shared.versions import pinned_versions

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _model_ini(path: Path) -> tuple[str, str]:
    """The h2o_version and algo that `model.ini` declares."""
    try:
        with zipfile.ZipFile(path) as bundle:
            archive = MojoArchive(bundle)
            if not archive.exists("model.ini"):
                raise click.ClickException(f"{path} has no model.ini: not an H2O-3 MOJO")
            info = archive.model_info()
            return info.text("h2o_version"), info.algo
    except zipfile.BadZipFile as exc:
        raise click.ClickException(f"{path} is not a zip file: not an H2O-3 MOJO") from exc
    except (KeyError, ValueError) as exc:
        raise click.ClickException(f"{path}: model.ini is unreadable: {exc}") from exc


def _metrics(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--metrics is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise click.ClickException(f"--metrics must be a JSON object, got {text}")
    return value


def _load(path: Path) -> MojoModel:
    try:
        model = load_mojo(path)
    except UnsupportedMojoError as exc:
        raise click.ClickException(f"the JVM-free runtime refuses {path}: {exc}") from exc
    if not isinstance(model, MojoModel):
        raise click.ClickException(f"{path} is not an H2O-3 MOJO")
    return model


def _parity(model: MojoModel, predictions: Path, rows: Path) -> dict[str, Any]:
    """Score ROWS with the runtime and compare with H2O's (or genmodel's) PREDICTIONS of them."""
    frame = read_predict_csv(rows)
    try:
        expected = pd.read_csv(predictions)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {predictions} as CSV: {exc}") from exc
    if "predict" not in expected.columns:
        raise click.ClickException(
            f"{predictions} has no 'predict' column: expected H2O's or PredictCsv's output"
        )
    if len(expected) != len(frame):
        raise click.ClickException(
            f"{predictions} holds {len(expected)} predictions for the {len(frame)} rows of {rows}"
        )
    try:
        runtime = model.predict(frame)
        difference = check_parity(expected, runtime, rows.name)
    except (ParityError, MojoInputError, ValueError) as exc:
        raise click.ClickException(f"parity check failed: {exc}") from exc
    return {"parity_max_abs_diff": difference, "parity_rows": len(frame)}


def _new_model(
    path: Path, sha256: str, model: MojoModel, metrics: dict[str, Any], config: dict[str, Any]
) -> NewModel:
    """The registration, validated before the file is stored (its URI is filled in after)."""
    try:
        return NewModel(
            artifact_uri=f"file:///pending/{sha256}",
            artifact_sha256=sha256,
            git_commit_sha=current_git_commit(),
            h2o_version=model.h2o_version,
            algo=model.algo,
            metrics=metrics,
            training_config={"source": "registered", "file": path.name, **config},
            feature_list=list(model.columns),
            orchestrator="cli",
        )
    except (ValidationError, RuntimeError) as exc:
        raise click.ClickException(f"cannot register {path}: {exc}") from exc


@click.command("register")
@click.argument("model_path", type=FILE)
@click.option("--metrics", "metrics_json", help='Metrics to record, a JSON object: {"auc": 0.8}.')
@click.option("--reason", default=None, help="Why it is registered (kept in training_config).")
@click.option(
    "--check-against",
    "predictions",
    type=FILE,
    help="H2O's or genmodel PredictCsv's predictions of --input's rows (CSV with 'predict').",
)
@click.option("--input", "rows", type=FILE, help="The rows those predictions were made for (CSV).")
def registry_register(
    model_path: Path,
    metrics_json: str | None,
    reason: str | None,
    predictions: Path | None,
    rows: Path | None,
) -> None:
    """Store MODEL_PATH (an H2O-3 MOJO zip) and register it as a new model version.

    Refused unless model.ini's h2o_version is versions.env's H2O_VERSION and the JVM-free runtime
    loads it. With --check-against and --input, the runtime's predictions of the input rows must
    equal the given ones to within the tolerance training uses.
    """
    if (predictions is None) != (rows is None):
        raise click.UsageError("--check-against and --input go together")
    metrics = _metrics(metrics_json)
    h2o_version, algo = _model_ini(model_path)
    pinned = pinned_versions().h2o_version
    if h2o_version != pinned:
        raise click.ClickException(
            f"{model_path} was exported by H2O {h2o_version} ({algo}); versions.env pins "
            f"H2O_VERSION={pinned}, the only version the runtime is proven against"
        )
    model = _load(model_path)
    config: dict[str, Any] = {"reason": reason} if reason else {}
    if predictions is not None and rows is not None:
        config |= _parity(model, predictions, rows)
    new = _new_model(model_path, sha256_file(model_path), model, metrics, config)
    with registry_connection("training") as conn:
        for record in list_models(conn):
            if record.artifact_sha256 == new.artifact_sha256:
                raise click.ClickException(
                    f"{model_path} is already registered as model_version {record.model_version}"
                )
        stored = open_artifact_store().put_file(model_path)
        if stored.sha256 != new.artifact_sha256:
            raise click.ClickException(f"{model_path} changed while it was being registered")
        record = register_model(conn, new.model_copy(update={"artifact_uri": stored.uri}))
    checked = (
        f"; parity with {predictions.name}: max |diff| {config['parity_max_abs_diff']:.1e} "
        f"on {config['parity_rows']} rows (tolerance {PARITY_TOLERANCE:.0e})"
        if predictions is not None
        else ""
    )
    click.echo(
        f"registered model_version {record.model_version} ({record.algo}, h2o {h2o_version})\n"
        f"artifact: {stored.uri} sha256 {stored.sha256}{checked}\n"
        f"promote it: converge registry promote {record.model_version} --reason TEXT"
    )
