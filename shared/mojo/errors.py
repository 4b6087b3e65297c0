"""Errors raised by the MOJO runtime: refusals at load time and bad input at scoring time."""

from __future__ import annotations


class UnsupportedMojoError(ValueError):
    """The MOJO uses something this runtime cannot score exactly like h2o-genmodel; names what."""


class MojoInputError(ValueError):
    """A value handed to `predict` cannot be read for the named column."""
