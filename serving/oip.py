"""The Open Inference Protocol (KServe / Triton / MLServer "v2" REST): documents and tensors.

The champion is the model `champion`; each feature column is one input tensor and each
prediction column (PredictCsv's: `predict`, then one probability per class) one output tensor,
all of shape [N] (an input may also be [N, 1]). Numeric columns take the numeric datatypes,
categorical ones BYTES (UTF-8 strings, sent as JSON strings); null is a missing value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from serving.scoring import LoadedModel
from shared.mojo.scorer import FloatArray

MODEL_NAME = "champion"
PLATFORM = "converge_mojo"

NUMERIC_TYPES = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
     "UINT64"}
)  # fmt: skip
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
# The Python types each kind of column's data may hold (None: a missing value).
_NUMBER = frozenset({int, float, type(None)})
_INTEGER = frozenset({int, type(None)})
_TEXT = frozenset({str, type(None)})


class OipError(Exception):
    """A request the protocol refuses; `status` is 400, or 404 for an unknown model."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class TensorIn(BaseModel):
    """One input tensor of an inference request."""

    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class OutputRequest(BaseModel):
    """An output the client asks for (all of them when the request names none)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """POST /v2/models/{name}/infer."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[TensorIn] = Field(min_length=1)
    outputs: list[OutputRequest] | None = None


def check_model_name(name: str) -> None:
    """Refuse any model but the champion (404, as the protocol's servers answer)."""
    if name != MODEL_NAME:
        raise OipError(f"unknown model '{name}': this server serves '{MODEL_NAME}'", status=404)


def input_datatype(model: LoadedModel, column: str) -> str:
    """The datatype the model's metadata gives a feature column."""
    return "BYTES" if column in model.mojo.domains else "FP64"


def output_metadata(model: LoadedModel) -> list[dict[str, Any]]:
    """The output tensors: `predict` (a label for classifiers), then the numeric columns."""
    label = "BYTES" if model.mojo.classes is not None else "FP64"
    return [
        {"name": name, "datatype": label if position == 0 else "FP64", "shape": [-1]}
        for position, name in enumerate(model.mojo.output_columns)
    ]


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    """GET /v2/models/champion: name, version, platform and tensor metadata."""
    return {
        "name": MODEL_NAME,
        "versions": [str(model.model_version)],
        "platform": PLATFORM,
        "inputs": [
            {"name": column, "datatype": input_datatype(model, column), "shape": [-1]}
            for column in model.mojo.columns
        ],
        "outputs": output_metadata(model),
    }


def _flat(tensor: TensorIn) -> list[Any]:
    """The tensor's values for an [N] or [N, 1] shape, nested data flattened one level."""
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 0:
        raise OipError(f"input '{tensor.name}': shape {shape} is not [N] or [N, 1]")
    data = tensor.data
    if data and type(data[0]) is list:
        if not all(type(item) is list and len(item) == 1 for item in data):
            raise OipError(f"input '{tensor.name}': nested data is not one value per row")
        data = [item[0] for item in data]
    if len(data) != shape[0]:
        raise OipError(
            f"input '{tensor.name}': shape {shape} holds {shape[0]} values, data has {len(data)}"
        )
    return data


