"""Prediction.threshold: the cut-off the runtime labels a binomial model's rows with, read from
its MOJO; for a stacked ensemble the metalearner's (it produces the probabilities)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.mojo import MojoModel, load_mojo
from tests.serving.conftest import FEATURES

pytestmark = pytest.mark.h2o


def test_a_stacked_ensemble_labels_with_its_metalearners_threshold(
    h2o_cluster: Any, tmp_path: Path
) -> None:
    import h2o
    from h2o.estimators import (
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2OStackedEnsembleEstimator,
    )

    csv = Path(h2o.__file__).parent / "h2o_data" / "prostate.csv"
    frame = h2o_cluster.upload_file(str(csv))
    frame["CAPSULE"] = frame["CAPSULE"].asfactor()
    common: dict[str, Any] = {
        "nfolds": 2,
        "fold_assignment": "Modulo",
        "keep_cross_validation_predictions": True,
        "seed": 7,
    }
    gbm = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, **common)
    gbm.train(x=FEATURES, y="CAPSULE", training_frame=frame)
    glm = H2OGeneralizedLinearEstimator(family="binomial", **common)
    glm.train(x=FEATURES, y="CAPSULE", training_frame=frame)
    ensemble = H2OStackedEnsembleEstimator(base_models=[gbm, glm], seed=7)
    ensemble.train(x=FEATURES, y="CAPSULE", training_frame=frame)
    model = load_mojo(ensemble.download_mojo(str(tmp_path)))
    assert isinstance(model, MojoModel)

    metalearner = ensemble.metalearner()
    expected = metalearner.default_threshold()
    rows = frame.as_data_frame(use_multi_thread=False)[FEATURES].to_dict("records")
    predicted = model.predict_rows(rows)

    assert model.label_threshold == pytest.approx(expected, abs=1e-12)
    labels = {str(row["predict"]) for row in predicted}
    assert labels == {"0", "1"}  # both sides of the threshold are exercised
    for row in predicted:
        assert str(row["predict"]) == ("1" if row["p1"] >= model.label_threshold else "0")
