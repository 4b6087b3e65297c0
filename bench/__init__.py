"""Benchmarks run on demand through `converge bench NAME`; never part of the test suite."""
