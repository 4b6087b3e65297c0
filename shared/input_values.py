"""How converge reads an input cell: one definition for ingest, serving and MOJO scoring.

Every value converge stores or serves ends up scored by an H2O model, so the rules are those of
h2o-genmodel's PredictCsv and EasyPredictModelWrapper: the text cells "", "NA", "N/A" and "-" are
missing, and a number is whatever Java's `Double.parseDouble` reads after `String.trim()`
(decimal with an optional exponent and an optional f/F/d/D suffix, NaN, Infinity, hex floats).
What a path does with a non-finite number is its own policy: the feature store refuses it, a model
scores NaN as missing.
"""

from __future__ import annotations

import math
import re

MISSING_TOKENS = frozenset(("", "NA", "N/A", "-"))

# [0-9], not \d: Java reads ASCII digits only, and Python's \d is every Unicode decimal digit.
_DECIMAL = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_HEX = r"0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+"
NUMBER_PATTERN = rf"[+-]?(?:NaN|Infinity|{_DECIMAL}[fFdD]?|{_HEX}[fFdD]?)"
"""Java's `Double.parseDouble` grammar (on trimmed text), as a regular expression."""
PLAIN_DECIMAL_PATTERN = rf"[+-]?{_DECIMAL}"
"""The decimal subset every float parser (Python's, Arrow's, Java's) reads the same way."""

_NUMBER = re.compile(NUMBER_PATTERN)
JAVA_WHITESPACE = "".join(chr(code) for code in range(0x21))
"""What `String.trim()` strips: every character up to U+0020."""


def java_trim(text: str) -> str:
    """`String.trim()`: strips every character up to U+0020 from both ends (no other whitespace)."""
    return text.strip(JAVA_WHITESPACE)


def is_missing_text(text: str) -> bool:
    """Whether a text cell is one of PredictCsv's missing tokens (compared as written)."""
    return text in MISSING_TOKENS


def number_from_text(text: str) -> float | None:
    """The number `Double.parseDouble` reads from `text`, or None when it reads none."""
    trimmed = java_trim(text)
    if not _NUMBER.fullmatch(trimmed):
        return None
    unsigned = trimmed.lstrip("+-")
    sign = -1.0 if trimmed.startswith("-") else 1.0
    if unsigned == "NaN":
        return math.nan
    if unsigned == "Infinity":
        return sign * math.inf
    if unsigned[-1] in "fFdD":
        unsigned = unsigned[:-1]
    if unsigned[:2] in ("0x", "0X"):
        try:
            return sign * float.fromhex(unsigned)
        except OverflowError:  # Java rounds a too large hex float to Infinity, as decimals
            return sign * math.inf
    return sign * float(unsigned)
