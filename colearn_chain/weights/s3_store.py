"""A content store in an S3-compatible bucket (AWS S3, MinIO, Ceph...), through boto3.

Participants on separate hosts share no filesystem, so they share a bucket: blob ``d`` lives
at ``s3://bucket/prefix/<first 2 hex>/<64 hex>``, the directory store's layout. The
guarantees are the directory store's, by the same shared code (:class:`ContentStore`):
``put`` returns the sha256 and is idempotent, ``get`` re-hashes and refuses a mismatch. An
S3 ``PUT`` replaces an object atomically (a reader sees the old or the new object, never a
mix), so concurrent writers of the same blob are safe without locks. The size cap is checked
against the response's ``Content-Length`` before the body is read, and the body is read and
hashed in chunks, never past the cap whatever the server announced.

Endpoint and credentials come from boto3's standard settings (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/config``...) unless
an endpoint is given. Failures are one line each: unreachable after bounded retries
(:class:`StoreUnavailable`), refused credentials naming the bucket (:class:`StoreAccessDenied`),
a missing bucket (:class:`StoreNotFound`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.weights.codec import DEFAULT_MAX_BYTES
from colearn_chain.weights.errors import StoreAccessDenied, StoreNotFound, StoreUnavailable
from colearn_chain.weights.store import (
    ContentStore,
    Fetched,
    check_cap,
    is_digest_name,
    read_capped,
    too_large,
)

__all__ = ["DEFAULT_ATTEMPTS", "S3Store"]

#: Attempts per request unless ``AWS_MAX_ATTEMPTS`` says otherwise (botocore's "standard" retry
#: mode: exponential backoff with jitter, on connection errors, throttling and 5xx); with 5
#: attempts an unreachable store is given up after 15 to 21 seconds (measured).
DEFAULT_ATTEMPTS = 5
_CONNECT_TIMEOUT = 5.0
_READ_TIMEOUT = 30.0
_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET = frozenset({"NoSuchBucket"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
    }
)
# Settings that point boto3 at a custom endpoint, where path-style addressing is the safe choice.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def _attempts(given: int | None) -> int:
    text = os.environ.get("AWS_MAX_ATTEMPTS") if given is None else str(given)
    if text is None:
        return DEFAULT_ATTEMPTS
    try:
        attempts = int(text)
    except ValueError:
        attempts = 0
    if attempts < 1:
        raise ColearnValueError(f"attempts (AWS_MAX_ATTEMPTS) must be a positive integer, got {text!r}")
    return attempts


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class S3Store(ContentStore):
    """Blobs as objects ``prefix/ab/abcd...`` of one bucket of an S3-compatible object store.

    Parameters
    ----------
    bucket
        The bucket; it must exist (the store never creates buckets).
    prefix
        Key prefix inside the bucket ("" for the bucket's root); slashes at its ends are dropped.
    endpoint_url
        The service's URL (``http://minio:9000``); ``None`` takes boto3's standard settings.
    max_bytes
        Cap on the size of a blob :meth:`get` returns.
    attempts
        Tries per request before :class:`StoreUnavailable` (botocore's standard retries);
        ``None`` reads ``AWS_MAX_ATTEMPTS``, else :data:`DEFAULT_ATTEMPTS`.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        attempts: int | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_bytes = check_cap(max_bytes)
        self.attempts = _attempts(attempts)
        custom_endpoint = endpoint_url is not None or any(os.environ.get(name) for name in _ENDPOINT_VARIABLES)
        config = Config(
            retries={"max_attempts": self.attempts, "mode": "standard"},
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
            s3={"addressing_style": "path"} if custom_endpoint else {},
        )
        session = boto3.session.Session()
        # boto3 clients (unlike sessions) are thread-safe: one client serves every thread.
        self._client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=session.region_name or "us-east-1",
            config=config,
        )
        self.endpoint_url: str = self._client.meta.endpoint_url

    def __repr__(self) -> str:
        return f"S3Store({self.location!r})"

    @property
    def location(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key_for(self, digest: str) -> str:
        """The object key of the (normalized) ``digest``."""
        name = f"{digest[:2]}/{digest}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def check(self) -> None:
        """Raise a one-line error now if the bucket is unreachable, missing or refuses us."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._translate(exc, "open") from exc

    def _fetch(self, digest: str, limit: int) -> Fetched | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key_for(digest))
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                return None
            raise self._translate(exc, f"read {digest}") from exc
        except Exception as exc:
            raise self._translate(exc, f"read {digest}") from exc
        body = response["Body"]
        what = f"the blob {digest} in {self.location}"
        try:
            announced = int(response.get("ContentLength") or 0)
            if announced > limit:
                raise too_large(what, announced, limit)  # the body is closed unread below
            return read_capped(body.read, limit, what)
        except (BotoCoreError, OSError) as exc:  # the connection broke while streaming
            raise self._translate(exc, f"read {digest}") from exc
        finally:
            body.close()

    def _write(self, digest: str, blob: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key_for(digest),
                Body=blob,
                ContentType="application/octet-stream",
            )
        except Exception as exc:
            raise self._translate(exc, f"write {digest}") from exc

    def _digests(self) -> Iterable[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        found: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    shard, _, name = str(item["Key"])[len(start) :].partition("/")
                    # Only lowercase digests in their own shard, exactly: never strays.
                    if is_digest_name(name) and name[:2] == shard:
                        found.append(name)
        except Exception as exc:
            raise self._translate(exc, "list") from exc
        return found

    def _translate(self, exc: BaseException, action: str) -> Exception:
        """One line for a boto3/botocore failure, typed by what the user has to fix."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
            ResponseStreamingError,
        )

        where = f"{self.location} (endpoint {self.endpoint_url})"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StoreAccessDenied(
                f"no usable S3 credentials for the bucket {self.bucket!r} of the content store {where}: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _MISSING_BUCKET or (action == "open" and code in _MISSING_KEY):
                return StoreNotFound(
                    f"the bucket {self.bucket!r} of the content store {where} does not exist: create it first"
                )
            if code in _DENIED:
                return StoreAccessDenied(
                    f"the bucket {self.bucket!r} of the content store {where} refused to {action} ({code}): "
                    "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and their rights"
                )
            message = _one_line(exc.response.get("Error", {}).get("Message", exc))
            return ColearnRuntimeError(f"the content store {where} could not {action}: {code}: {message}")
        if isinstance(
            exc,
            EndpointConnectionError
            | ConnectTimeoutError
            | ReadTimeoutError
            | ConnectionClosedError
            | ResponseStreamingError
            | ConnectionError,
        ):
            return StoreUnavailable(
                f"cannot reach the content store {where} to {action} after {self.attempts} attempts: {_one_line(exc)}"
            )
        return ColearnRuntimeError(f"the content store {where} could not {action}: {_one_line(exc)}")


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
