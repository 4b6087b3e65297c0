"""docs/mojo.md's scope table is rendered from a parity run's report, and --check catches drift."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mojo_scope_table.py"
sys.path.insert(0, str(SCRIPT.parent))

from mojo_scope_table import DOC, doc_with_table, scope_table  # noqa: E402


def _record(case: str, algo: str, category: str, options: str, ulp: float = 0.0) -> str:
    return json.dumps(
        {
            "case": case,
            "algo": algo,
            "category": category,
            "options": options,
            "rows": 10,
            "values": 20,
            "bit_identical": 20 if ulp == 0 else 19,
            "max_ulp": ulp,
            "max_abs_diff": 2.2e-16 * ulp,
        }
    )


def test_rows_group_variants_and_problem_types() -> None:
    records = [
        json.loads(_record("gbm-a", "gbm", "Regression", "")),
        json.loads(_record("gbm-b", "gbm", "Binomial", "")),
        json.loads(_record("dl-a", "deeplearning", "Multinomial", "activation=Maxout")),
    ]
    assert scope_table(records).splitlines()[2:] == [
        "| deeplearning | activation=Maxout | multinomial | 1 |",
        "| gbm | defaults | binomial, regression | 2 |",
    ]


def test_check_fails_on_a_stale_table_and_write_mends_it(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    report.write_text(_record("gbm-a", "gbm", "Regression", "a variant no doc lists", 2) + "\n")
    run = [sys.executable, str(SCRIPT), "--report", str(report), "--check"]
    stale = subprocess.run(run, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "differs from what the parity tests proved" in stale.stderr
    assert "| gbm | 1 | 20 | 95.0000% | 2 | 4.4e-16 |" in stale.stdout
    doc = DOC.read_text(encoding="utf-8")
    assert "a variant no doc lists" in doc_with_table(
        doc, scope_table([json.loads(report.read_text())])
    )


def test_an_empty_report_is_an_error(tmp_path: Path) -> None:
    report = tmp_path / "empty.jsonl"
    report.write_text("")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--report", str(report), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "no parity case was recorded" in result.stderr
