"""`converge versions check`: does everything agree with versions.env?"""

from __future__ import annotations

from pathlib import Path

import click

from shared.versions import REPOSITORY_ROOT, VersionsFileError, compare_versions, versions_file


@click.group()
def versions() -> None:
    """Check the pinned versions (versions.env is their single source)."""


@versions.command("check")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=REPOSITORY_ROOT,
    show_default=True,
    help="Folder holding pyproject.toml and requirements.lock.",
)
@click.option(
    "--versions-file",
    "versions_file_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="versions.env to compare with [default: CONVERGE_VERSIONS_FILE, else the repository's].",
)
@click.option("--verbose", "-v", is_flag=True, help="Also list every pin that agrees.")
def versions_check(project_dir: Path, versions_file_path: Path | None, verbose: bool) -> None:
    """Compare versions.env with installed packages, pyproject.toml and requirements.lock."""
    source = versions_file_path or versions_file()
    try:
        report = compare_versions(project_dir, source)
    except VersionsFileError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.agreed if verbose else ():
        click.echo(f"ok: {line}")
    for note in report.notes:
        click.echo(f"note: {note}")
    for mismatch in report.mismatches:
        click.echo(f"MISMATCH {mismatch}", err=True)
    if report.mismatches:
        raise click.ClickException(
            f"{len(report.mismatches)} version mismatch(es) against {source}"
        )
    click.echo(f"versions agree with {source} ({len(report.agreed)} pins checked)")
