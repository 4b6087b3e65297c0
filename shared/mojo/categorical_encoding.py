"""The categorical encodings genmodel applies before a model scores (`_genmodel_encoding`).

A GBM or DRF trained with `categorical_encoding` other than AUTO/Enum reads an encoded matrix
(one-hot, binary digits, label integers, limited levels, eigen projections), yet its users send the
original columns. genmodel's EasyPredictModelWrapper turns one into the other with the encoders of
`hex.genmodel.easy`, from the original names and levels the MOJO keeps in `_orig_names` and
`_orig_domain_values_N`. `read_input_encoding` rebuilds those encoders, and `EncodedScorer` applies
them to whole columns before the tree scorer, as genmodel does row by row. genmodel is the
reference even where it disagrees with H2O's own predict (EnumLimited and Eigen place every
original column at its original position, whatever order the model's columns are in).

Rows reach `encode` in original-column order: numbers, or for a categorical the index of the value
in the column's vocabulary, NaN when the value is missing and `UNSEEN` when it is a level genmodel
does not know. The difference matters: PredictCsv leaves a missing value out of the row, so every
column it would have written stays NaN, while an unseen level is written as the encoder's NA value
(one-hot's NA slot, binary zeros).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.encoding import RowEncoder
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.scorer import FloatArray, Scorer

UNSEEN = -1.0
# SharedTreeMojoModel.getCategoricalEncoding: the model.ini name to the encoder genmodel applies.
TREE_ENCODINGS = {
    "AUTO": "AUTO",
    "Enum": "AUTO",
    "SortByResponse": "AUTO",
    "OneHotExplicit": "OneHotExplicit",
    "Binary": "Binary",
    "LabelEncoder": "LabelEncoder",
    "EnumLimited": "EnumLimited",
    "Eigen": "Eigen",
}
_ENCODINGS_BY_ALGO = {"gbm": TREE_ENCODINGS, "drf": TREE_ENCODINGS}
# java.lang.String.trim removes every character up to the space at either end.
_JAVA_WHITESPACE = "".join(chr(code) for code in range(33))
_JAVA_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ColumnWriter(Protocol):
    """Writes one original column into its slots of the model's matrix."""

    @property
    def target(self) -> int:
        """The first model column written."""
        ...

    @property
    def width(self) -> int:
        """How many model columns are written."""
        ...

    def write(self, values: FloatArray, out: FloatArray) -> None:
        """Fill `out[:, target:target + width]` from one original column's values."""
        ...


@dataclass(frozen=True)
class Numeric:
    """A numeric column, copied to its position."""

    target: int
    width: int = 1

    def write(self, values: FloatArray, out: FloatArray) -> None:
        """The value itself (NaN stays missing)."""
        out[:, self.target] = values


@dataclass(frozen=True)
class OneHot:
    """hex.genmodel.easy.OneHotEncoder: one slot per level plus a last one for NA."""

    target: int
    levels: int

    @property
    def width(self) -> int:
        """Levels plus the NA slot."""
        return self.levels + 1

    def write(self, values: FloatArray, out: FloatArray) -> None:
        """1 in the level's slot, 0 elsewhere; an unseen level is hot in the NA slot."""
        hot = np.where(values == UNSEEN, self.levels, values)
        block = (hot[:, None] == np.arange(self.width)).astype(np.float64)
        block[np.isnan(values)] = np.nan
        out[:, self.target : self.target + self.width] = block


@dataclass(frozen=True)
class BinaryDigits:
    """hex.genmodel.easy.BinaryEncoder: level index + 1 in binary, lowest bit first, 0 for NA."""

    target: int
    levels: int

    @property
    def width(self) -> int:
        """1 + floor(log2(levels)) digits (MathUtils.log2)."""
        return self.levels.bit_length()

    def write(self, values: FloatArray, out: FloatArray) -> None:
        """The digits of index + 1; an unseen level is all zeros."""
        missing = np.isnan(values)
        number = np.where(missing, 0.0, values + 1.0).astype(np.int64)
        block = ((number[:, None] >> np.arange(self.width)) & 1).astype(np.float64)
        block[missing] = np.nan
        out[:, self.target : self.target + self.width] = block


