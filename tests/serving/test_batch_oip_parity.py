"""A real H2O GBM (binomial): batch rows and OIP outputs equal /v1/predict's, row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving.client import running_app
from tests.serving.conftest import FEATURES, PATIENT, Registry, serving_settings, settings_for

pytestmark = pytest.mark.h2o


def patients(count: int) -> list[dict[str, Any]]:
    """Varied patients, some with a missing value."""
    return [
        {
            **PATIENT,
            "AGE": 45 + i,
            "PSA": 1.5 * i,
            "GLEASON": 5 + i % 4,
            "VOL": None if i % 6 == 0 else float(i),
        }
        for i in range(count)
    ]


async def test_batch_and_oip_equal_single_rows(
    registry: Registry, champion: int, redis_url: str, tmp_path: Path
) -> None:
    rows = patients(30)
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        singles = []
        for row in rows:
            answer = (await client.post("/v1/predict", json={"features": row})).json()
            singles.append(answer["predictions"][0]["prediction"])

        batch = (await client.post("/v1/predict/batch", json={"rows": rows})).json()
        assert batch["model_version"] == champion and batch["predictions"] == singles

        meta = (await client.get("/v2/models/champion")).json()
        assert [tensor["name"] for tensor in meta["inputs"]] == FEATURES
        assert meta["outputs"][0] == {"name": "predict", "datatype": "BYTES", "shape": [-1]}
        inputs = [
            {
                "name": name,
                "shape": [len(rows)],
                "datatype": "FP64",
                "data": [r[name] for r in rows],
            }
            for name in FEATURES
        ]
        answer = await client.post("/v2/models/champion/infer", json={"inputs": inputs})
        assert answer.status_code == 200, answer.text
        outputs = {tensor["name"]: tensor for tensor in answer.json()["outputs"]}
        assert list(outputs) == list(singles[0])  # predict, p0, p1: PredictCsv's columns
        assert outputs["predict"]["datatype"] == "BYTES"
        for name, tensor in outputs.items():
            assert tensor["shape"] == [len(rows)]
            assert tensor["data"] == [single[name] for single in singles], name
