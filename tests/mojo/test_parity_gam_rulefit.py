"""GAM and RuleFit MOJOs against genmodel's PredictCsv: every spline type and RuleFit model type.

GAM models read their gam columns raw (the runtime expands them into spline bases); the scoring
CSVs hold the training rows plus edge rows: blank gam values, +-1e30, unseen levels. Models that
genmodel 3.46.0.11 itself cannot score are refused, and the tests show genmodel failing on them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.mojo import UnsupportedMojoError, load_mojo
from shared.mojo.model import MojoModel
from tests.mojo.datasets import load_datasets
from tests.mojo.mojo_edit import rewrite_mojo, set_info
from tests.mojo.parity import (
    ParityCase,
    check_against_genmodel,
    predict_csv,
)

CATEGORICAL_X = ["RACE", "DPROS", "DCAPS"]

# name: (dataset, x, gam options, what the case covers)
GAM_MODELS: dict[str, tuple[str, list[str], dict[str, Any], str]] = {
    "gam-cs-prostate_binomial": (
        "prostate_binomial",
        [*CATEGORICAL_X, "GLEASON"],
        {"gam_columns": ["AGE", "PSA"], "bs": [0, 0], "num_knots": [5, 6]},
        "bs=0 (cubic regression)",
    ),
    "gam-tp-prostate_binomial": (
        "prostate_binomial",
        [*CATEGORICAL_X, "GLEASON"],
        {"gam_columns": [["AGE"], ["PSA", "VOL"]], "bs": [1, 1], "num_knots": [5, 8]},
        "bs=1 (thin plate, 1 and 2 columns)",
    ),
    "gam-is-prostate_binomial": (
        "prostate_binomial",
        [*CATEGORICAL_X, "GLEASON"],
        {"gam_columns": ["AGE", "PSA"], "bs": [2, 2], "num_knots": [5, 4], "spline_orders": [3, 2]},
        "bs=2 (I-spline, orders 3 and 2)",
    ),
    "gam-ms-prostate_binomial": (
        "prostate_binomial",
        [*CATEGORICAL_X, "GLEASON"],
        {"gam_columns": ["AGE", "PSA"], "bs": [3, 3], "num_knots": [5, 4], "spline_orders": [3, 2]},
        "bs=3 (M-spline, orders 3 and 2)",
    ),
    "gam-mixed-prostate_regression": (
        "prostate_regression",
        [*CATEGORICAL_X, "GLEASON"],
        {
            "gam_columns": ["AGE", ["PSA"], "GLEASON"],
            "bs": [0, 1, 3],
            "num_knots": [5, 4, 3],
            "spline_orders": [1, 1, 2],
        },
        "gaussian; bs=0, 1, 3; a gam column that is also a predictor",
    ),
    "gam-poisson-prostate_regression": (
        "prostate_regression",
        CATEGORICAL_X,
        {"family": "poisson", "gam_columns": ["AGE", "PSA"], "bs": [0, 1], "num_knots": [5, 5]},
        "poisson; bs=0, 1",
    ),
    "gam-mixed-iris_multinomial": (
        "iris_multinomial",
        ["Sepal.Length"],
        {
            "gam_columns": ["Petal.Length", ["Petal.Width"], "Sepal.Width"],
            "bs": [0, 1, 3],
            "num_knots": [5, 4, 4],
            "spline_orders": [1, 1, 3],
        },
        "multinomial; bs=0, 1, 3",
    ),
}
# GAMs genmodel 3.46.0.11 fails on: name -> (gam options, what the refusal names)
GAM_FAILING: dict[str, tuple[dict[str, Any], str]] = {
    "m-spline-order-1-before-thin-plate": (
        {"gam_columns": ["AGE", "PSA"], "bs": [3, 1], "num_knots": [5, 4], "spline_orders": [1, 1]},
        "writes past the end of the row",
    ),
    "m-spline-after-cubic": (
        {
            "gam_columns": ["GLEASON", "AGE"],
            "bs": [0, 3],
            "num_knots": [3, 5],
            "spline_orders": [1, 3],
        },
        "another column's matrix",
    ),
    "two-column-thin-plate-after-m-spline": (
        {
            "gam_columns": ["PSA", ["AGE", "VOL"]],
            "bs": [3, 1],
            "num_knots": [4, 6],
            "spline_orders": [2, 1],
        },
        "polynomial basis",
    ),
}
RULEFIT_MODELS = [
    ("rules", "prostate_binomial"),
    ("linear", "prostate_binomial"),
    ("rules_and_linear", "prostate_binomial"),
    ("rules", "synthetic_regression"),
    ("linear", "synthetic_regression"),
    ("rules_and_linear", "synthetic_regression"),
    ("rules", "synthetic_binomial"),
    ("rules_and_linear", "synthetic_multinomial"),
]


@pytest.fixture(scope="module")
def cases(h2o_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ParityCase]:
    """Small GAM and RuleFit models on prostate, iris and the synthetic frame, as MOJOs."""
    h2o = h2o_cluster
    from h2o.estimators import H2OGeneralizedAdditiveEstimator, H2ORuleFitEstimator

    directory = tmp_path_factory.mktemp("gam_rulefit")
    datasets = load_datasets(h2o)
    prostate = datasets["prostate_binomial"].frame

    def export(model: Any, name: str, dataset: str, options: str) -> None:
        target = directory / f"{name}.zip"
        Path(model.download_mojo(path=str(directory))).rename(target)
        built[name] = ParityCase(name, target, datasets[dataset].scoring_csv(directory), options)

    built: dict[str, ParityCase] = {}
    families = {"prostate_binomial": "binomial", "iris_multinomial": "multinomial"}
    for name, (dataset, x, options, described) in GAM_MODELS.items():
        settings = {"family": families.get(dataset, "gaussian"), **options}
        gam = H2OGeneralizedAdditiveEstimator(seed=1, **settings)
        gam.train(x=x, y=datasets[dataset].y, training_frame=datasets[dataset].frame)
        export(gam, name, dataset, described)
    for name, (options, _) in GAM_FAILING.items():
        gam = H2OGeneralizedAdditiveEstimator(seed=1, family="binomial", **options)
        gam.train(x=CATEGORICAL_X, y="CAPSULE", training_frame=prostate)
        export(gam, f"gam-fails-{name}", "prostate_binomial", "")
    for model_type, dataset in RULEFIT_MODELS:
        data = datasets[dataset]
        rulefit = H2ORuleFitEstimator(
            model_type=model_type,
            min_rule_length=1,
            max_rule_length=3,
            rule_generation_ntrees=5,
            max_num_rules=20,
            seed=1,
        )
        rulefit.train(x=data.x, y=data.y, training_frame=data.frame)
        export(rulefit, f"rulefit-{model_type}-{dataset}", dataset, f"model_type={model_type}")
    return built


@pytest.mark.h2o
@pytest.mark.parametrize("name", list(GAM_MODELS))
def test_gam_matches_genmodel(
    name: str, cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    model = check_against_genmodel(cases[name], genmodel_jar, tmp_path)
    assert model.algo == "gam"


@pytest.mark.h2o
def test_gam_columns_are_the_raw_gam_columns(cases: dict[str, ParityCase]) -> None:
    """What a user sends: the predictors, then every gam column once, never the basis columns."""
    two_column = load_mojo(cases["gam-tp-prostate_binomial"].mojo)
    assert two_column.columns == ["DPROS", "RACE", "DCAPS", "GLEASON", "AGE", "PSA", "VOL"]
    shared = load_mojo(cases["gam-mixed-prostate_regression"].mojo)
    assert shared.columns.count("GLEASON") == 1
    assert set(shared.columns) == {"DPROS", "RACE", "DCAPS", "GLEASON", "AGE", "PSA"}


@pytest.mark.h2o
def test_gam_blank_gam_value_is_imputed_not_missing(cases: dict[str, ParityCase]) -> None:
    """genmodel leaves a blank gam column's basis columns missing; mean imputation fills them."""
    model = load_mojo(cases["gam-cs-prostate_binomial"].mojo)
    assert isinstance(model, MojoModel)
    row = {"RACE": "1", "DPROS": "2", "DCAPS": "1", "GLEASON": "6", "PSA": "4"}
    blank, given = model.predict_rows([row, {**row, "AGE": "65"}])
    assert isinstance(blank["p1"], float) and 0.0 < blank["p1"] < 1.0
    assert blank["p1"] != given["p1"]


