"""open_store: the one place a --store value (path, file:// or s3://) becomes a ContentStore."""

from __future__ import annotations

from pathlib import Path

import pytest

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.weights import LocalDirectoryStore
from colearn_chain.weights.s3_store import S3Store
from colearn_chain.weights.store_url import open_store

from .s3_server import MotoServer


def test_a_plain_path_is_a_directory_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    assert isinstance(store, LocalDirectoryStore)
    assert store.location == str((tmp_path / "s").resolve())
    assert (tmp_path / "s").is_dir()


def test_a_file_url_is_a_directory_store(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(store, LocalDirectoryStore)
    assert store.root == tmp_path / "with space"
    assert isinstance(open_store(f"file://localhost{tmp_path}/b"), LocalDirectoryStore)


def test_a_read_only_open_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="no content store"):
        open_store(tmp_path / "typo" / "x", create=False)
    assert not (tmp_path / "typo").exists()


def test_an_s3_url_is_an_s3_store(s3_server: MotoServer) -> None:
    bucket = s3_server.new_bucket()
    store = open_store(f"s3://{bucket}/team/run-1/", endpoint_url=s3_server.endpoint)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.location) == (bucket, "team/run-1", f"s3://{bucket}/team/run-1")
    store.check()
    assert open_store(store.location, endpoint_url=s3_server.endpoint).get(store.put(b"x")) == b"x"


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://host/x", "unsupported scheme ftp://"),
        ("http://host/x", "unsupported scheme http://"),
        ("s3://", "not an S3 bucket name"),
        ("s3://Upper_Case/x", "not an S3 bucket name"),
        ("s3://ab/x", "not an S3 bucket name"),
        ("s3://key:secret@bucket/x", "without credentials"),
        ("s3://bucket/x?versionId=1", "without credentials, query"),
        ("s3://bucket/a//b", "empty, . or .. segment"),
        ("s3://bucket/a/../b", "empty, . or .. segment"),
        ("file://otherhost/x", "file:///absolute/path"),
        ("file://", "names no directory"),
    ],
)
def test_malformed_locations_are_one_line_value_errors(location: str, complaint: str) -> None:
    with pytest.raises(ColearnValueError, match=complaint) as excinfo:
        open_store(location)
    assert "\n" not in str(excinfo.value)


def test_an_endpoint_only_goes_with_an_s3_store(tmp_path: Path) -> None:
    with pytest.raises(ColearnValueError, match="only applies to an s3:// store"):
        open_store(tmp_path / "s", endpoint_url="http://127.0.0.1:9000")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("endpoint", ["127.0.0.1:9000", "ftp://x", "http://"])
def test_a_malformed_endpoint_is_a_value_error(endpoint: str) -> None:
    with pytest.raises(ColearnValueError, match="--store-endpoint"):
        open_store("s3://bucket/x", endpoint_url=endpoint)
