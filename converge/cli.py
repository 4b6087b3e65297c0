"""Entry point of the `converge` console script.

Subcommands are imported lazily so that `converge --help` or `converge mojo predict` never pays for
importing Dagster, H2O or FastAPI.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group.
SUBCOMMANDS: dict[str, str] = {
    "db": "converge.commands.db:db",
    "versions": "converge.commands.versions:versions",
    "ingest": "converge.commands.ingest:ingest",
    "registry": "converge.commands.registry:registry",
    "mojo": "converge.commands.mojo:mojo",
    "memory-split": "converge.commands.memory_split:memory_split",
    "h2o": "converge.commands.h2o:h2o",
    "demo": "converge.commands.demo:demo",
    "ui": "converge.commands.ui:ui",
    "serve": "converge.commands.serve:serve",
    "bench": "converge.commands.bench:bench",
    "report": "converge.commands.report:report",
    "mage": "converge.commands.mage:mage",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attribute = self._lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def cli() -> None:
    """converge: features to live predictions for H2O-3 models."""


def main() -> None:
    """Run the `converge` console script."""
    cli()
