"""Copies of a real MOJO with `model.ini` edited, for the refusal tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path


def rewrite_mojo(source: Path, target: Path, edit: Callable[[str, str], str]) -> Path:
    """Copy `source` to `target`, passing every `model.ini` (nested ones too) through `edit`."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename.endswith("model.ini"):
                data = edit(item.filename, data.decode("utf-8")).encode("utf-8")
            copy.writestr(item, data)
    return target


def set_info(text: str, key: str, value: str) -> str:
    """Replace (or add) `key = value` in the [info] section of a model.ini."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.split("=")[0].strip() == key:
            lines[index] = f"{key} = {value}"
            return "\n".join(lines)
    position = lines.index("[info]") + 1
    lines.insert(position, f"{key} = {value}")
    return "\n".join(lines)
