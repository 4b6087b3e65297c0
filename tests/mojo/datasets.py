"""The datasets the MOJO parity tests train on, with their rows as text and their edge rows.

h2o's shipped prostate.csv and iris.csv, and the synthetic frame (missing values, a 300-level
categorical). Each entry names what to train (x, y) and how to probe it: a known level per
categorical and the numeric columns, from which `edge_rows` builds the hostile rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tests.mojo.parity import edge_rows, synthetic_frame

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
PROSTATE_LEVELS = {"RACE": "1", "DPROS": "2", "DCAPS": "1"}
SYNTHETIC_X = ["x1", "x2", "city", "colour"]
SYNTHETIC_LEVELS = {"city": "city_001", "colour": "red"}


@dataclass(frozen=True)
class Dataset:
    """An H2O frame, the same rows as text, the columns to train on and how to probe them."""

    name: str
    frame: Any
    text: pd.DataFrame
    x: list[str]
    y: str
    levels: dict[str, str]
    numeric: list[str]

    def scoring_csv(self, directory: Path) -> Path:
        """The training rows plus edge rows as a CSV in `directory` (written once)."""
        path = directory / f"{self.name}.csv"
        if not path.exists():
            columns = [*self.x, self.y]
            edges = edge_rows(columns, self.levels, self.numeric)
            pd.concat([self.text[columns], edges], ignore_index=True).to_csv(path, index=False)
        return path


def load_datasets(h2o: Any, synthetic_rows: int = 800) -> dict[str, Dataset]:
    """Upload the datasets to the running cluster; every training/probing variant by name."""
    h2o_data = Path(str(h2o.__file__)).parent / "h2o_data"
    prostate_text = pd.read_csv(h2o_data / "prostate.csv", dtype=str)
    prostate = h2o.upload_file(str(h2o_data / "prostate.csv"))
    for column in ("CAPSULE", *PROSTATE_LEVELS):
        prostate[column] = prostate[column].asfactor()
    iris_text = pd.read_csv(h2o_data / "iris.csv", dtype=str)
    iris = h2o.upload_file(str(h2o_data / "iris.csv"))
    iris_x = list(iris_text.columns[:4])
    synthetic = synthetic_frame(rows=synthetic_rows)
    synthetic_h2o = h2o.H2OFrame(
        synthetic,
        column_types={"city": "enum", "colour": "enum", "y_bin": "enum", "y_multi": "enum"},
    )
    synthetic_text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)

    def without(column: str) -> list[str]:
        return [c for c in PROSTATE_X if c != column]

    def prostate_set(name: str, x: list[str], y: str, levels: dict[str, str]) -> Dataset:
        numeric = [c for c in x if c not in levels]
        return Dataset(name, prostate, prostate_text, x, y, levels, numeric)

    def synthetic_set(kind: str, y: str) -> Dataset:
        name = f"synthetic_{kind}"
        return Dataset(
            name, synthetic_h2o, synthetic_text, SYNTHETIC_X, y, SYNTHETIC_LEVELS, ["x1", "x2"]
        )

    datasets = [
        prostate_set("prostate_binomial", PROSTATE_X, "CAPSULE", PROSTATE_LEVELS),
        prostate_set("prostate_regression", without("VOL"), "VOL", PROSTATE_LEVELS),
        prostate_set("prostate_psa", without("PSA"), "PSA", PROSTATE_LEVELS),
        # every column probed as a number, the categoricals' levels included
        prostate_set("prostate_labels", PROSTATE_X, "CAPSULE", {}),
        Dataset("iris_multinomial", iris, iris_text, iris_x, "Species", {}, iris_x),
        synthetic_set("binomial", "y_bin"),
        synthetic_set("multinomial", "y_multi"),
        synthetic_set("regression", "y_reg"),
    ]
    return {dataset.name: dataset for dataset in datasets}


def export(model: Any, directory: Path, name: str) -> Path:
    """The model's MOJO, saved as `directory/name.zip`."""
    target = directory / f"{name}.zip"
    Path(model.download_mojo(path=str(directory))).rename(target)
    return target
