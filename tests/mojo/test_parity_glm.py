"""GLM parity beyond the defaults: every family and link, missing-value handling, lambda search."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared.mojo import MojoInputError, UnsupportedMojoError, load_mojo
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import (
    ParityCase,
    check_against_genmodel,
    edge_rows,
    predict_csv,
    synthetic_frame,
)

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL"]
PROSTATE_LEVELS = {"RACE": "1", "DPROS": "2", "DCAPS": "1"}
SYNTHETIC_X = ["x1", "x2", "city", "colour"]
SYNTHETIC_LEVELS = {"city": "city_001", "colour": "red"}
HANDLINGS = ("MeanImputation", "PlugValues", "Skip")

# family: (response, H2O parameters). Responses: VOLFRAC = VOL / 100 in [0, 1], CAPSULE_NUM the
# 0/1 response as a number (quasibinomial wants one), GLEASON_ORD GLEASON's 7 ordered levels,
# GLEASON a count, AGE positive; iris for multinomial.
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "gaussian": ("VOL", {}),
    "binomial": ("CAPSULE", {}),
    "quasibinomial": ("CAPSULE_NUM", {}),
    "fractionalbinomial": ("VOLFRAC", {}),
    "poisson": ("GLEASON", {}),
    "negativebinomial": ("GLEASON", {"theta": 0.5}),
    "gamma": ("AGE", {}),
    "tweedie": ("VOL", {"tweedie_variance_power": 1.5, "tweedie_link_power": 0}),
    "multinomial": ("Species", {}),
    "ordinal": ("GLEASON_ORD", {"lambda_": 0.0}),  # the default lambda zeroes every slope
}
# Links other than the family's default, as GLMParameters.validate allows them.
LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gaussian-log": ("gaussian", "AGE", {"link": "log"}),
    "gaussian-inverse": ("gaussian", "AGE", {"link": "inverse"}),
    "poisson-identity": ("poisson", "GLEASON", {"link": "identity"}),
    "negativebinomial-identity": ("negativebinomial", "GLEASON", {"link": "identity", "theta": 1}),
    "gamma-log": ("gamma", "AGE", {"link": "log"}),
    "gamma-identity": ("gamma", "AGE", {"link": "identity"}),
    "tweedie-power1": (
        "tweedie",
        "VOL",
        {"tweedie_variance_power": 1.5, "tweedie_link_power": 1},
    ),
    "tweedie-power0.5": (
        "tweedie",
        "VOL",
        {"tweedie_variance_power": 1.2, "tweedie_link_power": 0.5},
    ),
}
SYNTHETIC: dict[str, tuple[str, dict[str, Any]]] = {
    "ordinal": ("y_multi", {"family": "ordinal"}),
    "tweedie": ("y_pos", {"family": "tweedie", "tweedie_variance_power": 1.2}),
    "negativebinomial": ("y_count", {"family": "negativebinomial", "theta": 1.0}),
    "gaussian-skip": ("y_reg", {"family": "gaussian", "missing_values_handling": "Skip"}),
}

CASES = (
    [f"{family}-{handling}" for family in FAMILIES for handling in HANDLINGS]
    + [f"{family}-lambda_search" for family in FAMILIES if family != "ordinal"]
    + list(LINKS)
    + [f"synthetic-{name}" for name in SYNTHETIC]
)


class _Data:
    """The training frames and, per feature set, the scoring CSVs with and without blanks."""

    def __init__(self, h2o: Any, directory: Path) -> None:
        self.directory = directory
        h2o_data = Path(str(h2o.__file__)).parent / "h2o_data"
        prostate = h2o.upload_file(str(h2o_data / "prostate.csv"))
        for column in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
            prostate[column] = prostate[column].asfactor()
        prostate["CAPSULE_NUM"] = prostate["CAPSULE"].asnumeric()
        prostate["VOLFRAC"] = prostate["VOL"] / 100.0
        prostate["GLEASON_ORD"] = prostate["GLEASON"].asfactor()
        self.prostate = prostate
        self.prostate_text = pd.read_csv(h2o_data / "prostate.csv", dtype=str)
        self.iris = h2o.upload_file(str(h2o_data / "iris.csv"))
        self.iris_text = pd.read_csv(h2o_data / "iris.csv", dtype=str)
        synthetic = synthetic_frame(rows=400)
        synthetic["y_pos"] = np.abs(synthetic["y_reg"]) + 0.5
        synthetic["y_count"] = np.floor(np.abs(synthetic["y_reg"]) / 3)
        self.synthetic = h2o.H2OFrame(
            synthetic,
            column_types={"city": "enum", "colour": "enum", "y_bin": "enum", "y_multi": "enum"},
        )
        self.synthetic_text = synthetic.astype(object).where(synthetic.notna(), "").astype(str)

    def scoring_csv(self, x: list[str], skip: bool, complete: bool = False) -> Path:
        """Training rows plus edge rows; for Skip only rows with every categorical known.

        `complete` also drops rows with a missing number (an ordinal GLM under Skip fails there).
        """
        if x == SYNTHETIC_X:
            text, levels = self.synthetic_text, SYNTHETIC_LEVELS
        elif x[0] in self.iris_text.columns:
            text, levels = self.iris_text, {}
        else:
            text, levels = self.prostate_text, PROSTATE_LEVELS
        numeric = [name for name in x if name not in levels]
        rows = pd.concat([text[x], edge_rows(x, levels, numeric)], ignore_index=True)
        if skip:
            known = np.ones(len(rows), dtype=bool)
            for name, level in levels.items():
                known &= rows[name].isin(set(text[name]) - {""}).to_numpy() | (rows[name] == level)
            if complete:
                known &= ~rows[numeric].isin(["", "NA", "N/A", "-"]).any(axis=1).to_numpy()
            rows = rows[known]
        path = (
            self.directory / f"{'-'.join(x)}{'-skip' if skip else ''}{'-c' if complete else ''}.csv"
        )
        rows.to_csv(path, index=False)
        return path


def _train(
    h2o: Any, data: _Data, family: str, y: str, params: dict[str, Any]
) -> tuple[Any, list[str]]:
    from h2o.estimators import H2OGeneralizedLinearEstimator

    if y == "Species":
        frame, x = data.iris, list(data.iris_text.columns[:4])
    elif y.startswith("y_"):
        frame, x = data.synthetic, SYNTHETIC_X
    else:
        frame, x = data.prostate, [name for name in PROSTATE_X if name != y]
    if params.get("missing_values_handling") == "PlugValues":
        plugs = {name: [frame[name].mean()[0] + 1.0] for name in x if not frame[name].isfactor()[0]}
        plugs.update(
            {name: [frame[name].levels()[0][-1]] for name in x if frame[name].isfactor()[0]}
        )
        params = {
            **params,
            "plug_values": h2o.H2OFrame(
                pd.DataFrame(plugs),
                column_types={name: "enum" for name in x if frame[name].isfactor()[0]},
            ),
        }
    model = H2OGeneralizedLinearEstimator(family=family, **params)
    model.train(x=x, y=y, training_frame=frame)
    return model, x


@pytest.fixture(scope="module")
def glm_cases(
    h2o_cluster: Any, genmodel_jar: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[ParityCase, Any]]:
    """Every case name: its exported MOJO and scoring CSV, and the H2O model it came from."""
    h2o = h2o_cluster
    directory = tmp_path_factory.mktemp("glm")
    data = _Data(h2o, directory)
    specs: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for family, (y, params) in FAMILIES.items():
        for handling in HANDLINGS:
            specs[f"{family}-{handling}"] = (
                family,
                y,
                {**params, "missing_values_handling": handling},
            )
        if family != "ordinal":
            specs[f"{family}-lambda_search"] = (
                family,
                y,
                {**params, "lambda_search": True, "nlambdas": 8},
            )
    specs.update(LINKS)
    for name, (y, params) in SYNTHETIC.items():
        params = dict(params)
        specs[f"synthetic-{name}"] = (params.pop("family"), y, params)
    cases: dict[str, tuple[ParityCase, Any]] = {}
    for name, (family, y, params) in specs.items():
        model, x = _train(h2o, data, family, y, params)
        mojo = directory / f"{name}.zip"
        Path(model.download_mojo(path=str(directory))).rename(mojo)
        skip = params.get("missing_values_handling") == "Skip"
        options = ", ".join(f"{key}={value}" for key, value in {"family": family, **params}.items())
        scoring = data.scoring_csv(x, skip, complete=skip and family == "ordinal")
        cases[name] = (ParityCase(f"glm-{name}", mojo, scoring, options), model)
    return cases


@pytest.mark.h2o
@pytest.mark.parametrize("name", CASES)
def test_glm_matches_genmodel(
    name: str, glm_cases: dict[str, tuple[ParityCase, Any]], genmodel_jar: Path, tmp_path: Path
) -> None:
    case, _ = glm_cases[name]
    model = check_against_genmodel(case, genmodel_jar, tmp_path)
    assert model.algo == "glm"


@pytest.mark.h2o
@pytest.mark.parametrize("family", [family for family in FAMILIES if family != "ordinal"])
def test_lambda_search_mojo_holds_the_chosen_lambda(
    family: str, glm_cases: dict[str, tuple[ParityCase, Any]], h2o_cluster: Any
) -> None:
    """The MOJO scores the training rows as H2O's own predict does with the lambda it chose."""
    case, model = glm_cases[f"{family}-lambda_search"]
    lambdas = model._model_json["output"]["lambda_1se"], model._model_json["output"]["lambda_best"]
    assert lambdas[1] > 0, "lambda search chose no regularisation: the test proves less"
    ours_model = load_mojo(case.mojo)
    training_rows = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False).iloc[:50]
    types = {name: "enum" if name in ours_model.domains else "real" for name in training_rows}
    frame = h2o_cluster.H2OFrame(training_rows, column_types=types)
    expected = model.predict(frame).as_data_frame()
    ours = ours_model.predict(training_rows)
    column = "predict" if len(expected.columns) == 1 else expected.columns[-1]
    np.testing.assert_allclose(
        ours[ours.columns[-1]].to_numpy(float), expected[column].to_numpy(float), atol=1e-8
    )


