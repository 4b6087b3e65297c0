"""The memory split (BA-PHY-01): arithmetic, cgroup reading, the CLI and the standalone script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from converge.cli import cli
from resources.memory_split import (
    cgroup_memory_limit,
    parse_size,
    split_memory,
    training_concurrency,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "calculate_memory_split.py"
GIB = 1024**3


def test_16g_gives_11g_heap_and_5g_headroom() -> None:
    split = split_memory("16g")
    assert split.xmx == "11g"
    assert split.heap_bytes == 11 * GIB
    assert split.headroom_bytes == 5 * GIB


@pytest.mark.parametrize(
    ("text", "expected"),
    [("16g", 16 * GIB), ("512Mi", 512 * 1024**2), ("1.5GB", int(1.5 * GIB)), ("1024", 1024)],
)
def test_parse_size_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "16x", "-1g", "0", "g"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_size(text)


def test_small_limit_rounds_heap_down_in_megabytes() -> None:
    split = split_memory("1g")
    assert split.xmx == "716m"  # 0.7 GiB = 716.8 MiB, never rounded up past the share
    assert split.heap_bytes <= 0.7 * GIB


@pytest.mark.parametrize("limit", ["1g", "3g", "4g", "8Gi", "16g", "23g", "64g"])
def test_heap_stays_within_5_percent_of_the_70_percent_share(limit: str) -> None:
    split = split_memory(limit)
    share = 0.7 * parse_size(limit)
    assert 0.95 * share <= parse_size(split.xmx) <= share


def test_cgroup_v2_limit_is_read(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text(f"{4 * GIB}\n")
    split = split_memory(cgroup_root=tmp_path)
    assert (split.limit_bytes, split.xmx, split.source) == (4 * GIB, "2867m", "cgroup limit")


def test_cgroup_v1_limit_and_unlimited(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory/memory.limit_in_bytes").write_text(str(2 * GIB))
    assert cgroup_memory_limit(tmp_path) == 2 * GIB
    (tmp_path / "memory/memory.limit_in_bytes").write_text("9223372036854771712")
    assert cgroup_memory_limit(tmp_path) is None
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_memory_limit(tmp_path) is None


def test_no_cgroup_limit_falls_back_to_physical_memory(tmp_path: Path) -> None:
    split = split_memory(cgroup_root=tmp_path)
    assert split.source.startswith("physical memory")
    assert split.limit_bytes > GIB


def test_training_concurrency_is_floor_of_node_over_task() -> None:
    assert training_concurrency("8g", "4g") == 2
    assert training_concurrency("10g", "3g") == 3
    with pytest.raises(ValueError, match="no training fits"):
        training_concurrency("2g", "4g")


def test_cli_prints_and_writes_env_file(tmp_path: Path) -> None:
    output = tmp_path / "jvm-args.env"
    result = CliRunner().invoke(
        cli, ["memory-split", "--container-limit", "16g", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "-Xmx11g" in result.output
    assert "H2O_JVM_ARGS=-Xmx11g" in output.read_text().splitlines()


def test_cli_rejects_bad_limit_and_fraction() -> None:
    bad_limit = CliRunner().invoke(cli, ["memory-split", "--container-limit", "lots"])
    assert bad_limit.exit_code != 0
    assert "not a memory size: 'lots'" in bad_limit.output
    bad_fraction = CliRunner().invoke(
        cli, ["memory-split", "--container-limit", "16g", "--heap-fraction", "1.5"]
    )
    assert bad_fraction.exit_code != 0
    assert "heap fraction" in bad_fraction.output


def test_standalone_script_writes_the_same_split(tmp_path: Path) -> None:
    output = tmp_path / "jvm-args.env"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--container-limit", "16g", "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "-Xmx11g" in done.stdout
    assert "H2O_JVM_HEAP=11g" in output.read_text()
