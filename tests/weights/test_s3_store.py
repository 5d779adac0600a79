"""The S3 store: the shared store suite against a local moto server, and what is particular to S3."""

from __future__ import annotations

import functools
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from colearn_chain.weights import BlobTooLarge, ContentStore, sha256_hex
from colearn_chain.weights.errors import StoreAccessDenied, StoreNotFound, StoreUnavailable
from colearn_chain.weights.s3_store import S3Store
from colearn_chain.weights.store_suite import ContentStoreSuite, MultiProcessStoreSuite

from .s3_server import MotoServer, free_port, moto_server


class TestS3Store(ContentStoreSuite, MultiProcessStoreSuite):
    processes = 3  # every process reads back all it wrote after each put: keep the server's load small

    @pytest.fixture
    def store(self, s3_server: MotoServer) -> ContentStore:
        return S3Store(s3_server.new_bucket(), "experiments/one", endpoint_url=s3_server.endpoint)

    def tamper(self, store: ContentStore, digest: str, data: bytes) -> None:
        assert isinstance(store, S3Store)
        store._client.put_object(Bucket=store.bucket, Key=store.key_for(digest), Body=data)

    def store_factory(self, store: ContentStore) -> Callable[[], ContentStore]:
        assert isinstance(store, S3Store)
        return functools.partial(S3Store, store.bucket, store.prefix, endpoint_url=store.endpoint_url)


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    return s3_server.new_bucket()


def test_blobs_live_under_prefix_shard_digest(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, "/runs/a/", endpoint_url=s3_server.endpoint)
    digest = store.put(b"layout")
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"runs/a/{digest[:2]}/{digest}"]
    assert store.location == f"s3://{bucket}/runs/a"


def test_a_store_without_prefix_uses_the_bucket_root(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=s3_server.endpoint)
    digest = store.put(b"root")
    assert s3_server.client().get_object(Bucket=bucket, Key=f"{digest[:2]}/{digest}")["Body"].read() == b"root"
    assert store.location == f"s3://{bucket}"


def test_two_prefixes_of_one_bucket_are_separate_stores(s3_server: MotoServer, bucket: str) -> None:
    first = S3Store(bucket, "one", endpoint_url=s3_server.endpoint)
    second = S3Store(bucket, "two", endpoint_url=s3_server.endpoint)
    digest = first.put(b"only in one")
    assert first.list() == [digest]
    assert second.list() == []
    assert not second.has(digest)


def test_list_ignores_stray_objects(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, "p", endpoint_url=s3_server.endpoint)
    digest = store.put(b"real")
    client = s3_server.client()
    for key in ("p/README", f"p/ff/{digest}", f"p/{digest[:2]}/{digest.upper()}", f"p/{digest[:2]}/{digest}/x"):
        client.put_object(Bucket=bucket, Key=key, Body=b"stray")
    assert store.list() == [digest]


def test_the_endpoint_may_come_from_aws_endpoint_url(
    s3_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    store = S3Store(bucket, "env")
    assert store.get(store.put(b"via the environment")) == b"via the environment"
    assert store.endpoint_url == s3_server.endpoint


def test_the_size_cap_is_checked_before_the_body_is_downloaded(s3_server: MotoServer, bucket: str) -> None:
    big = random.Random(0).randbytes(24 << 20)
    digest = S3Store(bucket, endpoint_url=s3_server.endpoint).put(big)
    capped = S3Store(bucket, endpoint_url=s3_server.endpoint, max_bytes=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(BlobTooLarge, match=str(len(big))):
            capped.get(digest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not capped.has(digest)
    assert peak < 4 << 20  # a download would hold 24 MiB


def test_an_unreachable_store_is_retried_then_one_line(s3_env: pytest.MonkeyPatch) -> None:
    store = S3Store("some-bucket", "p", endpoint_url=f"http://127.0.0.1:{free_port()}", attempts=2)
    start = time.monotonic()
    for action in (store.check, lambda: store.put(b"x")):
        with pytest.raises(StoreUnavailable) as excinfo:
            action()
        message = str(excinfo.value)
        assert "\n" not in message
        assert "s3://some-bucket/p" in message
        assert "after 2 attempts" in message
    assert isinstance(excinfo.value, ConnectionError)
    assert time.monotonic() - start < 30  # bounded retries, not a hang


def test_a_missing_bucket_is_one_line(s3_server: MotoServer) -> None:
    store = S3Store("never-created", endpoint_url=s3_server.endpoint)
    for action in (store.check, lambda: store.get("ab" * 32), lambda: store.put(b"x")):
        with pytest.raises(StoreNotFound, match=r"'never-created' .* does not exist") as excinfo:
            action()
        assert "\n" not in str(excinfo.value)


def test_missing_credentials_are_one_line_naming_the_bucket(
    s3_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3Store(bucket, endpoint_url=s3_server.endpoint)
    with pytest.raises(StoreAccessDenied, match=f"no usable S3 credentials for the bucket '{bucket}'"):
        store.check()


@pytest.fixture(scope="module")
def authenticating_server(s3_env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server that checks access keys (none is known to it, so every key is wrong)."""
    log = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    with moto_server(log, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


def test_wrong_credentials_are_one_line_naming_the_bucket(authenticating_server: MotoServer) -> None:
    store = S3Store("the-bucket", "p", endpoint_url=authenticating_server.endpoint)
    for action in (store.check, lambda: store.get("ab" * 32), lambda: store.put(b"x")):
        with pytest.raises(StoreAccessDenied, match="bucket 'the-bucket'") as excinfo:
            action()
        assert "\n" not in str(excinfo.value)
    assert isinstance(excinfo.value, PermissionError)


def test_a_blob_of_several_read_chunks_comes_back_whole(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, "bytes", endpoint_url=s3_server.endpoint)
    blob = random.Random(1).randbytes(3 << 20)  # over one read chunk
    assert store.get(store.put(blob)) == blob
    assert store.has(sha256_hex(blob))
