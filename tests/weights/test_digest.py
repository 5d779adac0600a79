"""Digests: sha256 as lowercase hex, parsed from every spelling users and web3 produce."""

from __future__ import annotations

import hashlib

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights import digest_to_bytes32, normalize_digest, sha256_hex


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
