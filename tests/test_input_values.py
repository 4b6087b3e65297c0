"""The one reader of input cells: PredictCsv's missing tokens and Java's Double.parseDouble."""

from __future__ import annotations

import math

import pytest

from shared.input_values import is_missing_text, java_trim, number_from_text


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1.0),
        ("-4", -4.0),
        ("+2.5", 2.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-1e30", -1e30),
        ("1.5d", 1.5),
        ("2F", 2.0),
        ("0x1p3", 8.0),
        ("-0x1.8p1", -3.0),
        ("0x1p99999", math.inf),  # Python's float.fromhex raises OverflowError here
        ("-0x1p99999", -math.inf),
        ("1e99999", math.inf),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        (" 7 ", 7.0),
        ("\t7\n", 7.0),
    ],
)
def test_reads_what_java_reads(text: str, number: float) -> None:
    assert number_from_text(text) == number


@pytest.mark.parametrize("text", ["NaN", "+NaN", "-NaN"])
def test_nan_text_is_not_a_number_value(text: str) -> None:
    parsed = number_from_text(text)
    assert parsed is not None and math.isnan(parsed)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1_000", "inf", "nan", "infinity", "1,5", "1e", ".", "0x10", "\u00a07", "\u0663"],
)
def test_refuses_what_java_refuses(text: str) -> None:
    # Python's float() reads "1_000", "inf", "nan" and the Arabic-Indic digit 3; Java's
    # parseDouble reads none of them (it takes ASCII digits only).
    assert number_from_text(text) is None


def test_missing_tokens_are_compared_as_written() -> None:
    assert all(is_missing_text(token) for token in ("", "NA", "N/A", "-"))
    assert not any(is_missing_text(text) for text in (" ", "na", "NULL", " NA"))
    assert java_trim("\x00 NA \x1f") == "NA"
    assert java_trim("\u00a0NA") == "\u00a0NA"  # trim() stops at U+0020
