"""`converge mojo ...`: score a CSV with a MOJO like genmodel's PredictCsv, or describe a MOJO."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from shared.mojo import MojoInputError, UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel


def _load(path: Path) -> MojoModel:
    try:
        model = load_mojo(path)
    except (UnsupportedMojoError, FileNotFoundError) as error:
        raise click.ClickException(f"cannot load {path}: {error}") from error
    if not isinstance(model, MojoModel):
        raise click.ClickException(f"{path} is not an H2O-3 MOJO")
    return model


def read_predict_csv(path: Path) -> pd.DataFrame:
    """Read a CSV like PredictCsv: every cell as text ("", NA, N/A and - are missing)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read {path} as CSV: {error}") from error


@click.group()
def mojo() -> None:
    """Score and inspect H2O-3 MOJOs without a JVM."""


@mojo.command("predict")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
def predict(model_path: Path, input_path: Path, output_path: Path) -> None:
    """Score INPUT with MODEL_PATH and write PredictCsv's columns to OUTPUT."""
    model = _load(model_path)
    frame = read_predict_csv(input_path)
    unused = [name for name in frame.columns if name not in model.columns]
    if unused:
        click.echo(
            f"ignoring {len(unused)} column(s) the model does not read: {', '.join(unused)}",
            err=True,
        )
    absent = [name for name in model.columns if name not in frame.columns]
    if absent:
        click.echo(
            f"scoring as missing {len(absent)} absent column(s): {', '.join(absent)}", err=True
        )
    try:
        result = model.predict(frame)
    except MojoInputError as error:
        raise click.ClickException(str(error)) from error
    # Written whole after scoring succeeded, so a failure never leaves a truncated output file.
    temporary = output_path.with_name(output_path.name + ".partial")
    result.to_csv(temporary, index=False, na_rep="NA")
    temporary.replace(output_path)
    click.echo(f"scored {len(result)} rows with {model.algo} ({model.category}) into {output_path}")


@mojo.command("info")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def info(model_path: Path) -> None:
    """Print a MOJO's algorithm, category, versions, columns and class labels."""
    model = _load(model_path)
    click.echo(f"algo: {model.algo}")
    click.echo(f"category: {model.category}")
    click.echo(f"h2o_version: {model.h2o_version}")
    click.echo(f"mojo_version: {model.mojo_version}")
    click.echo(f"response_column: {model.response_column}")
    click.echo(f"output columns: {', '.join(model.output_columns)}")
    click.echo(f"input columns ({len(model.columns)}):")
    for name in model.columns:
        levels = model.domains.get(name)
        kind = "numeric" if levels is None else f"categorical, {len(levels)} levels"
        click.echo(f"  {name} ({kind})")