@dataclass(frozen=True)
class Lookup:
    """One value per known level (LabelEncoder, EnumLimited, Eigen); unseen levels are NaN."""

    target: int
    table: FloatArray
    yields_levels: bool
    width: int = 1

    def write(self, values: FloatArray, out: FloatArray) -> None:
        """The table's value for each level index."""
        known = values >= 0  # False for NaN and UNSEEN
        column = np.full(len(values), np.nan)
        column[known] = self.table[values[known].astype(np.intp)]
        out[:, self.target] = column


@dataclass(frozen=True)
class InputEncoding:
    """How original columns become the model's matrix: genmodel's column mapping and encoders."""

    name: str
    names: list[str]
    domains: list[list[str] | None]
    vocabularies: list[list[str] | None]
    writers: list[ColumnWriter]
    width: int

    def encode(self, rows: FloatArray) -> FloatArray:
        """The model's matrix; columns no original column writes stay NaN, as in genmodel."""
        out = np.full((len(rows), self.width), np.nan)
        for index, writer in enumerate(self.writers):
            writer.write(rows[:, index], out)
        return out

    def row_encoder(self) -> RowEncoder:
        """Reads input values into original-column rows (vocabulary indices, UNSEEN)."""
        return RowEncoder.for_columns(self.names, self.vocabularies, unseen=UNSEEN)

    def input_info(self, info: MojoInfo) -> MojoInfo:
        """`info` with the original columns and levels as the model's inputs."""
        response = info.columns[info.n_features :]
        return MojoInfo(
            info={**info.info, "n_features": str(len(self.names))},
            columns=[*self.names, *response],
            domains=[*self.domains, *info.domains[info.n_features :]],
        )


@dataclass(frozen=True)
class EncodedScorer:
    """A scorer of the model's matrix, fed original-column rows through `encoding`."""

    encoding: InputEncoding
    scorer: Scorer

    def score(self, rows: FloatArray) -> FloatArray:
        """Encode, then score: the row genmodel's tie-breaking hashes is the encoded one too."""
        return self.scorer.score(self.encoding.encode(rows))


def read_input_encoding(archive: MojoArchive, info: MojoInfo) -> InputEncoding | None:
    """The encoding genmodel applies to this model's inputs; None when it reads them as they are."""
    name = info.info.get("_genmodel_encoding", "AUTO")
    encodings = _ENCODINGS_BY_ALGO.get(info.algo)
    if encodings is None:
        return None  # the algorithm's own checks refuse encodings it does not score
    kind = encodings.get(name)
    if kind is None:
        raise UnsupportedMojoError(f"categorical_encoding '{name}' (genmodel cannot score it)")
    if kind == "AUTO":
        return None
    originals = _Originals.read(archive, info, name)
    builders = {
        "OneHotExplicit": _one_hot_or_binary,
        "Binary": _one_hot_or_binary,
        "LabelEncoder": _label_encoder,
        "EnumLimited": _enum_limited,
        "Eigen": _eigen,
    }
    encoding = builders[kind](originals, info, kind)
    _check_fits(encoding, info)
    return encoding


@dataclass(frozen=True)
class _Originals:
    """The columns before encoding, as genmodel reads them (lines trimmed, newlines unescaped)."""

    names: list[str]
    domains: list[list[str] | None]
    count: int  # getOrigNumCols: the original names without the response

    @classmethod
    def read(cls, archive: MojoArchive, info: MojoInfo, encoding: str) -> _Originals:
        if "_n_orig_names" not in info.info or "_n_orig_domain_values" not in info.info:
            raise UnsupportedMojoError(f"categorical_encoding '{encoding}' without its columns")
        names = _string_array(archive, "_orig_names", info.integer("_n_orig_names"))
        domains: list[list[str] | None] = []
        for index in range(info.integer("_n_orig_domain_values")):
            size = info.integer(f"_m_orig_domain_values_{index}")
            file = f"_orig_domain_values_{index}"
            domains.append(_string_array(archive, file, size) if size > 0 else None)
        count = len(names) - 1 if names and names[-1] == info.columns[-1] else len(names)
        if len(domains) < count:
            raise UnsupportedMojoError(f"categorical_encoding '{encoding}': too few domains")
        return cls(names, domains, count)


