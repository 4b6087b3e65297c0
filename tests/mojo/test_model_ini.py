"""model.ini lists as Java writes them: `NaN`, `Infinity` and `1.0E-5`, or `null`."""

from __future__ import annotations

import math

import pytest

from shared.mojo.archive import MojoInfo
from shared.mojo.errors import UnsupportedMojoError


def info(**entries: str) -> MojoInfo:
    return MojoInfo(info=entries, columns=[], domains=[])


def test_java_array_forms_are_read_as_genmodel_reads_them() -> None:
    values = info(beta="[1.5, NaN, -Infinity, Infinity, 1.0E-5, -0.0]").numbers("beta")
    assert math.isnan(values[1])
    assert values[0] == 1.5
    assert values[2:5] == [-math.inf, math.inf, 1e-5]
    assert math.copysign(1.0, values[5]) == -1.0


def test_null_and_absent_lists_are_optional_but_not_required() -> None:
    assert info(standardize_mults="null").optional_numbers("standardize_mults") is None
    assert info().optional_numbers("standardize_mults") is None
    assert info(beta="[]").numbers("beta") == []
    with pytest.raises(UnsupportedMojoError, match="no 'beta' list"):
        info(beta="null").numbers("beta")


@pytest.mark.parametrize("text", ["1.5", "[1.5, abc]", "{1.5}"])
def test_a_malformed_list_is_refused_with_its_key(text: str) -> None:
    with pytest.raises(UnsupportedMojoError, match="'beta'"):
        info(beta=text).numbers("beta")
