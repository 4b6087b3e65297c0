"""CSV columns screened with pyarrow read numbers as the shared rule does, cell by cell.

`shared.input_values.number_from_text` is the one definition of a number in text (Java's
`Double.parseDouble`: ASCII digits only); the column-wise reading (RE2 screens,
Arrow's casts) must give the same number for every cell (integer text: the exact int), and a
reason for a cell it refuses.
"""

from __future__ import annotations

import math

import pandas as pd

from shared.feature_store.columns import TextColumn
from shared.input_values import number_from_text

CELLS = [
    "1", "0", "-0", "007", "+7", " 12 ", "\x00 5 \x1f", "12345678901234567", "123456789012345678",
    "1234567890123456789", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "1.5", ".5", "5.", "+.5e+3", "1e5", "1E-3", "-0.0", "1e400", "-1e400", "1e-400", "NaN",
    "Infinity", "0x1p3", "0x1.8p1d", "2.5D", "1f", "0.1000000000000000055511151231257827",
    "2.2250738585072011e-308", "\u0663", "\u0663.5", "1e5\u0661", "\uff11", "1_000", "abc",
    "1e", "e1", "+", "", "NA", "-", "0x1p99999", "-0x1p99999",
]  # fmt: skip


def test_number_cells_read_as_the_shared_rule_reads_them() -> None:
    converted = TextColumn(pd.Series(CELLS, dtype="str")).convert("number")
    for position, text in enumerate(CELLS):
        value, reason = converted.values[position], converted.errors.get(position)
        if text.strip() in ("", "NA", "-"):
            assert (value, reason) == (None, None), text
            continue
        number = number_from_text(text)
        if number is None:
            assert reason == f"expected a number, got text {text!r}", text
        elif not math.isfinite(number):
            assert value is None and reason is not None, text
        elif reason is None:
            # Integer text stays an exact int; any other number is the shared rule's float.
            whole = text.strip("\x00\x1f ").lstrip("+-").isdecimal()
            assert isinstance(value, int) is whole, text
            if isinstance(value, int):
                assert value == int(text.strip("\x00\x1f ")), text
            else:
                assert value == number, text
                assert math.copysign(1, value) == math.copysign(1, number), text
        else:  # an integer outside the contract's 64 bits
            assert value is None, (text, reason)
            assert int(text) not in range(-(2**63), 2**63), (text, reason)
