"""The memory-split and event-loop scripts as operators run them: --help, exit codes, output.

Their behaviour is tested at length in tests/training/test_memory_split.py and
tests/serving/test_validate_event_loop.py; here each runs as `python scripts/X.py`.
"""

from __future__ import annotations

from pathlib import Path

from tests.scripts.conftest import run_script


def test_memory_split_of_16g_writes_an_11g_heap(tmp_path: Path) -> None:
    output = tmp_path / "jvm-args.env"
    result = run_script(
        "calculate_memory_split.py", "--container-limit", "16g", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert "-Xmx11g" in result.stdout
    assert "H2O_JVM_ARGS=-Xmx11g" in output.read_text().splitlines()


def test_memory_split_refuses_a_limit_it_cannot_read(tmp_path: Path) -> None:
    output = tmp_path / "jvm-args.env"
    result = run_script(
        "calculate_memory_split.py", "--container-limit", "lots", "--output", str(output)
    )
    assert result.returncode == 2
    assert "lots" in result.stderr
    assert not output.exists()


def test_every_script_has_help() -> None:
    for script, option in (
        ("calculate_memory_split.py", "--container-limit"),
        ("validate_event_loop.py", "--threshold-ms"),
        ("benchmark_gin_index.py", "--build-indexes"),
        ("validate_dataloader.py", "--schema"),
        ("test_circuit_breaker.py", "--reset-timeout-s"),
    ):
        result = run_script(script, "--help")
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert option in result.stdout, script
