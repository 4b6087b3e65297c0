"""Content-addressed artifact store for MOJOs: a local folder (`file://`) or S3 (`s3://bucket/prefix`).

Every artifact lives at `<root>/sha256/<hex>/<filename>`, so its address says what bytes it holds:
putting the same bytes twice stores them once, and a reader can verify what it fetched against the
sha256 recorded in the model registry. Writes never expose a partial artifact.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from shared.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CHUNK_BYTES = 1 << 20


class ArtifactError(Exception):
    """Base class of artifact store errors."""


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """The URI names no stored artifact."""


class ArtifactOutsideStoreError(ArtifactError, ValueError):
    """A URI that is not `<store>/sha256/<hex>/<filename>` of this store: never read."""


class ArtifactIntegrityError(ArtifactError):
    """Fetched bytes do not hash to the sha256 the caller expected."""

    def __init__(self, uri: str, expected_sha256: str, actual_sha256: str) -> None:
        super().__init__(
            f"artifact {uri} is corrupt: expected sha256 {expected_sha256}, "
            f"fetched bytes hash to {actual_sha256}"
        )
        self.uri = uri
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact was stored and what it holds."""

    uri: str
    sha256: str
    size_bytes: int


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _require_sha256(value: str) -> str:
    if not _SHA256_HEX.match(value):
        raise ValueError(f"not a lowercase hex sha256: {value!r}")
    return value


def _confined(relative: PurePosixPath, uri: str, store: str) -> PurePosixPath:
    """`relative` (to the store's root) if it is `sha256/<hex>/<filename>`, else an error."""
    parts = relative.parts
    if len(parts) != 3 or parts[0] != "sha256" or not _SHA256_HEX.match(parts[1]):
        raise ArtifactOutsideStoreError(
            f"artifact URI {uri} is not <store>/sha256/<hex>/<file> of the store {store}: refused"
        )
    return relative


