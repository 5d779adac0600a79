"""The content-addressed blob store: ``put(bytes) -> sha256``, and reads that re-hash every blob.

Every implementation shares the public methods of :class:`ContentStore`, which hash on
``put`` and verify on every ``get``; a subclass only moves bytes (``_fetch``, ``_write``,
``_digests``). So no backend can forget the rules of the protocol: a blob whose bytes do
not hash to its name is a missing blob, never data; and a blob over the size cap is refused
before its bytes are read, since any participant can write into a shared store.
"""

from __future__ import annotations

import abc
import builtins
import contextlib
import errno
import hashlib
import io
import os
import secrets
import stat
import string
import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.weights.codec import DEFAULT_MAX_BYTES
from colearn_chain.weights.digest import DIGEST_HEX_LENGTH, normalize_digest, sha256_hex
from colearn_chain.weights.errors import BlobNotFound, BlobTooLarge, UnsafeBlob

__all__ = ["BlobNotFound", "ContentStore", "InMemoryStore", "LocalDirectoryStore", "UnsafeBlob"]

_LOWER_HEX = frozenset(string.digits + "abcdef")
# Blobs are read and hashed in chunks of this size, so a read never holds more than the cap.
_CHUNK = 1 << 20

#: What a backend's ``_fetch`` returns: the bytes and their sha256, hashed while they were read.
Fetched = tuple[bytes, str]


def is_digest_name(name: str) -> bool:
    return len(name) == DIGEST_HEX_LENGTH and _LOWER_HEX.issuperset(name)


def check_cap(max_bytes: object) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ColearnValueError(f"a store's max_bytes must be a positive integer, got {max_bytes!r}")
    return max_bytes


def too_large(what: str, size: int, limit: int) -> BlobTooLarge:
    """The error for a blob of ``size`` bytes (or more) over the cap ``limit``."""
    return BlobTooLarge(
        f"{what} is {size} bytes, over the cap of {limit}; refused without reading it "
        "(raise the store's max_bytes only if the model really is that large)"
    )


def read_capped(read: Callable[[int], bytes], limit: int, what: str) -> Fetched:
    """Read a stream to its end in chunks, hashing as it goes, refusing it past ``limit`` bytes.

    At most ``limit + 1`` bytes are ever requested, so a file that grows after its size was
    checked, or a server that sends more than it announced, cannot make the reader hold more.
    """
    hasher = hashlib.sha256()
    # BytesIO hands its buffer over on getvalue() without a copy: a read holds the blob once.
    buffer = io.BytesIO()
    total = 0
    while True:
        chunk = read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise too_large(what, total, limit)
        hasher.update(chunk)
        buffer.write(chunk)
    return buffer.getvalue(), hasher.hexdigest()


class ContentStore(abc.ABC):
    """A store of immutable blobs addressed by the sha256 of their bytes.

    ``put`` is idempotent (putting the same bytes twice stores them once and returns the
    same digest) and repairs a corrupted copy. ``get`` and ``has`` re-hash what they read,
    and refuse a blob over :attr:`max_bytes` before reading it. Digests are accepted with
    or without ``0x``, in any case, or as 32 raw bytes; they are always returned as 64
    lowercase hex characters.

    Subclasses implement the three storage primitives below; they must make a blob visible
    to readers only once it is complete.
    """

    #: Cap on the size of a blob ``get`` returns (a subclass's constructor may lower it).
    max_bytes: int = DEFAULT_MAX_BYTES

    @property
    def location(self) -> str:
        """Where the store is, as the ``--store`` option and the deployment file spell it."""
        return repr(self)

    def check(self) -> None:
        """Raise a one-line error now if the store cannot be used (by default: read one name)."""
        self.has("0" * DIGEST_HEX_LENGTH)

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
        if not self._holds(digest, len(blob)):
            self._write(digest, blob)
        return digest

    def get(self, digest: str | bytes) -> bytes:
        """The blob whose sha256 is ``digest``, re-hashed before it is returned.

        Raises
        ------
        BlobNotFound
            If there is no such blob, or its stored bytes no longer hash to ``digest``
            (corruption or tampering), or it is not safely readable (:class:`UnsafeBlob`:
            a symlink, a FIFO, a directory...): a reader must treat all of these alike.
        BlobTooLarge
            If the stored blob is over :attr:`max_bytes`; refused before any byte is read.
        ColearnValueError
            If ``digest`` is not a sha256 (see :func:`normalize_digest`).
        """
        key = normalize_digest(digest)
        fetched = self._fetch(key, self.max_bytes)
        if fetched is None:
            raise BlobNotFound(f"no blob {key} in {self!r}: put it, or fetch it from its owner")
        blob, actual = fetched
        if actual != key:
            raise BlobNotFound(
                f"the blob stored as {key} in {self!r} is corrupt (its bytes hash to something "
                "else), so it counts as missing; put the original bytes again to repair it"
            )
        return blob

    def has(self, digest: str | bytes) -> bool:
        """Whether :meth:`get` would return the blob (a corrupt or oversized copy does not count)."""
        try:
            self.get(digest)
        except (BlobNotFound, BlobTooLarge):
            return False
        return True

    def list(self) -> builtins.list[str]:
        """The digests of the stored blobs, sorted.

        Names only: this does not re-hash every blob (that is what :meth:`get` is for), so
        a corrupt copy is listed until someone reads it.
        """
        return sorted(set(self._digests()))

    def _holds(self, digest: str, size: int) -> bool:
        """Whether an intact copy of the ``size``-byte blob ``digest`` is stored already.

        Anything else stored under its name (missing, corrupt, larger, unsafe) is replaced.
        """
        try:
            fetched = self._fetch(digest, size)
        except (BlobNotFound, BlobTooLarge):
            return False
        return fetched is not None and fetched[1] == digest

    @abc.abstractmethod
    def _fetch(self, digest: str, limit: int) -> Fetched | None:
        """The bytes under ``digest`` and their sha256, or ``None`` if nothing is stored there.

        Must raise :class:`BlobTooLarge` for a blob over ``limit`` bytes without reading it,
        and :class:`UnsafeBlob` for anything that is not safely readable as a blob.
        """

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

    def __init__(self, blobs: MutableMapping[str, bytes] | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = check_cap(max_bytes)
        self._blobs: MutableMapping[str, bytes] = {} if blobs is None else blobs
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._blobs)} blobs)"

    def _fetch(self, digest: str, limit: int) -> Fetched | None:
        with self._lock:
            blob = self._blobs.get(digest)
        if blob is None:
            return None
        if len(blob) > limit:
            raise too_large(f"the blob {digest}", len(blob), limit)
        return blob, sha256_hex(blob)

    def _write(self, digest: str, blob: bytes) -> None:
        with self._lock:
            self._blobs[digest] = blob

    def _digests(self) -> Iterable[str]:
        with self._lock:
            return builtins.list(self._blobs)


