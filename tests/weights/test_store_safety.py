"""A shared directory store that a hostile participant has tampered with (issue 16's breaks).

Any participant can write into the shared store, so each test plants something in place of a
blob or a shard and checks that an honest reader or writer neither blocks, nor grows, nor
follows a link out of the store.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from colearn_chain.errors import ColearnFileError
from colearn_chain.weights import (
    BlobNotFound,
    BlobTooLarge,
    InvalidWeightsBlob,
    LocalDirectoryStore,
    UnsafeBlob,
    sha256_hex,
)

pytestmark = pytest.mark.timeout(60)  # a FIFO that blocks a reader must fail, not hang the suite

HONEST = b"an honest participant's blob"
DIGEST = sha256_hex(HONEST)


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path / "store")


def _plant(store: LocalDirectoryStore) -> Path:
    """The path of DIGEST's blob, its shard created, nothing there yet."""
    path = store.path_for(DIGEST)
    path.parent.mkdir(exist_ok=True)
    return path


def test_an_oversized_blob_is_refused_from_its_size_without_being_read(store: LocalDirectoryStore) -> None:
    path = _plant(store)
    with path.open("wb") as sparse:  # 300 MiB on paper, no disk used
        sparse.truncate(300 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(BlobTooLarge, match=str(300 << 20)) as excinfo:
            store.get(DIGEST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(excinfo.value, InvalidWeightsBlob)
    assert peak < 1 << 20  # it was read whole before: the process grew by 299 MiB
    assert not store.has(DIGEST)


def test_reading_a_blob_holds_it_about_once(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "store")
    path = _plant(store)
    size = 16 << 20
    with path.open("wb") as sparse:
        sparse.truncate(size)
    tracemalloc.start()
    try:
        with pytest.raises(BlobNotFound, match="corrupt"):  # zeros do not hash to DIGEST
            store.get(DIGEST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * size  # read in chunks into one buffer, hashed as read: no second copy


def test_a_lower_cap_refuses_blobs_over_it(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "store", max_bytes=100)
    digest = store.put(bytes(200))
    with pytest.raises(BlobTooLarge, match="over the cap of 100"):
        store.get(digest)
    assert store.get(store.put(bytes(100))) == bytes(100)


@pytest.mark.parametrize("cap", [0, -1, 1.5, True])
def test_a_nonsense_cap_is_a_value_error(tmp_path: Path, cap: object) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        LocalDirectoryStore(tmp_path / "store", max_bytes=cap)  # type: ignore[arg-type]


def test_a_fifo_in_place_of_a_blob_is_refused_at_once_and_a_put_replaces_it(store: LocalDirectoryStore) -> None:
    path = _plant(store)
    os.mkfifo(path)
    with pytest.raises(UnsafeBlob, match="a FIFO") as excinfo:
        store.get(DIGEST)  # blocked for ever in read_bytes before
    assert isinstance(excinfo.value, BlobNotFound)
    assert not store.has(DIGEST)
    assert store.put(HONEST) == DIGEST
    assert store.get(DIGEST) == HONEST


def test_a_directory_in_place_of_a_blob_is_refused(store: LocalDirectoryStore) -> None:
    path = _plant(store)
    path.mkdir()
    with pytest.raises(UnsafeBlob, match="a directory"):
        store.get(DIGEST)
    with pytest.raises(ColearnFileError):
        store.put(HONEST)  # a directory cannot be renamed over: a clear error, nothing written


def test_a_socket_in_place_of_a_blob_is_refused() -> None:
    short = Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))  # a socket's path must be short
    try:
        store = LocalDirectoryStore(short)
        path = _plant(store)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(path))
            with pytest.raises(UnsafeBlob):
                store.get(DIGEST)
    finally:
        shutil.rmtree(short)


def test_a_symlinked_blob_is_not_read_even_when_its_target_hashes_right(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-the-store"
    outside.write_bytes(HONEST)
    path = _plant(store)
    path.symlink_to(outside)
    with pytest.raises(UnsafeBlob, match="symbolic link"):
        store.get(DIGEST)
    assert not store.has(DIGEST)
    assert store.list() == []
    assert store.put(HONEST) == DIGEST  # replaces the link itself, never writes through it
    assert not path.is_symlink()
    assert store.get(DIGEST) == HONEST
    assert outside.read_bytes() == HONEST


def test_a_symlink_to_a_file_outside_is_never_read(store: LocalDirectoryStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"private data of the reader")
    _plant(store).symlink_to(secret)
    with pytest.raises(UnsafeBlob) as excinfo:
        store.get(DIGEST)
    assert "private data" not in str(excinfo.value)


def test_a_symlinked_shard_makes_put_refuse_instead_of_writing_outside(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (store.root / DIGEST[:2]).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ColearnFileError, match="symbolic link"):
        store.put(HONEST)
    assert list(elsewhere.iterdir()) == []  # before the fix the blob landed here


def test_a_symlinked_shard_is_not_read_or_listed(store: LocalDirectoryStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / DIGEST).write_bytes(HONEST)
    (store.root / DIGEST[:2]).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafeBlob, match="symbolic link"):
        store.get(DIGEST)
    assert not store.has(DIGEST)
    assert store.list() == []


def test_a_file_in_place_of_a_shard_is_refused(store: LocalDirectoryStore) -> None:
    (store.root / DIGEST[:2]).write_bytes(b"not a directory")
    with pytest.raises(UnsafeBlob):
        store.get(DIGEST)
    with pytest.raises(ColearnFileError):
        store.put(HONEST)


def test_a_read_only_store_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="no content store"):
        LocalDirectoryStore(tmp_path / "typo" / "x", create=False)
    assert not (tmp_path / "typo").exists()