@contextmanager
def _staging_file(dest_dir: Path) -> Iterator[Path]:
    """A temporary path in `dest_dir`, removed unless the caller renamed it away."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix=".partial-")
    os.close(fd)
    staging = Path(name)
    try:
        yield staging
    finally:
        staging.unlink(missing_ok=True)


class ArtifactStore(ABC):
    """One backend of the content-addressed store."""

    @abstractmethod
    def put_file(self, path: Path) -> StoredArtifact:
        """Store a file under its sha256 and return its URI (the same URI for the same bytes)."""

    @abstractmethod
    def _download(self, uri: str, target: Path) -> None:
        """Copy the artifact at `uri` into the (existing, empty) file `target`."""

    @abstractmethod
    def _relative(self, uri: str) -> PurePosixPath:
        """`sha256/<hex>/<filename>` of `uri` in this store; ValueError for any other URI."""

    def _filename(self, uri: str) -> str:
        return self._relative(uri).name

    def fetch(self, uri: str, dest_dir: Path) -> Path:
        """Copy the artifact at `uri` to `dest_dir/<filename>` atomically and return that path."""
        target = dest_dir / self._filename(uri)
        with _staging_file(dest_dir) as staging:
            self._download(uri, staging)
            staging.replace(target)
        return target

    def fetch_verified(self, uri: str, expected_sha256: str, dest_dir: Path) -> Path:
        """Fetch like `fetch`, but only place the file when its bytes hash to `expected_sha256`."""
        _require_sha256(expected_sha256)
        addressed = self._relative(uri).parts[1]
        if addressed != expected_sha256:
            raise ArtifactIntegrityError(uri, expected_sha256, addressed)
        target = dest_dir / self._filename(uri)
        with _staging_file(dest_dir) as staging:
            self._download(uri, staging)
            actual = sha256_file(staging)
            if actual != expected_sha256:
                raise ArtifactIntegrityError(uri, expected_sha256, actual)
            staging.replace(target)
        return target


class FileArtifactStore(ArtifactStore):
    """Artifacts in a local (or mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def put_file(self, path: Path) -> StoredArtifact:
        """Store a file under `<root>/sha256/<hex>/<filename>` via a temporary file and a rename."""
        digest = sha256_file(path)
        size = path.stat().st_size
        folder = self.root / "sha256" / digest
        existing = self._existing(folder)
        if existing is not None:
            return StoredArtifact(existing.as_uri(), digest, size)
        target = folder / path.name
        with _staging_file(folder) as staging:
            shutil.copyfile(path, staging)
            # The copy is what gets published, so hash it rather than trust the source stayed put.
            copied = sha256_file(staging)
            if copied != digest:
                raise ArtifactError(f"{path} changed while it was being stored")
            with staging.open("rb") as handle:
                os.fsync(handle.fileno())
            staging.replace(target)
        return StoredArtifact(target.as_uri(), digest, size)

    @staticmethod
    def _existing(folder: Path) -> Path | None:
        if not folder.is_dir():
            return None
        stored = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return stored[0] if stored else None

    def _path(self, uri: str) -> Path:
        return self.root.joinpath(*self._relative(uri).parts)

    def _relative(self, uri: str) -> PurePosixPath:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ValueError(f"a file:// artifact store cannot read {uri}")
        # resolve(): a symlink or `..` must not lead out of the store.
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise ArtifactOutsideStoreError(
                f"artifact URI {uri} is outside the store {self.root.as_uri()}: refused"
            )
        return _confined(PurePosixPath(path.relative_to(self.root).as_posix()), uri, str(self.root))

    def _download(self, uri: str, target: Path) -> None:
        source = self._path(uri)
        if not source.is_file():
            raise ArtifactNotFoundError(f"no artifact at {uri}")
        shutil.copyfile(source, target)


class S3ArtifactStore(ArtifactStore):
    """Artifacts in an S3 bucket under a prefix (any S3 API: AWS_ENDPOINT_URL is honoured)."""

    def __init__(self, bucket: str, prefix: str = "", client: S3Client | None = None) -> None:
        if client is None:
            import boto3  # imported lazily: a file:// store never needs it

            # boto3 reads the standard AWS_* variables itself, AWS_ENDPOINT_URL included.
            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def _key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def put_file(self, path: Path) -> StoredArtifact:
        """Hash the file, then upload it once under `<prefix>/sha256/<hex>/<filename>`."""
        digest = sha256_file(path)
        size = path.stat().st_size
        folder = self._key("sha256", digest) + "/"
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=folder, MaxKeys=1)
        contents = listing.get("Contents", [])
        if contents:
            return StoredArtifact(f"s3://{self.bucket}/{contents[0]['Key']}", digest, size)
        key = folder + path.name
        # S3 makes an object visible only once fully written; the SHA256 checksum makes the
        # server reject bytes that changed in transit.
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest}},
        )
        return StoredArtifact(f"s3://{self.bucket}/{key}", digest, size)

    def _relative(self, uri: str) -> PurePosixPath:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
            raise ValueError(f"an s3:// artifact store cannot read {uri}")
        store = f"s3://{self.bucket}/{self.prefix}"
        key = PurePosixPath(parsed.path.lstrip("/"))
        prefix = PurePosixPath(self.prefix) if self.prefix else PurePosixPath()
        if parsed.netloc != self.bucket or ".." in key.parts or not key.is_relative_to(prefix):
            raise ArtifactOutsideStoreError(f"artifact URI {uri} is outside the store {store}")
        return _confined(key.relative_to(prefix), uri, store)

    def _download(self, uri: str, target: Path) -> None:
        from botocore.exceptions import ClientError

        key = self._key(*self._relative(uri).parts)
        try:
            self.client.download_file(self.bucket, key, str(target))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"404", "NoSuchKey", "NoSuchBucket"}:
                raise ArtifactNotFoundError(f"no artifact at {uri}") from exc
            raise


def open_artifact_store(uri: str | None = None) -> ArtifactStore:
    """The store at `uri` (`file:///path` or `s3://bucket/prefix`); None: ARTIFACT_STORE_URI."""
    uri = uri or get_settings().resolved_artifact_store_uri
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return FileArtifactStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"artifact store URI names no bucket: {uri}")
        return S3ArtifactStore(parsed.netloc, parsed.path)
    raise ValueError(f"artifact store URI must start with file:// or s3://, got {uri!r}")
