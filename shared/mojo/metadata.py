"""The metadata every loaded model exposes, whichever runtime scores it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelMetadata:
    """What a model reads and how it was made: shared by `MojoModel` and `DaimojoModel`."""

    algo: str
    category: str
    columns: list[str]
    domains: dict[str, list[str]]
    response_column: str | None
    h2o_version: str
    mojo_version: str
