"""The parity check every MOJO test case goes through: genmodel's PredictCsv against the runtime.

`check_against_genmodel` scores a case's CSV with genmodel (the reference) and with the JVM-free
runtime, by both paths (`predict` on a frame, `predict_rows` on mappings with and without blank
cells), and asserts labels identical and numbers within `PARITY_TOLERANCE` (the rule training
shares). When CONVERGE_PARITY_REPORT names a file, each checked case appends one JSON line (case,
algo, category, options, rows, max |diff|): the scope table of docs/mojo.md is rendered from that
report (scripts/mojo_scope_table.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.mojo import load_mojo
from shared.mojo.archive import MojoArchive
from shared.mojo.model import MojoModel
from shared.parity import PARITY_TOLERANCE

REPORT_VARIABLE = "CONVERGE_PARITY_REPORT"
THRESHOLD_TIE_ULPS = 64


@dataclass(frozen=True)
class ParityCase:
    """One exported MOJO, the CSV both runtimes score, and what variant of its algo it is."""

    name: str
    mojo: Path
    scoring_csv: Path
    options: str = ""


def synthetic_frame(rows: int = 800, seed: int = 7) -> pd.DataFrame:
    """Numeric columns with holes, a 300-level categorical and a small one with missing levels."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, rows)
    x2 = rng.uniform(-50, 50, rows)
    city_index = rng.integers(0, 300, rows)
    colour = rng.choice(np.array(["red", "green", "blue", "black"], dtype=object), rows)
    signal = 1.5 * x1 + 0.04 * x2 + (city_index % 7 - 3) / 2.0 + (colour == "red") * 1.2
    x1[rng.random(rows) < 0.15] = np.nan
    x2[rng.random(rows) < 0.10] = np.nan
    colour[rng.random(rows) < 0.1] = None
    noisy = signal + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "city": [f"city_{i:03d}" for i in city_index],
            "colour": colour,
            "y_bin": np.where(noisy > 0.3, "yes", "no"),
            "y_multi": np.select([noisy < -1, noisy < 1], ["low", "mid"], "high"),
            "y_reg": 10 * noisy,
        }
    )


def edge_rows(columns: list[str], categorical: dict[str, str], numeric: list[str]) -> pd.DataFrame:
    """All-missing, blanks per column, unseen levels, numerics far outside the training range."""
    rows: list[dict[str, Any]] = [{name: "" for name in columns}]
    rows.append({**{n: "1" for n in numeric}, **{c: "never_seen_level" for c in categorical}})
    rows.append({**{n: "1e30" for n in numeric}, **dict(categorical)})
    rows.append({**{n: "-1e30" for n in numeric}, **dict(categorical)})
    rows.append({**{n: "1e9" for n in numeric}, **dict(categorical)})
    rows.append({**{n: "-1e9" for n in numeric}, **dict(categorical)})
    rows.append({**{n: "NA" for n in numeric}, **dict(categorical)})
    rows.append({**{n: "0" for n in numeric}, **{c: "N/A" for c in categorical}})
    full = {**{n: "1" for n in numeric}, **dict(categorical)}
    for blank in [*numeric, *categorical]:  # one row per column with only that column blank
        rows.append({**full, blank: ""})
    return pd.DataFrame(rows, columns=columns).fillna("")


def predict_csv(jar: Path, mojo: Path, scoring_csv: Path, output: Path) -> pd.DataFrame:
    """Score with genmodel's PredictCsv (one JVM for the whole file) and read its output."""
    java = shutil.which("java")
    assert java, "the parity tests need java for the genmodel reference"
    command = [java, "-cp", str(jar), "hex.genmodel.tools.PredictCsv", "--mojo", str(mojo)]
    command += ["--input", str(scoring_csv), "--output", str(output), "--decimal"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return pd.read_csv(output, keep_default_na=False, na_values=["NA"], dtype={"predict": str})


def max_difference(
    expected: pd.DataFrame, actual: pd.DataFrame, classes: bool, ties: frozenset[int] = frozenset()
) -> float:
    """Largest |difference| over the numeric columns; asserts columns, labels and NaNs agree.

    `ties` are rows whose label a difference within the tolerance may decide (see
    `threshold_ties`); every other label must be identical.
    """
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    worst = 0.0
    for column in expected.columns:
        if column == "predict" and classes:
            differ = actual[column].astype(str) != expected[column].astype(str)
            mismatched = sorted(set(np.flatnonzero(differ).tolist()) - ties)
            assert not mismatched, f"labels differ on rows {mismatched[:10]}"
            continue
        ours = actual[column].to_numpy(dtype=np.float64)
        theirs = expected[column].to_numpy(dtype=np.float64)
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), f"{column}: NaN pattern differs"
        worst = max(worst, float(np.nanmax(np.abs(ours - theirs), initial=0.0)))
    return worst


