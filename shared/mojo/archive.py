"""Reading a MOJO zip: `model.ini` (info, columns, domains) and the binary blobs next to it.

Nested models (StackedEnsemble base models) live in sub-directories of the same zip, so every read
goes through a prefix.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import numpy.typing as npt

from shared.mojo.errors import UnsupportedMojoError


@dataclass(frozen=True)
class MojoInfo:
    """The parsed `model.ini` of one (possibly nested) model."""

    info: dict[str, str]
    columns: list[str]
    domains: list[list[str] | None]

    def text(self, key: str) -> str:
        """A required `[info]` value as text."""
        if key not in self.info:
            raise UnsupportedMojoError(f"model.ini has no '{key}' entry")
        return self.info[key]

    def integer(self, key: str) -> int:
        """A required integer `[info]` value."""
        return int(self.text(key))

    def number(self, key: str) -> float:
        """A required floating-point `[info]` value."""
        return float(self.text(key))

    def flag(self, key: str, default: bool = False) -> bool:
        """A `true`/`false` `[info]` value."""
        return self.info.get(key, str(default)).strip().lower() == "true"

    def numbers(self, key: str) -> list[float]:
        """A required `[a, b, ...]` list of numbers."""
        values = self.optional_numbers(key)
        if values is None:
            raise UnsupportedMojoError(f"model.ini has no '{key}' list")
        return [float(value) for value in values]

    def optional_numbers(self, key: str) -> npt.NDArray[np.float64] | None:
        """A `[a, b, ...]` entry as Java's Arrays.toString writes it; None when absent or null.

        Java writes `NaN`, `Infinity` and `1.0E-5`, which numpy parses (Python literals do not);
        numpy also parses the tens of thousands of weights of a DeepLearning layer fast.
        """
        text = self.info.get(key, "null").strip()
        if text == "null":
            return None
        if not (text.startswith("[") and text.endswith("]")):
            raise UnsupportedMojoError(f"model.ini '{key}' is not a list: {text[:60]}")
        body = text[1:-1].strip()
        try:
            return np.array(body.split(","), dtype=np.float64) if body else np.empty(0)
        except ValueError as exc:
            raise UnsupportedMojoError(f"model.ini '{key}' is not a list of numbers") from exc

    @property
    def algo(self) -> str:
        """The `algo` entry (gbm, drf, xgboost, glm, stackedensemble, ...)."""
        return self.text("algo")

    @property
    def category(self) -> str:
        """The model category (Binomial, Multinomial, Regression, ...)."""
        return self.text("category")

    @property
    def n_features(self) -> int:
        """How many input columns the model reads (the response column comes after them)."""
        return self.integer("n_features")

    @property
    def feature_names(self) -> list[str]:
        """The input column names in the order the model indexes them."""
        return self.columns[: self.n_features]

    @property
    def feature_domains(self) -> list[list[str] | None]:
        """Per input column: its categorical levels, or None for a numeric column."""
        return self.domains[: self.n_features]

    @property
    def response_domain(self) -> list[str] | None:
        """The class labels of a classifier (None for regression)."""
        # The response is the last column: an offset (or weights) column may sit between.
        return self.domains[-1] if len(self.domains) > self.n_features else None

    @property
    def offset_column(self) -> str | None:
        """The offset column's name, when the model was trained with one."""
        name = self.info.get("offset_column", "null")
        return None if name == "null" else name


@dataclass
class MojoArchive:
    """An open MOJO zip, read relative to `prefix` (empty for the top-level model)."""

    zip: zipfile.ZipFile
    prefix: str = ""
    _names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._names = set(self.zip.namelist())

    def exists(self, name: str) -> bool:
        """Whether the zip holds `name` under this archive's prefix."""
        return self.prefix + name in self._names

    def read(self, name: str) -> bytes:
        """The bytes of `name` under this archive's prefix."""
        if not self.exists(name):
            raise UnsupportedMojoError(f"the MOJO has no '{self.prefix + name}'")
        return self.zip.read(self.prefix + name)

    def nested(self, directory: str) -> MojoArchive:
        """The archive of a model nested in `directory` (relative to the zip root)."""
        return MojoArchive(self.zip, str(PurePosixPath(directory)) + "/")

    def model_info(self) -> MojoInfo:
        """Parse `model.ini` and the domain files it points to."""
        sections = _sections(self.read("model.ini").decode("utf-8"))
        info: dict[str, str] = {}
        for line in sections.get("info", []):
            key, _, value = line.partition("=")
            info[key.strip()] = value.strip()
        columns = sections.get("columns", [])
        escaped = info.get("escape_domain_values", "false").lower() == "true"
        domains: list[list[str] | None] = [None] * len(columns)
        for line in sections.get("domains", []):
            # "<column index>: <level count> <file name>"
            index_text, _, rest = line.partition(":")
            count_text, file_name = rest.split()
            levels = (
                self.read(f"domains/{file_name}").decode("utf-8").split("\n")[: int(count_text)]
            )
            domains[int(index_text)] = [_unescape(level) for level in levels] if escaped else levels
        return MojoInfo(info=info, columns=columns, domains=domains)


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is not None:
            current.append(raw.rstrip("\r"))
    return sections


_UNESCAPED = {"n": "\n", "r": "\r"}


def _unescape(level: str) -> str:
    # genmodel escapes a newline inside a level as \n, a carriage return as \r, a backslash as \\.
    out: list[str] = []
    chars = iter(level)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_UNESCAPED.get(following, following))
        else:
            out.append(char)
    return "".join(out)
