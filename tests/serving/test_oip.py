"""The Open Inference Protocol routes: spec-shaped requests, refusals, and readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.handmade_mojo import COEFFICIENTS
from tests.serving.client import running_app
from tests.serving.conftest import Registry, serving_settings, settings_for

INFER = "/v2/models/champion/infer"


def tensors(colours: list[Any], sizes: list[Any]) -> dict[str, Any]:
    """An infer request as the spec shows them: one tensor per input, shape [N], flat data."""
    return {
        "id": "req-1",
        "inputs": [
            {"name": "colour", "shape": [len(colours)], "datatype": "BYTES", "data": colours},
            {"name": "size", "shape": [len(sizes)], "datatype": "FP64", "data": sizes},
        ],
    }


async def test_metadata_infer_and_equal_to_v1(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        assert (await client.get("/v2/health/ready")).status_code == 200
        assert (await client.get("/v2/models/champion/ready")).json()["ready"] is True
        meta = (await client.get("/v2/models/champion")).json()
        assert meta["name"] == "champion" and meta["versions"] == [str(glm_champion)]
        assert meta["inputs"] == [
            {"name": "colour", "datatype": "BYTES", "shape": [-1]},
            {"name": "size", "datatype": "FP64", "shape": [-1]},
        ]
        assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]

        colours, sizes = ["red", "blue", None, "green"], [1.0, 2, 0.5, None]
        answer = await client.post(INFER, json=tensors(colours, sizes))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_name"] == "champion" and body["id"] == "req-1"
        assert body["model_version"] == str(glm_champion)
        [output] = body["outputs"]
        assert output["name"] == "predict" and output["datatype"] == "FP64"
        assert output["shape"] == [4]
        assert output["data"][0] == COEFFICIENTS["red"] + 3 * 1.0 + 10.0  # the model's formula
        for colour, size, value in zip(colours, sizes, output["data"], strict=True):
            single = await client.post(
                "/v1/predict", json={"features": {"colour": colour, "size": size}}
            )
            assert single.json()["predictions"][0]["prediction"]["predict"] == value

        # [N, 1] with nested data, INT64 for a numeric column, one named output.
        nested = {
            "inputs": [
                {"name": "size", "shape": [2, 1], "datatype": "INT64", "data": [[1], [3]]},
            ],
            "outputs": [{"name": "predict"}],
        }
        answer = await client.post(INFER, json=nested)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["shape"] == [2]
        assert "id" not in answer.json()


async def test_malformed_requests_are_refused_with_the_reason(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    cases: list[tuple[dict[str, Any], str]] = []
    wrong_type = tensors(["red"], [1.0])
    wrong_type["inputs"][0]["datatype"] = "FP64"
    cases.append((wrong_type, "input 'colour' is categorical: datatype must be BYTES"))
    text_in_numbers = tensors(["red"], ["big"])
    cases.append((text_in_numbers, "input 'size': str value in a FP64 tensor"))
    floats_in_ints = tensors(["red"], [1.5])
    floats_in_ints["inputs"][1]["datatype"] = "INT64"
    cases.append((floats_in_ints, "input 'size': float value in a INT64 tensor"))
    bools = tensors(["red"], [True])
    cases.append((bools, "input 'size': bool value in a FP64 tensor"))
    mismatch = tensors(["red", "blue"], [1.0, 2.0])
    mismatch["inputs"][1]["shape"] = [3]
    cases.append((mismatch, "input 'size': shape [3] holds 3 values, data has 2"))
    matrix = tensors(["red", "blue"], [1.0, 2.0])
    matrix["inputs"][1]["shape"] = [1, 2]
    cases.append((matrix, "input 'size': shape [1, 2] is not [N] or [N, 1]"))
    disagree = tensors(["red", "blue"], [1.0])
    cases.append((disagree, "inputs disagree on the number of rows"))
    unknown = tensors(["red"], [1.0])
    unknown["inputs"][1]["name"] = "weight"
    cases.append((unknown, "unknown input 'weight': the model's inputs are colour, size"))
    twice = tensors(["red"], [1.0])
    twice["inputs"][0] = twice["inputs"][1]
    cases.append((twice, "input 'size' is given twice"))
    bad_output = {**tensors(["red"], [1.0]), "outputs": [{"name": "p1"}]}
    cases.append((bad_output, "unknown output 'p1'"))
    no_inputs: dict[str, Any] = {"inputs": []}
    cases.append((no_inputs, "inputs: List should have at least 1 item"))
    no_data = tensors(["red"], [1.0])
    del no_data["inputs"][0]["data"]
    cases.append((no_data, "inputs.0.data: Field required"))
    too_many = tensors(["red"] * 6, [1.0] * 6)
    cases.append((too_many, "inputs: 6 rows; at most 5 per request"))
    empty = tensors([], [])
    cases.append((empty, "shape[0] is 0"))
    async with running_app(serving_settings(tmp_path, batch_max_rows=5), settings) as (_, client):
        for request, reason in cases:
            answer = await client.post(INFER, json=request)
            assert answer.status_code == 400, (reason, answer.text)
            assert reason in answer.json()["error"], (reason, answer.text)
        not_json = await client.post(
            INFER, content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400 and "error" in not_json.json()
        # What the JSON parser reads but no number column takes; a null is a missing value.
        for data, reason in (
            ("[NaN]", "input 'size': values must be finite numbers"),
            ("[1.5, null, Infinity]", "input 'size': values must be finite numbers"),
            ("[null, -Infinity]", "input 'size': values must be finite numbers"),
            ("[null, NaN]", "input 'size': values must be finite numbers"),
            ("[1" + "0" * 400 + "]", "input 'size': int too large to convert to float"),
        ):
            rows = data.count(",") + 1
            size = f'{{"name": "size", "shape": [{rows}], "datatype": "FP64", "data": {data}}}'
            answer = await client.post(
                INFER,
                content=f'{{"inputs": [{size}]}}'.encode(),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 400, (data, answer.text)
            assert reason in answer.json()["error"], (data, answer.text)

        for path in ("/v2/models/other", "/v2/models/other/ready"):
            missing = await client.get(path)
            assert missing.status_code == 404 and "unknown model 'other'" in missing.json()["error"]
        missing = await client.post("/v2/models/other/infer", json=tensors(["red"], [1.0]))
        assert missing.status_code == 404 and "unknown model 'other'" in missing.json()["error"]


async def test_not_ready_without_a_champion(
    registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(registry, redis_url, tmp_path)
    async with running_app(serving_settings(tmp_path), settings) as (_, client):
        assert (await client.get("/v2/health/live")).status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.get("/v2/models/champion/ready")).json()["ready"] is False
        answer = await client.post(INFER, json=tensors(["red"], [1.0]))
        assert answer.status_code == 503 and "not loaded" in answer.json()["error"]
