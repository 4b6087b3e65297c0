"""A stock Open Inference Protocol client (Triton's tritonclient.http) talks to converge unchanged.

Tensors go as JSON (`binary_data=False`): the binary tensor extension is not served (the server
metadata lists no extensions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.handmade_mojo import COEFFICIENTS
from tests.serving.conftest import Registry, serving_env
from tests.serving.server import uvicorn_server


def test_tritonclient_reads_metadata_and_infers(
    registry: Registry, glm_champion: int, redis_url: str, tmp_path: Path
) -> None:
    env = serving_env(registry, redis_url, tmp_path)
    with uvicorn_server(env, tmp_path / "serve.log") as base:
        client = triton.InferenceServerClient(base.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("champion")
        meta = client.get_model_metadata("champion")
        assert meta["versions"] == [str(glm_champion)]

        colour = triton.InferInput("colour", [3], "BYTES")
        colour.set_data_from_numpy(
            np.array([b"red", b"blue", b"green"], dtype=np.object_), binary_data=False
        )
        size = triton.InferInput("size", [3], "FP64")
        size.set_data_from_numpy(np.array([1.0, 2.0, 0.5]), binary_data=False)
        wanted = [triton.InferRequestedOutput("predict", binary_data=False)]
        result = client.infer("champion", [colour, size], outputs=wanted, request_id="r1")
        predicted = result.as_numpy("predict")
        assert predicted is not None
        expected = [
            COEFFICIENTS[c] + 3 * s + 10.0 for c, s in [("red", 1), ("blue", 2), ("green", 0.5)]
        ]
        assert predicted.tolist() == expected
        assert result.get_response()["id"] == "r1"

        try:
            client.infer("other", [size])
        except InferenceServerException as exc:
            assert "unknown model 'other'" in str(exc)
        else:
            raise AssertionError("an unknown model was answered")
        client.close()