def assert_matches_genmodel(expected: pd.DataFrame, actual: pd.DataFrame, classes: bool) -> None:
    """Same columns and labels; numbers within 1e-6, NaN exactly where genmodel has NaN."""
    worst = max_difference(expected, actual, classes)
    assert worst <= PARITY_TOLERANCE, f"max |difference| {worst:.3g} over {PARITY_TOLERANCE:g}"


def threshold_ties(mojo: Path, expected: pd.DataFrame) -> frozenset[int]:
    """Binomial rows whose P(class 1) under genmodel is the model's label threshold.

    H2O picks the threshold among the training rows' own predictions, so such a row exists in
    any scoring of the training data; there genmodel's `p >= threshold` is decided in the last
    bits, where Java's `Math.exp` and the C library's may differ by an ULP (docs/mojo.md).
    """
    with zipfile.ZipFile(mojo) as bundle:
        info = MojoArchive(bundle).model_info()
    if info.category != "Binomial" or "default_threshold" not in info.info:
        return frozenset()
    p1 = expected.iloc[:, -1].to_numpy(dtype=np.float64)
    threshold = info.number("default_threshold")
    # "The threshold" to within the largest ULP distance seen between the two libraries.
    at_threshold = np.abs(p1 - threshold) <= THRESHOLD_TIE_ULPS * np.spacing(threshold)
    return frozenset(np.flatnonzero(at_threshold).tolist())


def check_against_genmodel(case: ParityCase, genmodel_jar: Path, workdir: Path) -> MojoModel:
    """Assert the runtime scores `case` as genmodel does, by every path; record it in the report."""
    expected = predict_csv(genmodel_jar, case.mojo, case.scoring_csv, workdir / "genmodel.csv")
    model = load_mojo(case.mojo)
    assert isinstance(model, MojoModel)
    classes = model.classes is not None
    ties = threshold_ties(case.mojo, expected)
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False)
    actual = model.predict(scoring)
    worst = max_difference(expected, actual, classes, ties)
    # serving's path without pandas: the same rows as mappings, and with blank cells left out.
    rows = [{str(key): v for key, v in row.items()} for row in scoring.to_dict(orient="records")]
    for given in (rows, [{key: v for key, v in row.items() if v != ""} for row in rows]):
        from_rows = pd.DataFrame(model.predict_rows(given), columns=model.output_columns)
        worst = max(worst, max_difference(expected, from_rows, classes, ties))
    assert worst <= PARITY_TOLERANCE, (
        f"{case.name}: max |difference| {worst:.3g} over {PARITY_TOLERANCE:g}"
    )
    assert model.h2o_version == "3.46.0.11"
    assert len(actual) == len(scoring)
    _record(case, model, expected, actual, worst, ties)
    return model


def ulp_distances(expected: pd.DataFrame, actual: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Per numeric cell, how many units in the last place the runtime is from genmodel."""
    numeric = [c for c in expected.columns if pd.api.types.is_numeric_dtype(expected[c])]
    theirs = expected[numeric].to_numpy(dtype=np.float64).ravel()
    ours = actual[numeric].to_numpy(dtype=np.float64).ravel()
    both = ~(np.isnan(theirs) | np.isnan(ours))
    theirs, ours = theirs[both], ours[both]
    spacing = np.spacing(np.maximum(np.abs(theirs), np.abs(ours)))
    return np.asarray(np.abs(ours - theirs) / spacing, dtype=np.float64)


def _record(
    case: ParityCase,
    model: MojoModel,
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    worst: float,
    ties: frozenset[int],
) -> None:
    report = os.environ.get(REPORT_VARIABLE)
    if not report:
        return
    ulps = ulp_distances(expected, actual)
    line = {
        "case": case.name,
        "algo": model.algo,
        "category": model.category,
        "options": case.options,
        "rows": len(expected),
        "values": int(ulps.size),
        "bit_identical": int((ulps == 0).sum()),
        "max_ulp": float(ulps.max(initial=0.0)),
        "max_abs_diff": worst,
        "threshold_ties": len(ties),
        "labels_decided_at_threshold": int(
            (actual["predict"].astype(str) != expected["predict"].astype(str)).sum()
        )
        if ties
        else 0,
    }
    with Path(report).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