def _column(tensor: TensorIn, data: list[Any], expected: str) -> list[Any] | FloatArray:
    """The tensor's values as a feature column: BYTES as given, numbers as float64 (null: NaN).

    Refuses a datatype the column cannot take, or values that are not of the datatype.
    """
    name, datatype = tensor.name, tensor.datatype
    if expected == "BYTES" and datatype != "BYTES":
        raise OipError(f"input '{name}' is categorical: datatype must be BYTES, not {datatype}")
    if expected != "BYTES" and datatype not in NUMERIC_TYPES:
        raise OipError(
            f"input '{name}' is numeric: datatype must be one of FP64, FP32, INT64, INT32 ..., "
            f"not {datatype}"
        )
    # One pass in C over the values' types: no per-value Python call for valid data.
    allowed = _TEXT if datatype == "BYTES" else _NUMBER if datatype in _FLOAT_TYPES else _INTEGER
    found = set(map(type, data))
    if not found <= allowed or bool in found:
        wrong = next(v for v in data if type(v) not in allowed or type(v) is bool)
        raise OipError(
            f"input '{name}': {type(wrong).__name__} value in a {datatype} tensor", status=400
        )
    if datatype == "BYTES":
        return data
    try:
        # One C loop, as the encoder reads numbers: None as NaN, an int as float() does.
        numbers: FloatArray = np.array(data, dtype=np.float64)
    except OverflowError as exc:  # an int past float64's range
        raise OipError(f"input '{name}': {exc}") from exc
    # The JSON parser reads NaN and Infinity: refused, where a NaN is one no null was read as.
    if (
        float in found
        and not np.isfinite(numbers).all()
        and (np.isinf(numbers).any() or np.count_nonzero(np.isnan(numbers)) > data.count(None))
    ):
        raise OipError(f"input '{name}': values must be finite numbers")
    return numbers


def decode_inputs(
    request: InferRequest, model: LoadedModel, max_rows: int
) -> dict[str, list[Any] | FloatArray]:
    """The request's tensors as feature columns by name, all of one length (after every check)."""
    columns = set(model.mojo.columns)
    named: dict[str, list[Any] | FloatArray] = {}
    for tensor in request.inputs:
        if tensor.name not in columns:
            raise OipError(
                f"unknown input '{tensor.name}': the model's inputs are "
                f"{', '.join(model.mojo.columns)}"
            )
        if tensor.name in named:
            raise OipError(f"input '{tensor.name}' is given twice")
        named[tensor.name] = _column(tensor, _flat(tensor), input_datatype(model, tensor.name))
    sizes = {len(data) for data in named.values()}
    if len(sizes) != 1:
        raise OipError(f"inputs disagree on the number of rows (shape[0]: {sorted(sizes)})")
    [rows] = sizes
    if rows == 0:
        raise OipError("inputs: shape[0] is 0; at least 1 row is required")
    if rows > max_rows:
        raise OipError(
            f"inputs: {rows} rows; at most {max_rows} per request (CONVERGE_SERVING_BATCH_MAX_ROWS)"
        )
    return named


def requested_outputs(request: InferRequest, model: LoadedModel) -> list[str]:
    """The output names to answer with, in the request's order (all by default)."""
    available = model.mojo.output_columns
    if request.outputs is None:
        return list(available)
    for output in request.outputs:
        if output.name not in available:
            raise OipError(
                f"unknown output '{output.name}': the model's outputs are {', '.join(available)}"
            )
    return [output.name for output in request.outputs]


def infer(request: InferRequest, model: LoadedModel, max_rows: int) -> bytes:
    """The inference response as JSON: one output tensor per requested prediction column."""
    columns = decode_inputs(request, model, max_rows)
    wanted = requested_outputs(request, model)
    # The tensors are columns already: no row mappings are built.
    preds = model.mojo.score_columns(columns, len(next(iter(columns.values()))))
    mojo = model.mojo
    positions = {name: position for position, name in enumerate(mojo.output_columns)}
    outputs = []
    for name in wanted:
        column = preds[:, positions[name]]
        if positions[name] == 0 and mojo.classes is not None:
            labels = list(map(mojo.classes.__getitem__, column.astype(np.intp).tolist()))
            outputs.append(_tensor(name, "BYTES", labels))
        else:
            # Written by orjson's numpy writer: the text of each float's Python value, and null
            # for NaN (a missing prediction: JSON has no NaN).
            outputs.append(_tensor(name, "FP64", np.ascontiguousarray(column)))
    response: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": str(model.model_version),
        "outputs": outputs,
    }
    if request.id is not None:
        response["id"] = request.id
    return orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)


def _tensor(name: str, datatype: str, data: Sequence[Any] | FloatArray) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}
