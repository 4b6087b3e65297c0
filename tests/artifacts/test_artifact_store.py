"""The content-addressed artifact store on a real folder and a real S3 API (moto over HTTP)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest

from shared.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactOutsideStoreError,
    ArtifactStore,
    FileArtifactStore,
    S3ArtifactStore,
    open_artifact_store,
    sha256_file,
)


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """Each test runs against both backends, each opened from its URI."""
    if request.param == "file":
        return open_artifact_store((tmp_path / "store").as_uri())
    bucket = request.getfixturevalue("s3_bucket")
    return open_artifact_store(f"s3://{bucket}/models/prod")


def _mojo(tmp_path: Path, name: str = "model.zip", content: bytes | None = None) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if content is not None else os.urandom(200_000))
    return path


def _overwrite_stored(store: ArtifactStore, uri: str, content: bytes) -> None:
    """Corrupt a stored artifact behind the store's back (bit rot, a bad manual copy)."""
    if isinstance(store, S3ArtifactStore):
        parsed = urlparse(uri)
        store.client.put_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Body=content)
    else:
        Path(urlparse(uri).path).write_bytes(content)


def test_put_file_addresses_content_by_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    source = _mojo(tmp_path)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()

    stored = store.put_file(source)

    assert stored.sha256 == expected == sha256_file(source)
    assert stored.size_bytes == source.stat().st_size
    assert stored.uri.endswith(f"/sha256/{expected}/model.zip")
    assert stored.uri.startswith("s3://" if isinstance(store, S3ArtifactStore) else "file://")


def test_same_bytes_twice_are_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    content = os.urandom(50_000)
    first = store.put_file(_mojo(tmp_path, "a.zip", content))
    second = store.put_file(_mojo(tmp_path, "b.zip", content))
    other = store.put_file(_mojo(tmp_path, "a.zip", content + b"x"))

    assert second == first
    assert other.uri != first.uri
    if isinstance(store, S3ArtifactStore):
        keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket)["Contents"]]
        assert sorted(keys) == sorted(urlparse(u).path.lstrip("/") for u in (first.uri, other.uri))


def test_fetch_returns_the_same_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    source = _mojo(tmp_path)
    stored = store.put_file(source)

    fetched = store.fetch(stored.uri, tmp_path / "dest")
    verified = store.fetch_verified(stored.uri, stored.sha256, tmp_path / "verified")

    assert fetched.name == verified.name == "model.zip"
    assert fetched.read_bytes() == verified.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["model.zip"]


