"""`converge mojo ...`: score a CSV with a MOJO like genmodel's PredictCsv, or describe a MOJO."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

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
    """Read a CSV like PredictCsv: every cell as text ("", NA, N/A and - are missing).

    pyarrow parses it (several times faster than pandas' reader); the columns stay Arrow strings,
    which the MOJO encoder reads without a copy.
    """
    try:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle))
        options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
        )
        table = pacsv.read_csv(path, convert_options=options)
    except StopIteration as error:
        raise click.ClickException(f"cannot read {path} as CSV: the file is empty") from error
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error) as error:
        raise click.ClickException(f"cannot read {path} as CSV: {error}") from error
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return frame


def write_predictions_csv(result: pd.DataFrame, path: Path) -> None:
    """Write predictions as CSV with pyarrow (missing values as NA), whole or not at all."""
    temporary = path.with_name(path.name + ".partial")
    table = pa.Table.from_pandas(result, preserve_index=False)
    pacsv.write_csv(table, temporary, write_options=pacsv.WriteOptions(null_string="NA"))
    temporary.replace(path)


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
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads to score on (default: every core this process may use).",
)
def predict(model_path: Path, input_path: Path, output_path: Path, threads: int | None) -> None:
    """Score INPUT with MODEL_PATH and write PredictCsv's columns to OUTPUT."""
    model = _load(model_path)
    frame = read_predict_csv(input_path)
    read = {*model.columns, model.offset_column}
    unused = [name for name in frame.columns if name not in read]
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
        result = model.predict(frame, threads=threads)
    except MojoInputError as error:
        raise click.ClickException(str(error)) from error
    # Written whole after scoring succeeded, so a failure never leaves a truncated output file.
    write_predictions_csv(result, output_path)
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
    if model.offset_column is not None:
        click.echo(f"offset_column: {model.offset_column} (every row needs a number)")
    click.echo(f"output columns: {', '.join(model.output_columns)}")
    click.echo(f"input columns ({len(model.columns)}):")
    for name in model.columns:
        levels = model.domains.get(name)
        kind = "numeric" if levels is None else f"categorical, {len(levels)} levels"
        click.echo(f"  {name} ({kind})")


@mojo.command("compile-cache")
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Empty or new folder to compile into (CONVERGE_SERVING_KERNEL_CACHE then points at it).",
)
def compile_cache(directory: Path) -> None:
    """Compile every numba kernel for a generic CPU into DIR: serving starts without compiling."""
    from shared.kernel_cache import KernelCacheError, build_cache

    try:
        key = build_cache(directory)
    except KernelCacheError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"compiled the kernels of {len(key.sources)} modules into {directory} for Python "
        f"{key.python}, numba {key.numba}, {key.machine} CPU {key.cpu_name!r}"
    )