# Directory opens never follow a symlink; blob opens never follow one and never block (a FIFO).
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BLOB_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TEMP_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What open(2) says when a name is a symlink under O_NOFOLLOW, or not a directory.
_NOT_A_PLAIN_DIRECTORY = (errno.ELOOP, errno.ENOTDIR)
# ENXIO: a socket; ELOOP: a symlink (O_NOFOLLOW).
_NOT_A_PLAIN_FILE = (errno.ELOOP, errno.ENXIO)


def _kind(mode: int) -> str:
    """What a non-regular file is, for a message."""
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@contextlib.contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


class LocalDirectoryStore(ContentStore):
    """Blobs as files ``root/<first 2 hex>/<64 hex>``, safe with several writing processes.

    A blob is written to a temporary file in its final directory, flushed and fsynced,
    then renamed into place with ``os.replace``, which is atomic on POSIX: a reader sees
    either no file or the whole blob, and two processes putting the same blob at once
    both succeed with the same result. Temporary files start with ``.tmp-`` and are
    removed if a write fails; :meth:`list` never reports them.

    Any participant can write into a shared store, so nothing in it is trusted: every
    shard directory and blob is opened relative to an open directory with ``O_NOFOLLOW``
    (a symlink is never followed, for reading or writing), a blob must be a regular file
    (a FIFO, device or directory is refused at once, never read, so a reader cannot
    block), its size is taken from ``fstat`` and checked against the cap before a byte is
    read, and it is hashed as it is read, chunk by chunk. The root itself is the user's
    choice and may be a symlink.

    Parameters
    ----------
    root
        The store's directory.
    create
        Create ``root`` (with parents) if it is missing; with ``False`` a missing root is
        an error (for commands that only read, such as ``audit``).
    max_bytes
        Cap on the size of a blob :meth:`get` returns.

    Raises
    ------
    ColearnFileError
        If ``root`` cannot be created, is missing (``create=False``) or is not a directory.
    """

    def __init__(self, root: Path | str, *, create: bool = True, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = check_cap(max_bytes)
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ColearnFileError(
                    f"cannot use {self.root} as a content store ({exc}): pick a writable directory"
                ) from exc
        elif not self.root.exists():
            raise ColearnFileError(f"there is no content store at {self.root}: check the path")
        if not self.root.is_dir():
            raise ColearnFileError(f"{self.root} is not a directory: give the store a directory")

    def __repr__(self) -> str:
        return f"LocalDirectoryStore({str(self.root)!r})"

    @property
    def location(self) -> str:
        """The root as an absolute path."""
        return str(self.root.resolve())

    def path_for(self, digest: str | bytes) -> Path:
        """Where the blob ``digest`` lives (or would live) on disk."""
        key = normalize_digest(digest)
        return self.root / key[:2] / key

    def _open_root(self) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ColearnFileError(f"cannot open the content store {self.root} ({exc})") from exc

    def _open_shard(self, root_fd: int, shard: str, create: bool) -> int | None:
        """The shard directory, opened without following a symlink; None if missing."""
        if create:
            try:
                os.mkdir(shard, 0o755, dir_fd=root_fd)
            except FileExistsError:
                pass  # a directory (fine) or anything else, which the open below refuses
            except OSError as exc:
                raise ColearnFileError(f"cannot write into {self.root / shard} ({exc})") from exc
        try:
            return os.open(shard, _DIRECTORY_FLAGS, dir_fd=root_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno not in _NOT_A_PLAIN_DIRECTORY:
                raise ColearnFileError(f"cannot open {self.root / shard} ({exc})") from exc
            reason = (
                f"{self.root / shard} is a symbolic link or not a directory; the store never "
                "follows links out of its root"
            )
            if create:
                raise ColearnFileError(f"refusing to write a blob: {reason} (remove it)") from exc
            raise UnsafeBlob(f"refusing to read from {self.root / shard}: {reason}") from exc

    def _fetch(self, digest: str, limit: int) -> Fetched | None:
        path = self.root / digest[:2] / digest
        with _opened(self._open_root()) as root_fd:
            shard_fd = self._open_shard(root_fd, digest[:2], create=False)
            if shard_fd is None:
                return None
            with _opened(shard_fd):
                try:
                    fd = os.open(digest, _BLOB_READ_FLAGS, dir_fd=shard_fd)
                except FileNotFoundError:
                    return None
                except OSError as exc:
                    if exc.errno in _NOT_A_PLAIN_FILE:
                        raise UnsafeBlob(
                            f"refusing to read {path}: it is a symbolic link or a socket, not a "
                            "regular file, so it counts as missing"
                        ) from exc
                    raise ColearnFileError(f"cannot read {path} ({exc}): check its permissions") from exc
                with _opened(fd):
                    return self._read_open_blob(fd, path, limit)

    @staticmethod
    def _read_open_blob(fd: int, path: Path, limit: int) -> Fetched:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeBlob(
                    f"refusing to read {path}: it is {_kind(info.st_mode)}, not a regular file, so it counts as missing"
                )
            if info.st_size > limit:
                raise too_large(f"the blob {path}", info.st_size, limit)
            return read_capped(lambda size: os.read(fd, size), limit, f"the blob {path}")
        except OSError as exc:
            raise ColearnFileError(f"cannot read {path} ({exc})") from exc

    def _write(self, digest: str, blob: bytes) -> None:
        path = self.root / digest[:2] / digest
        with _opened(self._open_root()) as root_fd:
            shard_fd = self._open_shard(root_fd, digest[:2], create=True)
            if shard_fd is None:  # removed between mkdir and open: a writer's race, not data
                raise ColearnFileError(f"{path.parent} vanished while writing {path}; try again")
            with _opened(shard_fd):
                self._write_in(shard_fd, digest, blob, path)
                # Persist the rename; some filesystems cannot fsync a directory, which is not fatal.
                with contextlib.suppress(OSError):
                    os.fsync(shard_fd)

    @staticmethod
    def _write_in(shard_fd: int, digest: str, blob: bytes, path: Path) -> None:
        temp = f".tmp-{secrets.token_hex(8)}.part"
        try:
            fd = os.open(temp, _TEMP_WRITE_FLAGS, 0o644, dir_fd=shard_fd)
        except OSError as exc:
            raise ColearnFileError(f"cannot write into {path.parent} ({exc})") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
                os.fchmod(handle.fileno(), 0o644)  # whatever the umask: auditors read blobs
            os.replace(temp, digest, src_dir_fd=shard_fd, dst_dir_fd=shard_fd)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=shard_fd)
            if isinstance(exc, OSError):
                raise ColearnFileError(f"cannot write {path} ({exc})") from exc
            raise

    def _digests(self) -> Iterable[str]:
        found: builtins.list[str] = []
        try:
            with _opened(self._open_root()) as root_fd:
                with os.scandir(root_fd) as entries:
                    shards = [e.name for e in entries if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
                for shard in shards:
                    shard_fd = self._open_shard(root_fd, shard, create=False)
                    if shard_fd is None:
                        continue
                    with _opened(shard_fd), os.scandir(shard_fd) as entries:
                        # Only lowercase digests, as regular files in their own shard: never
                        # temp files, strays or links.
                        found += [
                            e.name
                            for e in entries
                            if is_digest_name(e.name) and e.name[:2] == shard and e.is_file(follow_symlinks=False)
                        ]
        except UnsafeBlob:
            raise ColearnFileError(f"a shard of {self.root} was replaced by a link while listing it") from None
        except OSError as exc:
            raise ColearnFileError(f"cannot list {self.root} ({exc}): does it exist?") from exc
        return found