def test_fetch_verified_rejects_a_corrupt_artifact(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.put_file(_mojo(tmp_path))
    _overwrite_stored(store, stored.uri, b"not the model any more")
    corrupt_sha = hashlib.sha256(b"not the model any more").hexdigest()
    dest = tmp_path / "dest"

    with pytest.raises(ArtifactIntegrityError) as raised:
        store.fetch_verified(stored.uri, stored.sha256, dest)

    message = str(raised.value)
    assert stored.sha256 in message and corrupt_sha in message and stored.uri in message
    assert (raised.value.expected_sha256, raised.value.actual_sha256) == (
        stored.sha256,
        corrupt_sha,
    )
    # Nothing half-trusted is left where a loader would find it.
    assert list(dest.iterdir()) == []


def test_fetch_verified_rejects_a_wrong_expectation(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.put_file(_mojo(tmp_path))
    wrong = "0" * 64

    with pytest.raises(ArtifactIntegrityError, match=f"expected sha256 {wrong}.*{stored.sha256}"):
        store.fetch_verified(stored.uri, wrong, tmp_path / "dest")
    with pytest.raises(ValueError, match="not a lowercase hex sha256"):
        store.fetch_verified(stored.uri, "ABC", tmp_path / "dest")


def test_fetch_of_a_missing_artifact_names_it(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.put_file(_mojo(tmp_path))
    missing = stored.uri.replace("model.zip", "absent.zip")

    with pytest.raises(ArtifactNotFoundError, match=r"absent\.zip"):
        store.fetch(missing, tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_fetch_refuses_a_uri_of_another_scheme(store: ArtifactStore, tmp_path: Path) -> None:
    foreign = "file:///tmp/x.zip" if isinstance(store, S3ArtifactStore) else "s3://b/x.zip"
    with pytest.raises(ValueError, match="cannot read"):
        store.fetch(foreign, tmp_path)


def test_file_store_ignores_an_interrupted_write(tmp_path: Path) -> None:
    """A crash mid-copy leaves only a hidden partial file, never a published artifact."""
    store = FileArtifactStore(tmp_path / "store")
    source = _mojo(tmp_path)
    folder = store.root / "sha256" / sha256_file(source)
    folder.mkdir(parents=True)
    (folder / ".partial-crashed").write_bytes(b"half")

    stored = store.put_file(source)

    assert Path(urlparse(stored.uri).path).read_bytes() == source.read_bytes()
    assert stored.uri.endswith("/model.zip")


def test_open_artifact_store_rejects_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="file:// or s3://"):
        open_artifact_store("gs://bucket/x")
    with pytest.raises(ValueError, match="names no bucket"):
        open_artifact_store("s3:///prefix")


def test_s3_store_uses_aws_endpoint_url(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    """The store reaches the loopback server only through the standard AWS_ENDPOINT_URL variable."""
    store = open_artifact_store(f"s3://{s3_bucket}")
    assert isinstance(store, S3ArtifactStore)
    assert store.client.meta.endpoint_url == s3_endpoint

    stored = store.put_file(_mojo(tmp_path))

    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key=f"sha256/{stored.sha256}/model.zip")
    assert head["Metadata"]["sha256"] == stored.sha256


def _outside_uris(store: ArtifactStore, stored_uri: str) -> list[str]:
    digest = "0" * 64
    if isinstance(store, S3ArtifactStore):
        return [
            f"s3://another-bucket/models/prod/sha256/{digest}/model.zip",
            f"s3://{store.bucket}/elsewhere/sha256/{digest}/model.zip",
            f"s3://{store.bucket}/models/prod/sha256/{digest}/../../../secrets.zip",
            f"s3://{store.bucket}/models/prod/model.zip",
        ]
    root = Path(urlparse(stored_uri).path).parents[2]
    return [
        "file:///etc/passwd",
        f"{root.as_uri()}/sha256/{digest}/../../../../etc/passwd",
        f"{root.as_uri()}/model.zip",
        f"{root.as_uri()}/sha256/not-a-digest/model.zip",
    ]


def test_fetch_is_confined_to_the_store(store: ArtifactStore, tmp_path: Path) -> None:
    """No URI (a tampered registry row, say) can make the store read another file or bucket."""
    stored = store.put_file(_mojo(tmp_path))
    for uri in _outside_uris(store, stored.uri):
        with pytest.raises(ArtifactOutsideStoreError):
            store.fetch(uri, tmp_path / "dest")
    assert not (tmp_path / "dest").exists() or list((tmp_path / "dest").iterdir()) == []


def test_a_symlink_out_of_the_file_store_is_refused(tmp_path: Path) -> None:
    store = open_artifact_store((tmp_path / "store").as_uri())
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model")
    folder = tmp_path / "store" / "sha256" / ("1" * 64)
    folder.mkdir(parents=True)
    (folder / "model.zip").symlink_to(secret)
    with pytest.raises(ArtifactOutsideStoreError):
        store.fetch((folder / "model.zip").as_uri(), tmp_path / "dest")


def test_fetch_verified_refuses_a_uri_addressing_other_bytes(
    store: ArtifactStore, tmp_path: Path
) -> None:
    """A registry row whose sha256 and URI disagree is refused before any byte is fetched."""
    first = store.put_file(_mojo(tmp_path, "a.zip"))
    second = store.put_file(_mojo(tmp_path, "b.zip"))
    with pytest.raises(ArtifactIntegrityError, match=second.sha256):
        store.fetch_verified(first.uri, second.sha256, tmp_path / "dest")