@pytest.mark.h2o
@pytest.mark.parametrize(("name", "named"), [(n, v[1]) for n, v in GAM_FAILING.items()])
def test_gam_genmodel_cannot_score_is_refused(
    name: str, named: str, cases: dict[str, ParityCase], genmodel_jar: Path, tmp_path: Path
) -> None:
    case = cases[f"gam-fails-{name}"]
    with pytest.raises(subprocess.CalledProcessError):
        predict_csv(genmodel_jar, case.mojo, case.scoring_csv, tmp_path / "out.csv")
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(case.mojo)


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("standardize", "true", "standardize=true"),
        ("num_knots_TP", "[4, 8]", "sizes disagree"),
    ],
)
def test_gam_thin_plate_edits_genmodel_fails_on_are_refused(
    key: str,
    value: str,
    named: str,
    cases: dict[str, ParityCase],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    case = cases["gam-tp-prostate_binomial"]
    edited = _edited(case.mojo, tmp_path, lambda text: set_info(text, key, value))
    with pytest.raises(subprocess.CalledProcessError):
        predict_csv(genmodel_jar, edited, case.scoring_csv, tmp_path / "out.csv")
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("family", "tweedie", "GAM family 'tweedie'"),
        ("mean_imputation", "false", "MeanImputation"),
        ("bs_sorted", "[1, 0, 3]", "sorted as bs"),
        ("num_knots_sorted", "[5, 4, 30]", "shorter than model.ini says"),
        ("numsCenter", "3", "do not follow its categoricals"),
        ("mojo_version", "1.10", "gam mojo_version 1.10"),
    ],
)
def test_gam_refuses_what_it_cannot_honour(
    key: str, value: str, named: str, cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = _edited(
        cases["gam-mixed-prostate_regression"].mojo,
        tmp_path,
        lambda text: set_info(text, key, value),
    )
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


@pytest.mark.h2o
@pytest.mark.parametrize(("model_type", "dataset"), RULEFIT_MODELS)
def test_rulefit_matches_genmodel(
    model_type: str,
    dataset: str,
    cases: dict[str, ParityCase],
    genmodel_jar: Path,
    tmp_path: Path,
) -> None:
    model = check_against_genmodel(cases[f"rulefit-{model_type}-{dataset}"], genmodel_jar, tmp_path)
    assert model.algo == "rulefit"
    assert model.columns[-1] == ("colour" if "synthetic" in dataset else "GLEASON")


@pytest.mark.h2o
@pytest.mark.parametrize(
    ("case", "key", "value", "named"),
    [
        ("rules_and_linear-prostate_binomial", "weights_column", "AGE", "weights column"),
        ("rules_and_linear-prostate_binomial", "linear_names_len", "3", "more columns"),
        ("rules_and_linear-prostate_binomial", "linear_names_0", "M7T7", "without column 'M7T7'"),
        ("rules_and_linear-prostate_binomial", "var_name_rule_id_0_0_0", "M9N1", "M9 is absent"),
        ("rules_and_linear-prostate_binomial", "var_name_rule_id_0_0_0", "linear.AGEN1", "not cat"),
        ("rules_and_linear-prostate_binomial", "feature_index_0_0_0_0", "99", "outside the row"),
        ("rules_and_linear-synthetic_multinomial", "num_rules_M0T0", "1", "without"),
        ("rules-prostate_binomial", "mojo_version", "1.10", "rulefit mojo_version 1.10"),
    ],
)
def test_rulefit_refuses_what_it_cannot_honour(
    case: str, key: str, value: str, named: str, cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = _edited(
        cases[f"rulefit-{case}"].mojo, tmp_path, lambda text: set_info(text, key, value)
    )
    with pytest.raises(UnsupportedMojoError, match=named):
        load_mojo(edited)


@pytest.mark.h2o
def test_rulefit_refuses_a_level_test_on_a_numeric_column(
    cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    condition = "0_0_0_0"
    edits = {f"feature_index_{condition}": "0", f"type_{condition}": "0"}
    edits[f"cat_treshold_length_{condition}"] = "0"

    def edit(text: str) -> str:
        for key, value in edits.items():
            text = set_info(text, key, value)
        return text

    edited = _edited(cases["rulefit-rules_and_linear-prostate_binomial"].mojo, tmp_path, edit)
    with pytest.raises(UnsupportedMojoError, match="categorical condition on a numeric column"):
        load_mojo(edited)


@pytest.mark.h2o
def test_rulefit_refuses_a_linear_model_that_is_not_a_glm(
    cases: dict[str, ParityCase], tmp_path: Path
) -> None:
    edited = rewrite_mojo(
        cases["rulefit-rules-prostate_binomial"].mojo,
        tmp_path / "edited.zip",
        lambda name, text: set_info(text, "algo", "gbm") if name.startswith("models/") else text,
    )
    with pytest.raises(UnsupportedMojoError, match="a 'gbm' linear model"):
        load_mojo(edited)


def _edited(source: Path, tmp_path: Path, edit: Callable[[str], str]) -> Path:
    load_mojo(source)  # the unedited model loads, so the edit is what is refused
    return rewrite_mojo(
        source,
        tmp_path / "edited.zip",
        lambda name, text: edit(text) if name == "model.ini" else text,
    )
