"""Turn a ``--store`` value (a path, ``file://...`` or ``s3://bucket/prefix``) into a ContentStore.

The one place that reads store locations, so every command and the deployment file spell a
store the same way. boto3 is only imported for an ``s3://`` store.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from colearn_chain.errors import ColearnValueError
from colearn_chain.weights.codec import DEFAULT_MAX_BYTES
from colearn_chain.weights.store import ContentStore, LocalDirectoryStore

__all__ = ["open_store"]

# S3's bucket naming rules (also MinIO's and Ceph's): 3-63 lowercase letters, digits, dots and
# hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def _s3_store(location: str, endpoint_url: str | None, max_bytes: int) -> ContentStore:
    from colearn_chain.weights.s3_store import S3Store

    parts = urlsplit(location)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ColearnValueError(
            f"--store {location!r}: an S3 store is s3://BUCKET/PREFIX, without credentials, query or fragment "
            "(credentials come from the AWS settings)"
        )
    if not _BUCKET.fullmatch(parts.netloc):
        raise ColearnValueError(
            f"--store {location!r}: {parts.netloc!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
            "dots and hyphens)"
        )
    prefix = parts.path.strip("/")
    if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
        raise ColearnValueError(f"--store {location!r}: the key prefix {prefix!r} has an empty, . or .. segment")
    if endpoint_url is not None:
        endpoint = urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ColearnValueError(
                f"--store-endpoint {endpoint_url!r} is not an http(s) URL such as http://127.0.0.1:9000"
            )
    return S3Store(parts.netloc, prefix, endpoint_url=endpoint_url, max_bytes=max_bytes)


def open_store(
    location: str | Path,
    *,
    endpoint_url: str | None = None,
    create: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ContentStore:
    """The content store at ``location``.

    Parameters
    ----------
    location
        ``s3://bucket/prefix`` (any S3-compatible service), ``file:///absolute/path``, or a
        plain path to a directory.
    endpoint_url
        For an ``s3://`` store, the service's URL; ``None`` takes boto3's standard settings
        (``AWS_ENDPOINT_URL``, the profile's ``endpoint_url``, else AWS itself).
    create
        Create a missing directory store (``False`` for commands that only read).
    max_bytes
        Cap on the size of a blob the store returns.

    Raises
    ------
    ColearnValueError
        If ``location`` is empty, of an unknown scheme or malformed, or an endpoint is given
        for a store that is not ``s3://``.
    ColearnFileError
        If a directory store cannot be used (see :class:`LocalDirectoryStore`).
    """
    text = str(location)
    if not text.strip():
        raise ColearnValueError("--store is empty: give a directory, file:///path or s3://bucket/prefix")
    scheme = text.split("://", 1)[0].lower() if _SCHEME.match(text) else ""
    if scheme == "s3":
        return _s3_store(text, endpoint_url, max_bytes)
    if endpoint_url is not None:
        raise ColearnValueError(f"--store-endpoint only applies to an s3:// store, not to {text!r}")
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ColearnValueError(
                f"--store {text!r}: a file URL is file:///absolute/path (no host, query or fragment)"
            )
        path = unquote(parts.path)
        if not path:
            raise ColearnValueError(f"--store {text!r} names no directory")
        return LocalDirectoryStore(path, create=create, max_bytes=max_bytes)
    if scheme:
        raise ColearnValueError(
            f"--store {text!r}: unsupported scheme {scheme}://; use a directory, file:///path or s3://bucket/prefix"
        )
    return LocalDirectoryStore(text, create=create, max_bytes=max_bytes)
