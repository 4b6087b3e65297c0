"""GAM: gam columns expanded into spline bases from the raw input, then the GLM scores the row.

genmodel (GamMojoModelBase.addExpandGamCols) reads each gam column by name from the input row,
evaluates its basis (cubic regression, thin plate, I- or M-spline), centers it and writes it into
the model's expanded columns; a gam column with a missing value leaves its columns missing, and
mean imputation then fills them. The GLM part is `GlmScorer`, fed a `model.ini` view of the GAM.
Where genmodel 3.46.0.11 lays the expanded columns out differently from H2O (I-splines of order
above 1, M-splines of order other than 2, M-splines after other spline types), this reproduces
genmodel; where genmodel fails outright, the MOJO is refused at load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.mojo import gam_splines
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.glm import GlmScorer
from shared.mojo.scorer import FloatArray, check_common

GAM_MOJO_VERSIONS = ("1.00",)
CUBIC, THIN_PLATE, I_SPLINE, M_SPLINE = 0, 1, 2, 3
# genmodel's per-type counters assume the sorted gam columns come in this order.
_TYPE_ORDER = (CUBIC, I_SPLINE, M_SPLINE, THIN_PLATE)
# GAM family -> the GLM family genmodel's GAM scores the same way (GamMojoModel.gamScore0).
_FAMILIES = {
    "bernoulli": "binomial",
    "gaussian": "gaussian",
    "poisson": "poisson",
    "gamma": "gamma",
    "multinomial": "multinomial",
}

Expansion = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class _GamTerm:
    """One gam column: its raw inputs, where genmodel writes its values and how to compute them."""

    inputs: list[int]
    start: int
    expand: Expansion


class GamScorer:
    """hex.genmodel.algos.gam.GamMojoModel / GamMojoMultinomialModel over raw gam columns."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        check_common(info, GAM_MOJO_VERSIONS)
        family = info.text("family")
        if family not in _FAMILIES:
            raise UnsupportedMojoError(f"GAM family '{family}'")
        if not info.flag("mean_imputation"):
            raise UnsupportedMojoError("GAM missing_values_handling other than MeanImputation")
        layout = _Layout.read(archive, info)
        n_regular = info.n_features - info.integer("num_expanded_gam_columns_center")
        names = info.feature_names[:n_regular]
        for term_names in layout.columns:
            names.extend(name for name in term_names if name not in names)
        self._n_regular = n_regular
        self._n_features = info.n_features
        self._terms = layout.terms(n_regular, names)
        self.input_info = MojoInfo(
            info={**info.info, "n_features": str(len(names))},
            columns=[*names, *info.columns[info.n_features :]],
            domains=[
                *info.feature_domains[:n_regular],
                *[None] * (len(names) - n_regular),
                *info.domains[info.n_features :],
            ],
        )
        self._glm = GlmScorer(archive, _glm_info(archive, info, _FAMILIES[family]))

    def score(self, rows: FloatArray) -> FloatArray:
        """GamRowToRawDataConverter.convert then score0, for every row."""
        data = np.full((len(rows), self._n_features), np.nan)
        data[:, : self._n_regular] = rows[:, : self._n_regular]
        with np.errstate(all="ignore"):  # far-out inputs overflow in genmodel too
            for term in self._terms:
                values = rows[:, term.inputs]
                present = ~np.isnan(values).any(axis=1)
                if present.any():
                    expanded = term.expand(values[present])
                    data[present, term.start : term.start + expanded.shape[1]] = expanded
            return self._glm.score(data)


class _Blobs:
    """Reads genmodel's big-endian arrays from a MOJO blob, in genmodel's reading order."""

    def __init__(self, archive: MojoArchive, name: str, dtype: str) -> None:
        self._values = np.frombuffer(archive.read(name), dtype=dtype)
        self._name = name
        self._position = 0

    def take(self, rows: int, columns: int) -> npt.NDArray[np.float64]:
        """The next rows x columns block (ByteBuffer reads: running out is a load failure)."""
        count = rows * columns
        if self._position + count > len(self._values):
            raise UnsupportedMojoError(f"GAM blob '{self._name}' is shorter than model.ini says")
        block = self._values[self._position : self._position + count]
        self._position += count
        return block.astype(np.float64).reshape(rows, columns)