@pytest.mark.h2o
@pytest.mark.parametrize("row", [{"RACE": ""}, {"DPROS": "never_seen_level"}])
def test_skip_fails_on_a_missing_categorical_like_genmodel(
    row: dict[str, str],
    glm_cases: dict[str, tuple[ParityCase, Any]],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    """genmodel throws on a missing level without imputation: PredictCsv stops, we name it."""
    case, _ = glm_cases["binomial-Skip"]
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False).iloc[:3]
    scoring.loc[1, list(row)] = list(row.values())
    path = tmp_path / "bad.csv"
    scoring.to_csv(path, index=False)
    with pytest.raises(Exception, match="returned non-zero exit status"):
        predict_csv(genmodel_jar, case.mojo, path, tmp_path / "out.csv")
    model = load_mojo(case.mojo)
    column = next(iter(row))
    with pytest.raises(MojoInputError, match=f"column '{column}'.* row 1"):
        model.predict(scoring)
    with pytest.raises(MojoInputError, match=f"column '{column}'.* row 1"):
        model.predict_rows(scoring.to_dict(orient="records"))


@pytest.mark.h2o
def test_ordinal_skip_fails_on_a_missing_number_like_genmodel(
    glm_cases: dict[str, tuple[ParityCase, Any]], genmodel_jar: Path, tmp_path: Path
) -> None:
    """NaN class probabilities leave genmodel no label (index -1): PredictCsv stops, we raise."""
    case, _ = glm_cases["ordinal-Skip"]
    scoring = pd.read_csv(case.scoring_csv, dtype=str, keep_default_na=False).iloc[:3]
    scoring.loc[2, "PSA"] = ""
    path = tmp_path / "bad.csv"
    scoring.to_csv(path, index=False)
    with pytest.raises(Exception, match="returned non-zero exit status"):
        predict_csv(genmodel_jar, case.mojo, path, tmp_path / "out.csv")
    with pytest.raises(MojoInputError, match="row 2"):
        load_mojo(case.mojo).predict(scoring)


