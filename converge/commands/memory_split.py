"""`converge memory-split`: the H2O JVM heap and native headroom for a memory limit (BA-PHY-01)."""

from __future__ import annotations

from pathlib import Path

import click

from resources.memory_split import DEFAULT_HEAP_FRACTION, MemorySplit, split_memory


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB"


def describe(split: MemorySplit) -> str:
    """A human-readable summary of the split."""
    return (
        f"memory limit: {_gib(split.limit_bytes)} ({split.source})\n"
        f"JVM heap:     -Xmx{split.xmx} ({_gib(split.heap_bytes)})\n"
        f"headroom:     {_gib(split.headroom_bytes)} for XGBoost native memory, Python and the JVM"
    )


@click.command("memory-split")
@click.option(
    "--container-limit",
    default=None,
    help="Memory limit such as 16g or 512m. Default: the cgroup limit, else physical memory.",
)
@click.option(
    "--heap-fraction",
    type=float,
    default=DEFAULT_HEAP_FRACTION,
    show_default=True,
    help="Share of the limit given to the Java heap.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the split as KEY=value lines (e.g. jvm-args.env).",
)
def memory_split(container_limit: str | None, heap_fraction: float, output: Path | None) -> None:
    """Print (and optionally write) the JVM heap / native headroom split of a memory limit."""
    try:
        split = split_memory(container_limit, heap_fraction)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(describe(split))
    if output is not None:
        output.write_text("\n".join(split.env_lines()) + "\n")
        click.echo(f"wrote {output}")