def _string_array(archive: MojoArchive, file: str, size: int) -> list[str]:
    text = archive.read(file).decode("utf-8")
    lines = _JAVA_LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # BufferedReader.readLine yields no line after the last line break
    if len(lines) != size:
        raise UnsupportedMojoError(f"'{file}' holds {len(lines)} lines, model.ini says {size}")
    return [_unescape_newlines(line).strip(_JAVA_WHITESPACE) for line in lines]


def _unescape_newlines(text: str) -> str:
    # StringEscapeUtils.unescapeNewlines: \n and \r are escapes, any other escaped char stands for
    # itself, and a backslash at the very end is dropped.
    return re.sub(r"\\(.?)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), text, flags=re.S)


def _one_hot_or_binary(originals: _Originals, info: MojoInfo, kind: str) -> InputEncoding:
    # OneHotEncoderColumnMapper / BinaryColumnMapper: numeric columns first, then each categorical.
    positions: dict[int, int] = {}
    position = 0
    for numeric_first in (True, False):
        for index in range(originals.count):
            if (originals.domains[index] is None) == numeric_first:
                positions[index] = position
                domain = originals.domains[index]
                if domain is None:
                    position += 1
                elif kind == "OneHotExplicit":
                    position += len(domain) + 1
                else:
                    position += len(domain).bit_length()
    width = info.n_features
    names, domains = [], []
    writers: list[ColumnWriter] = []
    for index in range(originals.count):
        target = positions[index]
        if target >= width:
            continue  # RowToRawDataConverter skips what falls outside the row
        domain = originals.domains[index]
        names.append(originals.names[index])
        domains.append(domain)
        if domain is None:
            writers.append(Numeric(target))
        elif kind == "OneHotExplicit":
            writers.append(OneHot(target, len(domain)))
        else:
            writers.append(BinaryDigits(target, len(domain)))
    return InputEncoding(kind, names, domains, list(domains), writers, width)


def _label_encoder(originals: _Originals, info: MojoInfo, kind: str) -> InputEncoding:
    # EnumEncoderColumnMapper: the model's own names; LabelEncoder: a level that reads as a Java int
    # is that int, any other level its index in the original domain.
    if len(originals.domains) < info.n_features:
        raise UnsupportedMojoError(f"categorical_encoding '{kind}': too few original domains")
    domains = originals.domains[: info.n_features]
    writers: list[ColumnWriter] = []
    for index, domain in enumerate(domains):
        if domain is None:
            writers.append(Numeric(index))
        else:
            table = [_java_int(level, default=i) for i, level in enumerate(domain)]
            writers.append(Lookup(index, np.asarray(table, dtype=np.float64), yields_levels=False))
    names = info.feature_names
    return InputEncoding(kind, names, list(domains), list(domains), writers, info.n_features)


def _enum_limited(originals: _Originals, info: MojoInfo, kind: str) -> InputEncoding:
    # EnumLimitedEncoder: original column i is model column i, looked up in model domain i; levels
    # cut from it map to its "other" level.
    def encoder(index: int, name: str, domain: list[str]) -> tuple[list[str], ColumnWriter]:
        model_domain = info.domains[index] if index < len(info.domains) else None
        if model_domain is None:
            raise UnsupportedMojoError(
                f"categorical_encoding '{kind}': model column {index} for '{name}' has no levels"
            )
        codes = {level: position for position, level in enumerate(model_domain)}
        if "other" in codes:
            for level in domain:
                codes.setdefault(level, codes["other"])
            del codes["other"]
        # A level not found is looked up again as "<column>.top_<level>_levels".
        prefix, suffix = f"{name}.top_", "_levels"
        for key, code in list(codes.items()):
            if key.startswith(prefix) and key.endswith(suffix) and len(key) >= len(prefix + suffix):
                codes.setdefault(key[len(prefix) : len(key) - len(suffix)], code)
        table = np.asarray(list(codes.values()), dtype=np.float64)
        return list(codes), Lookup(index, table, yields_levels=True)

    return _in_place(originals, info, kind, encoder)


def _eigen(originals: _Originals, info: MojoInfo, kind: str) -> InputEncoding:
    # EigenEncoder: each level's entry of the projection (consecutive per categorical column),
    # rounded to float, at the original column's position.
    projection = info.optional_numbers("_orig_projection_array")
    if projection is None:
        raise UnsupportedMojoError(f"categorical_encoding '{kind}' without a projection array")
    start = 0

    def encoder(index: int, name: str, domain: list[str]) -> tuple[list[str], ColumnWriter]:
        nonlocal start
        values = projection[start : start + len(domain)]
        if len(values) != len(domain):
            raise UnsupportedMojoError(f"categorical_encoding '{kind}': projection too short")
        start += len(domain)
        table = np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
        return list(domain), Lookup(index, table, yields_levels=False)

    return _in_place(originals, info, kind, encoder)


def _in_place(
    originals: _Originals,
    info: MojoInfo,
    kind: str,
    encoder: _CategoricalEncoderFactory,
) -> InputEncoding:
    # EnumLimitedEncoderColumnMapper / EigenEncoderColumnMapper: original column i goes to index i.
    width = info.n_features
    if originals.count < len(originals.names) and originals.count < width:
        raise UnsupportedMojoError(
            f"categorical_encoding '{kind}': genmodel would read the response as a feature"
        )
    names, domains = [], []
    vocabularies: list[list[str] | None] = []
    writers: list[ColumnWriter] = []
    for index in range(originals.count):
        name, domain = originals.names[index], originals.domains[index]
        # genmodel builds every categorical encoder (and fails on a bad one), but the row only
        # holds the columns below the model's width.
        vocabulary: list[str] | None = None
        writer: ColumnWriter = Numeric(index)
        if domain is not None:
            vocabulary, writer = encoder(index, name, domain)
        if index < width:
            names.append(name)
            domains.append(domain)
            vocabularies.append(vocabulary)
            writers.append(writer)
    return InputEncoding(kind, names, domains, vocabularies, writers, width)


class _CategoricalEncoderFactory(Protocol):
    def __call__(
        self, index: int, name: str, domain: list[str]
    ) -> tuple[list[str], ColumnWriter]: ...


def _java_int(text: str, default: int) -> int:
    # Integer.parseInt: an optional sign, then decimal digits (any script), within 32 bits.
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isdecimal():
        return default
    value = int(text)
    return value if -(2**31) <= value < 2**31 else default


def _check_fits(encoding: InputEncoding, info: MojoInfo) -> None:
    # Refuse what genmodel fails on or what would reach a categorical column as a raw number.
    for name, vocabulary in zip(encoding.names, encoding.vocabularies, strict=True):
        if vocabulary is not None and len(set(vocabulary)) != len(vocabulary):
            raise UnsupportedMojoError(
                f"categorical_encoding '{encoding.name}': column '{name}' repeats a level"
            )
    for name, writer in zip(encoding.names, encoding.writers, strict=True):
        if writer.target + writer.width > encoding.width:
            raise UnsupportedMojoError(
                f"categorical_encoding '{encoding.name}': column '{name}' overruns the model's row"
            )
        levels_out = isinstance(writer, Lookup) and writer.yields_levels
        for column in range(writer.target, writer.target + writer.width):
            if (info.feature_domains[column] is not None) != levels_out:
                raise UnsupportedMojoError(
                    f"categorical_encoding '{encoding.name}': column '{name}' lands on model "
                    f"column '{info.feature_names[column]}' of another kind"
                )
