"""docs/architecture stays true: every test, file and script it cites as proof exists."""

from __future__ import annotations

import re

from tests.scripts.conftest import REPO

DOCS = REPO / "docs" / "architecture"
CITED = re.compile(
    r"\b((?:tests|scripts|serving|shared|resources|assets|converge)/[\w/.-]+\.py)(?:::(\w+))?"
)


def test_every_cited_file_and_test_exists() -> None:
    missing = []
    for doc in sorted(DOCS.glob("*.md")):
        for path, test in CITED.findall(doc.read_text(encoding="utf-8")):
            source = REPO / path
            if not source.is_file():
                missing.append(f"{doc.name}: {path}")
            elif test and not re.search(
                rf"^(?:async )?def {test}\b", source.read_text(), re.MULTILINE
            ):
                missing.append(f"{doc.name}: {path}::{test}")
    assert not missing, "\n".join(missing)


def test_the_index_links_every_view() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for view in ("logical", "process", "development", "physical", "scenario", "references"):
        assert f"({view}.md)" in index
        assert (DOCS / f"{view}.md").is_file()