@pytest.mark.h2o
def test_refuses_an_ordinal_glm_with_an_offset(
    glm_cases: dict[str, tuple[ParityCase, Any]], tmp_path: Path
) -> None:
    """H2O cannot train one (GLMTask: unimplemented), so no such MOJO has been checked."""
    edited = rewrite_mojo(
        glm_cases["ordinal-MeanImputation"][0].mojo,
        tmp_path / "edited.zip",
        lambda _, text: set_info(text, "offset_column", "PSA"),
    )
    with pytest.raises(UnsupportedMojoError, match="offset column on an ordinal GLM"):
        load_mojo(edited)


@pytest.mark.h2o
def test_refuses_a_glm_with_interactions(
    glm_cases: dict[str, tuple[ParityCase, Any]], tmp_path: Path
) -> None:
    """3.46 exports none (haveMojo is false); one would read interaction columns no row holds."""
    source = glm_cases["binomial-MeanImputation"][0].mojo
    target = tmp_path / "interactions.zip"
    member = "experimental/modelDetails.json"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == member:
                details = json.loads(data)
                for parameter in details["parameters"]:
                    if parameter["name"] == "interactions":
                        parameter["actual_value"] = ["AGE", "PSA"]
                data = json.dumps(details).encode()
            copy.writestr(item, data)
    load_mojo(source)
    with pytest.raises(UnsupportedMojoError, match="interaction columns"):
        load_mojo(target)
