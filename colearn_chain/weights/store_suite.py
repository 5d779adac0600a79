"""The reusable pytest suite that every ContentStore implementation must pass (imports pytest).

Subclass :class:`ContentStoreSuite` in a test module, as web3.py does for its providers::

    class TestMyStore(ContentStoreSuite):
        def make_store(self, tmp_path: Path) -> ContentStore: ...
        def tamper(self, store: ContentStore, digest: str, data: bytes) -> None: ...

Stores that several processes can open at once also mix in :class:`MultiProcessStoreSuite`
and define ``store_factory``. This module is only imported by tests.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from colearn_chain.errors import ColearnError, ColearnValueError
from colearn_chain.weights.digest import Digest, sha256_hex
from colearn_chain.weights.errors import BlobNotFound, BlobTooLarge
from colearn_chain.weights.store import ContentStore

__all__ = ["ContentStoreSuite", "MultiProcessStoreSuite"]


def _blob(seed: int, size: int) -> bytes:
    """Reproducible pseudo-random bytes, distinct for distinct seeds."""
    return random.Random(seed).randbytes(size)


class ContentStoreSuite:
    """Behaviour every content store shares; subclasses say how to build and corrupt one."""

    def make_store(self, tmp_path: Path) -> ContentStore:
        """A new, empty store (``tmp_path`` is a fresh directory it may use)."""
        raise NotImplementedError

    def tamper(self, store: ContentStore, digest: str, data: bytes) -> None:
        """Replace the stored bytes of ``digest`` with ``data`` behind the store's back."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> ContentStore:
        return self.make_store(tmp_path)

    def test_put_returns_the_sha256_as_lowercase_hex(self, store: ContentStore) -> None:
        data = _blob(1, 1000)
        digest = store.put(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert len(digest) == 64
        assert digest == digest.lower()

    @pytest.mark.parametrize("size", [0, 1, 4096, 1 << 20])
    def test_get_returns_exactly_what_was_put(self, store: ContentStore, size: int) -> None:
        data = _blob(size, size)
        digest = store.put(data)
        got = store.get(digest)
        assert isinstance(got, bytes)
        assert got == data

    def test_has_is_false_before_put_and_true_after(self, store: ContentStore) -> None:
        data = _blob(2, 100)
        digest = sha256_hex(data)
        assert not store.has(digest)
        store.put(data)
        assert store.has(digest)

    def test_list_is_the_sorted_digests(self, store: ContentStore) -> None:
        assert store.list() == []
        digests = {store.put(_blob(seed, 64)) for seed in range(20)}
        assert store.list() == sorted(digests)

    def test_put_is_idempotent(self, store: ContentStore) -> None:
        data = _blob(3, 500)
        first = store.put(data)
        second = store.put(data)
        assert first == second
        assert store.list() == [first]
        assert store.get(first) == data

    def test_put_accepts_bytes_like(self, store: ContentStore) -> None:
        data = _blob(4, 300)
        assert store.put(bytearray(data)) == sha256_hex(data)
        assert store.put(memoryview(data)) == sha256_hex(data)
        assert store.get(sha256_hex(data)) == data

    @pytest.mark.parametrize("data", ["text", 12, None])
    def test_put_rejects_non_bytes(self, store: ContentStore, data: Any) -> None:
        with pytest.raises(ColearnValueError):
            store.put(data)
        assert store.list() == []

    def test_digests_are_accepted_in_every_spelling(self, store: ContentStore) -> None:
        data = _blob(5, 100)
        digest = store.put(data)
        for spelling in (digest, "0x" + digest, "0X" + digest.upper(), digest.upper(), Digest(digest).bytes32):
            assert store.has(spelling)
            assert store.get(spelling) == data

    @pytest.mark.parametrize(
        "bad",
        ["", "0x", "abc", "g" * 64, "a" * 63, "a" * 65, "0x" + "a" * 63, " " + "a" * 64, b"\x00" * 31, 42],
    )
    def test_malformed_digests_are_value_errors(self, store: ContentStore, bad: Any) -> None:
        for operation in (store.get, store.has):
            with pytest.raises(ColearnValueError) as excinfo:
                operation(bad)
            assert not isinstance(excinfo.value, BlobNotFound)

    def test_get_of_a_missing_digest_raises_blob_not_found(self, store: ContentStore) -> None:
        store.put(_blob(6, 10))
        missing = sha256_hex(b"never stored")
        with pytest.raises(BlobNotFound) as excinfo:
            store.get(missing)
        assert isinstance(excinfo.value, KeyError)
        assert isinstance(excinfo.value, ColearnError)
        assert missing in str(excinfo.value)

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda data: b"evil bytes",
            lambda data: b"",
            lambda data: data[:100],
            lambda data: bytes([data[0] ^ 1]) + data[1:],
        ],
        ids=["replaced", "emptied", "truncated", "bit-flipped"],
    )
    def test_a_tampered_blob_is_missing_and_a_put_repairs_it(
        self, store: ContentStore, mangle: Callable[[bytes], bytes]
    ) -> None:
        data = _blob(7, 2000)
        digest = store.put(data)
        self.tamper(store, digest, mangle(data))
        with pytest.raises(BlobNotFound, match="corrupt"):
            store.get(digest)
        assert not store.has(digest)
        assert store.put(data) == digest
        assert store.get(digest) == data

    def test_a_blob_over_the_cap_is_refused_and_not_held(self, store: ContentStore) -> None:
        data = _blob(8, 2000)
        digest = store.put(data)
        store.max_bytes = 1999
        with pytest.raises(BlobTooLarge, match="over the cap of 1999") as excinfo:
            store.get(digest)
        assert "\n" not in str(excinfo.value)
        assert not store.has(digest)
        store.max_bytes = 2000
        assert store.get(digest) == data

    def test_a_larger_blob_under_the_name_is_replaced_by_put(self, store: ContentStore) -> None:
        data = _blob(9, 1000)
        digest = store.put(data)
        self.tamper(store, digest, data + b"appended")
        assert not store.has(digest)
        assert store.put(data) == digest
        assert store.get(digest) == data

    def test_concurrent_threads_put_and_get(self, store: ContentStore) -> None:
        shared = [_blob(100 + i, 10_000) for i in range(8)]
        own = [[_blob(1000 * (t + 1) + i, 5_000) for i in range(8)] for t in range(6)]

        def work(thread: int) -> list[str]:
            blobs = shared + own[thread]
            random.Random(thread).shuffle(blobs)
            digests = [store.put(blob) for blob in blobs]
            for blob, digest in zip(blobs, digests, strict=True):
                if store.get(digest) != blob:
                    raise AssertionError(f"thread {thread} read back wrong bytes for {digest}")
            return digests

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(work, range(6)))
        expected = {sha256_hex(blob) for blob in shared + [b for blobs in own for b in blobs]}
        assert {d for digests in results for d in digests} == expected
        assert store.list() == sorted(expected)
        for blob in shared + [b for blobs in own for b in blobs]:
            assert store.get(sha256_hex(blob)) == blob


