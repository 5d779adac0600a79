"""Digests: sha256 as lowercase hex, parsed from every spelling users and web3 produce."""

from __future__ import annotations

import hashlib
import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights import NO_DIGEST, Digest, bytes32_or_zero, digest_to_bytes32, normalize_digest, sha256_hex


def test_sha256_hex_is_lowercase_hex_without_prefix() -> None:
    digest = sha256_hex(b"abc")
    assert digest == hashlib.sha256(b"abc").hexdigest()
    assert len(digest) == 64 and digest == digest.lower() and not digest.startswith("0x")


@pytest.mark.parametrize(
    "spelling",
    [
        lambda d: d,
        lambda d: d.upper(),
        lambda d: "0x" + d,
        lambda d: "0X" + d.upper(),
        lambda d: bytes.fromhex(d),
        lambda d: bytearray.fromhex(d),
    ],
    ids=["lower", "upper", "0x", "0X-upper", "bytes32", "bytearray"],
)
def test_every_spelling_normalizes_to_lowercase_hex(spelling: object) -> None:
    digest = sha256_hex(b"x")
    assert normalize_digest(spelling(digest)) == digest  # type: ignore[operator]


@pytest.mark.parametrize(
    "bad", ["", "0x", "xyz", "a" * 63, "a" * 65, "0x" + "g" * 64, "0y" + "a" * 64, b"\x01" * 33, 7]
)
def test_malformed_digests_are_value_errors(bad: object) -> None:
    with pytest.raises(ColearnValueError):
        normalize_digest(bad)  # type: ignore[arg-type]


def test_digest_to_bytes32_is_the_raw_hash() -> None:
    digest = sha256_hex(b"y")
    assert digest_to_bytes32("0x" + digest) == hashlib.sha256(b"y").digest()


def test_a_digest_is_the_hex_string_and_gives_back_every_spelling() -> None:
    raw = hashlib.sha256(b"z").digest()
    for spelling in (raw, raw.hex(), "0x" + raw.hex().upper()):
        digest = Digest(spelling)
        assert digest == raw.hex() and isinstance(digest, str)
        assert digest.bytes32 == raw
        assert digest.prefixed == "0x" + raw.hex()
    assert Digest.of(b"z") == sha256_hex(b"z")
    assert json.dumps([Digest(raw)]) == json.dumps([raw.hex()])  # a str to JSON and to the store


def test_no_hash_is_none_and_back() -> None:
    assert Digest.optional(NO_DIGEST) is None and Digest.optional(None) is None
    digest = Digest.of(b"m")
    assert Digest.optional(digest.bytes32) == digest
    assert bytes32_or_zero(None) == bytes(32) and bytes32_or_zero(digest) == digest.bytes32


def test_a_malformed_digest_is_refused_when_built() -> None:
    with pytest.raises(ColearnValueError):
        Digest("not a hash")
