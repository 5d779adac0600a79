"""A local S3-compatible server for tests: moto in server mode, on 127.0.0.1 and a free port.

Used as a context manager by fixtures, so the server process is always stopped. Clients in
the tests (and in the processes they spawn) find credentials in the environment, which
:func:`s3_environment` points at fake keys and away from any real AWS configuration.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FAKE_KEY_ID = "testing"
FAKE_SECRET = "testing"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class MotoServer:
    """A running moto server and a boto3 client to arrange its buckets."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"moto server did not listen on port {port} within {timeout} s")


@contextlib.contextmanager
def moto_server(log: Path, extra_env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    """Start ``python -m moto.server`` on 127.0.0.1 and a free port; always stop it."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_listening(port, process, timeout=60)
        yield MotoServer(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def s3_environment(tmp: Path) -> Iterator[pytest.MonkeyPatch]:
    """Fake credentials in the environment, and no real AWS configuration or metadata service."""
    empty = tmp / "aws-empty"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
        patch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield patch
