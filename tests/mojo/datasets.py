"""prostate and iris as H2O frames, and the CSVs (rows plus edge rows) the parity tests score."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tests.mojo.parity import edge_rows

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
PROSTATE_LEVELS = {"RACE": "1", "DPROS": "2", "DCAPS": "1"}


@dataclass(frozen=True)
class Problem:
    """A training frame, its columns, and a CSV of its rows plus edge rows to score."""

    frame: Any
    x: list[str]
    y: str
    scoring_csv: Path


def problems(h2o: Any, directory: Path) -> dict[str, Problem]:
    """prostate_binomial (CAPSULE), prostate_regression (VOL) and iris_multinomial (Species)."""
    data = Path(str(h2o.__file__)).parent / "h2o_data"
    prostate_text = pd.read_csv(data / "prostate.csv", dtype=str)
    prostate = h2o.upload_file(str(data / "prostate.csv"))
    for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        prostate[column] = prostate[column].asfactor()
    iris_text = pd.read_csv(data / "iris.csv", dtype=str)
    iris = h2o.upload_file(str(data / "iris.csv"))
    iris_x = list(iris_text.columns[:4])
    regression_x = [c for c in PROSTATE_X if c != "VOL"]
    specs = {
        "prostate_binomial": (prostate, prostate_text, PROSTATE_X, "CAPSULE", PROSTATE_LEVELS),
        "prostate_regression": (prostate, prostate_text, regression_x, "VOL", PROSTATE_LEVELS),
        "iris_multinomial": (iris, iris_text, iris_x, "Species", {}),
    }
    result: dict[str, Problem] = {}
    for name, (frame, text, x, y, levels) in specs.items():
        columns = [*x, y]
        numeric = [c for c in x if c not in levels]
        scoring = pd.concat([text[columns], edge_rows(columns, levels, numeric)], ignore_index=True)
        scoring_csv = directory / f"{name}.csv"
        scoring.to_csv(scoring_csv, index=False)
        result[name] = Problem(frame, x, y, scoring_csv)
    return result


def export(model: Any, directory: Path, name: str) -> Path:
    """The model's MOJO, saved as `directory/name.zip`."""
    target = directory / f"{name}.zip"
    Path(model.download_mojo(path=str(directory))).rename(target)
    return target
