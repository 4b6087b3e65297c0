"""Serving start-up imports only what it needs: pandas (ingest, training frames) stays out."""

from __future__ import annotations

import subprocess
import sys


def test_serving_app_does_not_import_pandas() -> None:
    probe = "import sys, serving.app; print(sorted(m for m in sys.modules if m == 'pandas'))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