@dataclass(frozen=True)
class _Layout:
    """What GamMojoReader reads about the gam columns, per column in sorted order."""

    n_features: int
    columns: list[list[str]]
    types: list[int]
    knot_counts: list[int]
    orders: list[int]
    knots: list[FloatArray]
    z_transposed: list[FloatArray]
    binv_d: list[FloatArray]
    thin_plate: list[_ThinPlate]

    @classmethod
    def read(cls, archive: MojoArchive, info: MojoInfo) -> _Layout:
        """Read the sorted gam columns, their knots and centering matrices."""
        types = _integers(info, "bs_sorted")
        if sorted(types, key=_TYPE_ORDER.index) != types:
            raise UnsupportedMojoError(f"GAM with gam columns sorted as bs={types}")
        lines = archive.read("gam_columns_sorted").decode("utf-8").splitlines()
        columns: list[list[str]] = []
        for size in _integers(info, "gam_column_dim_sorted"):
            columns.append([line.strip() for line in lines[:size]])
            lines = lines[size:]
        knot_counts = _integers(info, "num_knots_sorted")
        dimensions = _integers(info, "_d")
        has_orders = info.integer("num_IS_col") + info.integer("num_MS_col") > 0
        orders = _integers(info, "spline_orders_sorted") if has_orders else [0] * len(types)
        blob = _Blobs(archive, "knots", ">f8")
        knots = [blob.take(d, k) for d, k in zip(dimensions, knot_counts, strict=True)]
        blob = _Blobs(archive, "zTranspose", ">f8")
        z_transposed = []
        for kind, k, order in zip(types, knot_counts, orders, strict=True):
            if kind == I_SPLINE:
                z_transposed.append(blob.take(0, 0))
            elif kind == M_SPLINE:
                z_transposed.append(blob.take(k + order - 3, k + order - 2))
            else:
                z_transposed.append(blob.take(k - 1, k))
        cubic = [k for kind, k in zip(types, knot_counts, strict=True) if kind == CUBIC]
        binv_d = []
        if cubic:
            blob = _Blobs(archive, "_binvD", ">f8")
            binv_d = [blob.take(k - 2, k) for k in cubic]
        thin_plate = _ThinPlate.read(archive, info, dimensions) if THIN_PLATE in types else []
        return cls(
            info.n_features,
            columns,
            types,
            knot_counts,
            orders,
            knots,
            z_transposed,
            binv_d,
            thin_plate,
        )

    def terms(self, start: int, names: list[str]) -> list[_GamTerm]:
        """Every gam column's expansion and the position genmodel copies it to."""
        counters = dict.fromkeys(_TYPE_ORDER, 0)
        terms = []
        for index, kind in enumerate(self.types):
            expand, width = self._expansion(index, kind, counters[kind])
            counters[kind] += 1
            if start + width > self.n_features:
                raise UnsupportedMojoError(
                    f"GAM whose gam column {self.columns[index]} genmodel 3.46.0.11 writes past "
                    "the end of the row (it cannot score this MOJO)"
                )
            terms.append(_GamTerm([names.index(n) for n in self.columns[index]], start, expand))
            # genmodel moves on by num_knots - 1 columns whatever the spline type wrote.
            start += self.knot_counts[index] - 1
        return terms

    def _expansion(self, index: int, kind: int, counter: int) -> tuple[Expansion, int]:
        knots, z_transposed = self.knots[index], self.z_transposed[index]
        if kind == CUBIC:
            binv_d = self.binv_d[counter]

            def cubic(x: FloatArray) -> FloatArray:
                basis = gam_splines.cubic_regression(x[:, 0], knots[0], binv_d)
                return gam_splines.times_transpose(basis, z_transposed)

            return cubic, z_transposed.shape[0]
        if kind == I_SPLINE:
            i_splines = gam_splines.ISplines.build(self.orders[index], knots[0])
            return (lambda x: i_splines.basis(x[:, 0])), len(i_splines.spans)
        if kind == M_SPLINE:
            m_splines = gam_splines.MSplines.build(self.orders[index], knots[0])
            width = m_splines.count - 1
            # addMSGamification centers with zTranspose[<M-spline counter>]: the matrix of the
            # M-spline only when no other spline type comes before it.
            centering = self.z_transposed[counter]
            if centering.shape[0] < width or centering.shape[1] < width + 1:
                raise UnsupportedMojoError(
                    f"GAM M-spline column {self.columns[index]} that genmodel 3.46.0.11 centers "
                    "with another column's matrix of the wrong size (it cannot score this MOJO)"
                )
            centering = centering[:width, : width + 1]
            return (
                lambda x: gam_splines.times_transpose(m_splines.basis(x[:, 0]), centering)
            ), width
        plate = self.thin_plate[counter]
        if len(self.columns[index]) != knots.shape[0] or (
            plate.z_transposed_cs.shape[1] != knots.shape[1]
        ):
            raise UnsupportedMojoError(
                f"GAM thin plate column {self.columns[index]} whose sizes disagree"
            )
        return plate.expansion(knots, z_transposed), z_transposed.shape[0]


