"""At start-up: every installed package that versions.env pins, checked against it.

A mismatch does not stop serving (the MOJO runtime needs no h2o package); it is logged and shown in
converge_version_mismatch{component=<package>}, which an alert rule fires on. The serving image has
neither h2o nor Dagster, so there it checks nothing; an all-in-one install checks both.
"""

from __future__ import annotations

import logging

from serving.metrics import ServingMetrics
from shared.versions import PACKAGE_PINS, PinnedVersions, installed_version

log = logging.getLogger(__name__)


def report_installed_versions(metrics: ServingMetrics, pinned: PinnedVersions) -> None:
    """Log and export each installed package whose version differs from versions.env."""
    for key, packages in PACKAGE_PINS.items():
        expected = pinned.values.get(key)
        for package in packages:
            found = installed_version(package)
            if expected is None or found is None or found == expected:
                continue
            metrics.set_version_mismatch(package, expected, found)
            log.error(
                "version mismatch: installed %s %s, versions.env %s is %s",
                package,
                found,
                key,
                expected,
            )