def _process_worker(
    factory: Callable[[], ContentStore],
    shared: list[bytes],
    own: list[bytes],
    seed: int,
    barrier: Any,
    errors: Any,
) -> None:
    """Run in a child process: put shared and own blobs, reading everything back as it goes.

    Once this process has put a blob, every later read must return it whole, whatever the
    other processes are writing: that is what an atomic, idempotent put guarantees.
    """
    try:
        store = factory()
        # Every process puts the shared blobs in the same order at the same moment (the hot
        # case: all learners storing the same new model), then its own, then shared again.
        mine = list(own)
        jitter = random.Random(seed)
        jitter.shuffle(mine)
        blobs = [*shared, *mine, *reversed(shared)]
        barrier.wait(timeout=120)
        done: dict[str, bytes] = {}
        for blob in blobs:
            # Jitter, so that one process's write starts while another's is half done.
            time.sleep(jitter.uniform(0.0, 0.005))
            done[store.put(blob)] = blob
            for digest, expected in done.items():
                if store.get(digest) != expected:
                    raise AssertionError(f"read back wrong bytes for {digest}")
    except BaseException as exc:
        errors.put(f"worker {seed}: {type(exc).__name__}: {exc}")
        raise


class MultiProcessStoreSuite:
    """For stores that several processes open at once: concurrent writers must not clash."""

    processes = 4
    start_method = "spawn"  # no inherited state (locks, torch threads) from the test process

    def store_factory(self, store: ContentStore) -> Callable[[], ContentStore]:
        """A picklable callable that opens ``store`` again in another process."""
        raise NotImplementedError

    def leftovers(self, store: ContentStore) -> list[str]:
        """Debris a store's writes may leave behind (temporary files); must be empty after."""
        return []

    def test_concurrent_processes_put_the_same_and_different_blobs(self, store: ContentStore) -> None:
        context: Any = multiprocessing.get_context(self.start_method)
        shared = [_blob(200 + i, 200_000) for i in range(6)]
        own = [[_blob(10_000 * (p + 1) + i, 50_000) for i in range(6)] for p in range(self.processes)]
        barrier = context.Barrier(self.processes)
        errors = context.Queue()
        workers = [
            context.Process(
                target=_process_worker,
                args=(self.store_factory(store), shared, own[p], p, barrier, errors),
            )
            for p in range(self.processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        for worker in workers:
            if worker.is_alive():  # a hung worker must not outlive the test
                worker.kill()
                worker.join()
        exit_codes = [worker.exitcode for worker in workers]
        reported = []
        if any(code != 0 for code in exit_codes):
            while True:
                try:
                    reported.append(errors.get(timeout=1))
                except queue.Empty:
                    break
        assert (exit_codes, reported) == ([0] * self.processes, [])
        everything = shared + [blob for blobs in own for blob in blobs]
        assert store.list() == sorted({sha256_hex(blob) for blob in everything})
        for blob in everything:
            assert store.get(sha256_hex(blob)) == blob
        assert self.leftovers(store) == []
