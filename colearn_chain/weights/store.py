"""The content-addressed blob store: ``put(bytes) -> sha256``, and reads that re-hash every blob.

Every implementation shares the public methods of :class:`ContentStore`, which hash on
``put`` and verify on every ``get``; a subclass only moves bytes (``_read``, ``_write``,
``_digests``). So no backend can forget the rule of the protocol: a blob whose bytes do
not hash to its name is a missing blob, never data.
"""

from __future__ import annotations

import abc
import builtins
import contextlib
import os
import string
import tempfile
import threading
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.weights.digest import DIGEST_HEX_LENGTH, normalize_digest, sha256_hex
from colearn_chain.weights.errors import BlobNotFound

__all__ = ["BlobNotFound", "ContentStore", "InMemoryStore", "LocalDirectoryStore"]

_LOWER_HEX = frozenset(string.digits + "abcdef")


def _is_digest_name(name: str) -> bool:
    return len(name) == DIGEST_HEX_LENGTH and _LOWER_HEX.issuperset(name)


class ContentStore(abc.ABC):
    """A store of immutable blobs addressed by the sha256 of their bytes.

    ``put`` is idempotent (putting the same bytes twice stores them once and returns the
    same digest) and repairs a corrupted copy. ``get`` and ``has`` re-hash what they read.
    Digests are accepted with or without ``0x``, in any case, or as 32 raw bytes; they are
    always returned as 64 lowercase hex characters.

    Subclasses implement the three storage primitives below; they must make a blob visible
    to readers only once it is complete.
    """

    def put(self, data: bytes | bytearray | memoryview) -> str:
        """Store ``data`` and return its sha256 as lowercase hex (no ``0x``).

        Raises
        ------
        ColearnValueError
            If ``data`` is not bytes-like.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ColearnValueError(f"a store holds bytes, got {type(data).__name__}")
        blob = bytes(data)
        digest = sha256_hex(blob)
        existing = self._read(digest)
        if existing is None or sha256_hex(existing) != digest:
            self._write(digest, blob)
        return digest

    def get(self, digest: str | bytes) -> bytes:
        """The blob whose sha256 is ``digest``, re-hashed before it is returned.

        Raises
        ------
        BlobNotFound
            If there is no such blob, or its stored bytes no longer hash to ``digest``
            (corruption or tampering): a reader must treat both alike.
        ColearnValueError
            If ``digest`` is not a sha256 (see :func:`normalize_digest`).
        """
        key = normalize_digest(digest)
        blob = self._read(key)
        if blob is None:
            raise BlobNotFound(f"no blob {key} in {self!r}: put it, or fetch it from its owner")
        if sha256_hex(blob) != key:
            raise BlobNotFound(
                f"the blob stored as {key} in {self!r} is corrupt (its bytes hash to something "
                "else), so it counts as missing; put the original bytes again to repair it"
            )
        return blob

    def has(self, digest: str | bytes) -> bool:
        """Whether :meth:`get` would return the blob (so a corrupt copy does not count)."""
        try:
            self.get(digest)
        except BlobNotFound:
            return False
        return True

    def list(self) -> builtins.list[str]:
        """The digests of the stored blobs, sorted.

        Names only: this does not re-hash every blob (that is what :meth:`get` is for), so
        a corrupt copy is listed until someone reads it.
        """
        return sorted(set(self._digests()))

    @abc.abstractmethod
    def _read(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest`` (normalized), or ``None`` if there are none."""

    @abc.abstractmethod
    def _write(self, digest: str, blob: bytes) -> None:
        """Store ``blob`` under ``digest``, replacing whatever was there, atomically."""

    @abc.abstractmethod
    def _digests(self) -> Iterable[str]:
        """The normalized digests under which something is stored."""


class InMemoryStore(ContentStore):
    """A store in a dict, for simulations and tests: one process, any number of threads.

    ``blobs`` is the mapping to keep them in (digest -> bytes), new and empty by default; a test
    that hands its own can corrupt a blob behind the store's back and check that reads refuse it.
    """

    def __init__(self, blobs: MutableMapping[str, bytes] | None = None) -> None:
        self._blobs: MutableMapping[str, bytes] = {} if blobs is None else blobs
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._blobs)} blobs)"

    def _read(self, digest: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(digest)

    def _write(self, digest: str, blob: bytes) -> None:
        with self._lock:
            self._blobs[digest] = blob

    def _digests(self) -> Iterable[str]:
        with self._lock:
            return builtins.list(self._blobs)


def _fsync_directory(directory: Path) -> None:
    """Persist a rename; some filesystems cannot fsync a directory, which is then not fatal."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LocalDirectoryStore(ContentStore):
    """Blobs as files ``root/<first 2 hex>/<64 hex>``, safe with several writing processes.

    A blob is written to a temporary file in its final directory, flushed and fsynced,
    then renamed into place with ``os.replace``, which is atomic on POSIX: a reader sees
    either no file or the whole blob, and two processes putting the same blob at once
    both succeed with the same result. Temporary files start with ``.tmp-`` and are
    removed if a write fails; :meth:`list` never reports them.

    Parameters
    ----------
    root
        The store's directory; created (with parents) if missing.

    Raises
    ------
    ColearnFileError
        If ``root`` cannot be created or is not a directory.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ColearnFileError(
                f"cannot use {self.root} as a content store ({exc}): pick a writable directory"
            ) from exc
        if not self.root.is_dir():
            raise ColearnFileError(f"{self.root} is not a directory: give the store a directory")

    def __repr__(self) -> str:
        return f"LocalDirectoryStore({str(self.root)!r})"

    def path_for(self, digest: str | bytes) -> Path:
        """Where the blob ``digest`` lives (or would live) on disk."""
        key = normalize_digest(digest)
        return self.root / key[:2] / key

    def _read(self, digest: str) -> bytes | None:
        path = self.path_for(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ColearnFileError(f"cannot read {path} ({exc}): check its permissions") from exc

    def _write(self, digest: str, blob: bytes) -> None:
        path = self.path_for(digest)
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
        except OSError as exc:
            raise ColearnFileError(f"cannot write into {path.parent} ({exc})") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide blobs from auditors
            os.replace(tmp_name, path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise ColearnFileError(f"cannot write {path} ({exc})") from exc
            raise
        _fsync_directory(path.parent)

    def _digests(self) -> Iterable[str]:
        try:
            shards = [s for s in self.root.iterdir() if len(s.name) == 2 and s.is_dir()]
            found = [(shard.name, entry.name) for shard in shards for entry in shard.iterdir()]
        except OSError as exc:
            raise ColearnFileError(f"cannot list {self.root} ({exc}): does it exist?") from exc
        # Only lowercase digests in their own shard: never temp files or strays.
        return [name for shard, name in found if _is_digest_name(name) and name[:2] == shard]
