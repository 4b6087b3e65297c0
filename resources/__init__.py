"""Dagster resources of converge: one ConfigurableResource per external system."""
