"""Fixtures of the weights tests: a local S3-compatible server (moto) for the S3 store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .s3_server import MotoServer, moto_server, s3_environment


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pytest.MonkeyPatch]:
    """Fake AWS credentials in the environment (inherited by spawned processes), nothing real."""
    with s3_environment(tmp_path_factory.mktemp("aws")) as patch:
        yield patch


@pytest.fixture(scope="session")
def s3_server(s3_env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the session, on 127.0.0.1 and a free port; always stopped."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server