@dataclass(frozen=True)
class _ThinPlate:
    """A thin plate regression spline's constants (GamMojoReader, numTPCol > 0)."""

    m: int
    z_transposed_cs: FloatArray
    powers: list[list[int]]

    @classmethod
    def read(cls, archive: MojoArchive, info: MojoInfo, dimensions: list[int]) -> list[_ThinPlate]:
        """Every thin plate column's penalty order, distance centering and polynomial powers."""
        if info.flag("standardize"):
            # GamMojoReader reads the column means and scales as empty arrays, so genmodel's
            # standardized distances index past them and every such row fails.
            raise UnsupportedMojoError(
                "GAM thin plate splines with standardize=true (genmodel 3.46.0.11 cannot score it)"
            )
        knot_counts = _integers(info, "num_knots_TP")
        big_m = _integers(info, "_M")
        small_m = _integers(info, "_m")
        cubic = info.integer("num_CS_col")
        start = cubic + info.integer("num_IS_col") + info.integer("num_MS_col")
        blob = _Blobs(archive, "zTransposeCS", ">f8")
        centering = [blob.take(k - m, k) for k, m in zip(knot_counts, big_m, strict=True)]
        ints = _Blobs(archive, "polynomialBasisList", ">i4")
        plates = []
        for t, (m, count) in enumerate(zip(small_m, big_m, strict=True)):
            # GamMojoReader sizes each basis by _d[num_CS_col + t], not by the column's own _d.
            read_width = dimensions[cubic + t]
            d = dimensions[start + t]
            if read_width < d:
                raise UnsupportedMojoError(
                    "GAM thin plate spline whose polynomial basis genmodel 3.46.0.11 reads with "
                    "the wrong width (it cannot score this MOJO)"
                )
            powers = ints.take(count, read_width).astype(np.int64)[:, :d].tolist()
            plates.append(cls(m, centering[t], powers))
        return plates

    def expansion(self, knots: FloatArray, z_transposed: FloatArray) -> Expansion:
        """addTPGamification: distances centered by zTransposeCS, polynomials, then zTranspose."""

        def thin_plate(x: FloatArray) -> FloatArray:
            distances = gam_splines.thin_plate_distances(x, knots, self.m)
            centered = gam_splines.times_transpose(distances, self.z_transposed_cs)
            polynomials = gam_splines.thin_plate_polynomials(x, self.powers)
            combined = np.concatenate([centered, polynomials], axis=1)
            return gam_splines.times_transpose(combined, z_transposed)

        return thin_plate


def _integers(info: MojoInfo, key: str) -> list[int]:
    return [int(value) for value in info.numbers(key)]


def _glm_info(archive: MojoArchive, info: MojoInfo, family: str) -> MojoInfo:
    """The GAM's GLM part as a GLM MOJO's model.ini: centered coefficients, imputation fills."""
    cats = info.integer("cats")
    if family == "multinomial":
        per_class = info.integer("beta center length per class")
        blob = _Blobs(archive, "beta_multinomial_centering", ">f8")
        beta = blob.take(info.integer("n_classes"), per_class).ravel().tolist()
    else:
        beta = info.numbers("beta_center")
    glm = {
        **info.info,
        "algo": "glm",
        "family": family,
        "nums": str(info.n_features - cats),
        "cat_modes": info.text("catNAFills"),
        "num_means": info.text("numNAFillsCenter"),
        "beta": "[" + ", ".join(repr(float(value)) for value in beta) + "]",
    }
    if info.integer("numsCenter") != info.n_features - cats:
        raise UnsupportedMojoError("GAM whose numeric columns do not follow its categoricals")
    return MojoInfo(info=glm, columns=info.columns, domains=info.domains)
