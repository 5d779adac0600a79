"""Content hashes: a blob's sha256 as lowercase hex, and parsing digests from users or the chain."""

from __future__ import annotations

import hashlib
import string

from colearn_chain.errors import ColearnValueError

#: Length of a sha256 digest in hex characters.
DIGEST_HEX_LENGTH = 64

_HEX_DIGITS = frozenset(string.hexdigits)

#: The contract's "no hash" (a round without a manifest): 32 zero bytes.
NO_DIGEST = bytes(32)


def sha256_hex(blob: bytes) -> str:
    """The sha256 of ``blob`` as 64 lowercase hex characters, without ``0x``.

    This is the content address used everywhere: the store's key and, as ``bytes32``, the
    hash recorded on the ledger.
    """
    return hashlib.sha256(blob).hexdigest()


def normalize_digest(digest: str | bytes) -> str:
    """Return ``digest`` as 64 lowercase hex characters, or raise ``ColearnValueError``.

    Parameters
    ----------
    digest
        A sha256 as hex (with or without ``0x``, any case), or the 32 raw bytes of a
        ``bytes32`` as web3 returns it. Accepting all of these lets callers pass what the
        chain or a user gave them without converting it first.

    Raises
    ------
    ColearnValueError
        If ``digest`` is not a sha256 in one of those forms.
    """
    if isinstance(digest, bytes | bytearray | memoryview):
        raw = bytes(digest)
        if len(raw) != DIGEST_HEX_LENGTH // 2:
            raise ColearnValueError(
                f"a binary digest must be 32 bytes (a bytes32), got {len(raw)} bytes: "
                "pass the sha256 as 64 hex characters or as 32 raw bytes"
            )
        return raw.hex()
    if not isinstance(digest, str):
        raise ColearnValueError(f"a digest must be a hex string or 32 bytes, got {type(digest).__name__}")
    text = digest[2:] if digest[:2] in ("0x", "0X") else digest
    if len(text) != DIGEST_HEX_LENGTH or not _HEX_DIGITS.issuperset(text):
        raise ColearnValueError(f"{digest!r} is not a sha256 digest: expected 64 hex characters, optionally after 0x")
    return text.lower()


def digest_to_bytes32(digest: str | bytes) -> bytes:
    """The 32 raw bytes of ``digest``, as the contract's ``bytes32`` arguments take it."""
    return bytes.fromhex(normalize_digest(digest))


class Digest(str):
    """A sha256 content address, spelled one way: 64 lowercase hex characters, no ``0x``.

    Hashes cross three boundaries, each with its own spelling: the store keys blobs by hex,
    the contract takes and emits ``bytes32``, and JSON files write ``0x``-prefixed hex. A
    ``Digest`` is built from any of them (see :func:`normalize_digest`) and gives each back
    (:attr:`bytes32`, :attr:`prefixed`), so code never converts by hand. It is a ``str``, so
    every API that took or returned a hex digest (the store, a strategy's contributions) takes
    and compares it unchanged.
    """

    __slots__ = ()

    def __new__(cls, value: str | bytes) -> Digest:
        return super().__new__(cls, normalize_digest(value))

    @classmethod
    def of(cls, blob: bytes) -> Digest:
        """The content address of ``blob``."""
        return cls(sha256_hex(blob))

    @classmethod
    def optional(cls, value: str | bytes | None) -> Digest | None:
        """``value`` as a digest, or None for no hash (None, or the contract's zero ``bytes32``)."""
        if value is None or value == NO_DIGEST:
            return None
        return cls(value)

    @property
    def bytes32(self) -> bytes:
        """The 32 raw bytes, as the contract's ``bytes32`` arguments take them."""
        return bytes.fromhex(self)

    @property
    def prefixed(self) -> str:
        """``0x`` + the hex, as results and audit JSON write hashes."""
        return "0x" + self


def bytes32_or_zero(digest: Digest | None) -> bytes:
    """``digest`` as ``bytes32``, or the contract's zero hash when there is none."""
    return NO_DIGEST if digest is None else digest.bytes32
