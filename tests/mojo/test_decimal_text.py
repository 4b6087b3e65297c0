"""The numba decimal parser reads every plain decimal as the correctly rounded double, exactly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from shared.mojo.decimal_text import parse_plain_decimals

EDGES = [
    "0", "-0", "+0.0", "-0e5", ".5", "5.", "+.25", "1e5", "1E-5", "00012.500", "-7",
    "0.000000000000000000000001",  # leading zeros then one digit: exponent -24, the slow path
    "123456789012345678901234",  # more digits than fit 2^53
    "9007199254740993",  # 2^53 + 1: rounds to even
    "9007199254740992", "1e22", "1e23", "1e-22", "1e-23",
    "1e400", "-1e-400", "4.9e-324", "1.7976931348623157e308", "1e99999999999999",
]  # fmt: skip


def random_decimals(count: int) -> list[str]:
    rng = np.random.default_rng(7)
    values = rng.normal(0, 1e3, count) * 10.0 ** rng.integers(-30, 30, count)
    precisions = rng.integers(1, 20, count)
    return [f"{value:.{precision}g}" for value, precision in zip(values, precisions, strict=True)]


def test_reads_plain_decimals_as_the_correctly_rounded_double() -> None:
    texts = random_decimals(20_000) + EDGES
    parsed = parse_plain_decimals(pa.array(texts))
    assert parsed is not None
    truth = np.array([float(text) for text in texts])
    # Bit for bit: -0.0 stays negative, huge values are infinite, tiny ones underflow to zero.
    np.testing.assert_array_equal(parsed.view(np.int64), truth.view(np.int64))


@pytest.mark.parametrize(
    "text", ["1e", ".", "+", "e5", "1.2.3", " 1", "1 ", "inf", "NaN", "Infinity", "0x1p3", "1d"]
)
def test_leaves_anything_else_to_the_java_reader(text: str) -> None:
    # Java reads some of these (" 1", "1d", "Infinity", hex) and not others: the row-by-row reader
    # decides, and names a bad value.
    assert parse_plain_decimals(pa.array(["1", text])) is None


def test_missing_tokens_and_nulls_are_nan() -> None:
    texts = ["1.5", "", "NA", "N/A", "-", None, "-2"]
    np.testing.assert_array_equal(
        parse_plain_decimals(pa.array(texts)), [1.5, np.nan, np.nan, np.nan, np.nan, np.nan, -2.0]
    )
    # Only the exact tokens: a near miss is not missing, and not a decimal either.
    for near in ("na", "N/A ", "--", " "):
        assert parse_plain_decimals(pa.array(["1", near])) is None


def test_nulls_are_missing_in_slices_and_large_strings() -> None:
    sliced = pa.array(["7", "1", None, "2.5"]).slice(1)
    np.testing.assert_array_equal(parse_plain_decimals(sliced), [1.0, np.nan, 2.5])
    large = pa.array(["1", None, "-3e2"], type=pa.large_string())
    np.testing.assert_array_equal(parse_plain_decimals(large), [1.0, np.nan, -300.0])
