"""Subcommands of the `converge` CLI, one module each, imported only when invoked."""
