"""The `converge` command line: one entry point whose subcommands live in `converge.commands`."""
