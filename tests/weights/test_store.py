"""The shared content-store suite, run against every store, plus what is particular to each."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from colearn_chain.errors import ColearnFileError
from colearn_chain.weights import (
    BlobNotFound,
    ContentStore,
    InMemoryStore,
    LocalDirectoryStore,
    sha256_hex,
)
from colearn_chain.weights.store_suite import ContentStoreSuite, MultiProcessStoreSuite


class TestInMemoryStore(ContentStoreSuite):
    def make_store(self, tmp_path: Path) -> ContentStore:
        self.blobs: dict[str, bytes] = {}  # what the store keeps (the suite builds one store per test)
        return InMemoryStore(self.blobs)

    def tamper(self, store: ContentStore, digest: str, data: bytes) -> None:
        assert isinstance(store, InMemoryStore)
        self.blobs[digest] = data  # behind the store's back, through the mapping it was given

    def test_stores_are_independent(self) -> None:
        first, second = InMemoryStore(), InMemoryStore()
        digest = first.put(b"only in the first")
        assert first.has(digest)
        assert not second.has(digest)


class TestLocalDirectoryStore(ContentStoreSuite, MultiProcessStoreSuite):
    def make_store(self, tmp_path: Path) -> ContentStore:
        return LocalDirectoryStore(tmp_path / "store")

    def tamper(self, store: ContentStore, digest: str, data: bytes) -> None:
        assert isinstance(store, LocalDirectoryStore)
        store.path_for(digest).write_bytes(data)

    def store_factory(self, store: ContentStore) -> Callable[[], ContentStore]:
        assert isinstance(store, LocalDirectoryStore)
        return functools.partial(LocalDirectoryStore, str(store.root))

    def leftovers(self, store: ContentStore) -> list[str]:
        assert isinstance(store, LocalDirectoryStore)
        return [str(path) for path in store.root.rglob(".tmp-*")]

    @staticmethod
    def files_under(root: Path) -> list[Path]:
        return sorted(path for path in root.rglob("*") if path.is_file())

    def test_blobs_live_under_their_two_character_shard(self, tmp_path: Path) -> None:
        store = LocalDirectoryStore(tmp_path / "store")
        digest = store.put(b"layout")
        path = tmp_path / "store" / digest[:2] / digest
        assert store.path_for("0x" + digest.upper()) == path
        assert path.read_bytes() == b"layout"
        assert self.files_under(tmp_path / "store") == [path]

    def test_root_is_created_with_parents(self, tmp_path: Path) -> None:
        root = tmp_path / "a" / "b" / "c"
        LocalDirectoryStore(str(root))
        assert root.is_dir()

    def test_a_file_as_root_is_a_file_error(self, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x")
        with pytest.raises(ColearnFileError):
            LocalDirectoryStore(blocker)
        with pytest.raises(ColearnFileError):
            LocalDirectoryStore(blocker / "below")

    def test_blobs_persist_across_instances(self, tmp_path: Path) -> None:
        digest = LocalDirectoryStore(tmp_path / "s").put(b"kept")
        reopened = LocalDirectoryStore(tmp_path / "s")
        assert reopened.get(digest) == b"kept"
        assert reopened.list() == [digest]

    def test_no_temporary_files_are_left_behind(self, tmp_path: Path) -> None:
        store = LocalDirectoryStore(tmp_path / "s")
        digests = [store.put(os.urandom(10_000)) for _ in range(30)]
        store.put(store.get(digests[0]))
        files = self.files_under(tmp_path / "s")
        assert [path.name for path in files] == sorted(digests, key=lambda d: (d[:2], d))
        assert not any(path.name.startswith(".tmp-") for path in files)

    def test_a_failed_write_leaves_neither_blob_nor_temp_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalDirectoryStore(tmp_path / "s")

        def broken_replace(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(ColearnFileError, match="No space left"):
            store.put(b"doomed")
        monkeypatch.undo()
        assert self.files_under(tmp_path / "s") == []
        assert not store.has(sha256_hex(b"doomed"))
        assert store.put(b"doomed") == sha256_hex(b"doomed")

    def test_an_interrupted_write_cleans_up_too(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalDirectoryStore(tmp_path / "s")

        def interrupted(fd: int) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            store.put(b"interrupted")
        monkeypatch.undo()
        assert self.files_under(tmp_path / "s") == []

    def test_list_ignores_stray_files(self, tmp_path: Path) -> None:
        store = LocalDirectoryStore(tmp_path / "s")
        digest = store.put(b"real")
        shard = tmp_path / "s" / digest[:2]
        (shard / ".tmp-abandoned.part").write_bytes(b"partial")
        (shard / ("f" * 64)).write_bytes(b"wrong shard")
        (tmp_path / "s" / "README").write_text("notes")
        (tmp_path / "s" / "zz").mkdir()
        (tmp_path / "s" / "zz" / digest.upper()).write_bytes(b"not lowercase")
        assert store.list() == [digest]

    def test_a_deleted_blob_is_not_found(self, tmp_path: Path) -> None:
        store = LocalDirectoryStore(tmp_path / "s")
        digest = store.put(b"short-lived")
        store.path_for(digest).unlink()
        with pytest.raises(BlobNotFound):
            store.get(digest)
        assert store.list() == []

    def test_blobs_are_readable_by_others(self, tmp_path: Path) -> None:
        store = LocalDirectoryStore(tmp_path / "s")
        mode = store.path_for(store.put(b"public")).stat().st_mode
        assert mode & 0o444 == 0o444


def test_blob_not_found_prints_its_message_without_key_error_quotes() -> None:
    error = BlobNotFound("no blob abc in the store")
    assert str(error) == "no blob abc in the store"
