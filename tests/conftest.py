"""Fixtures shared by the whole suite: chains on both backends, and an Anvil node per session."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from colearn_chain.chain import Chain, connect
from colearn_chain.chain.anvil import AnvilNode, start_anvil


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """One Anvil node for the session, on 127.0.0.1 and a free port; always stopped."""
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def chain() -> Iterator[Chain]:
    """A fresh embedded eth-tester chain (about 5 ms to make)."""
    connection = connect()
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(params=["eth-tester", "anvil"])
def any_chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The same test on both backends: a fresh eth-tester chain, and the session's Anvil node."""
    url = None if request.param == "eth-tester" else request.getfixturevalue("anvil_node").url
    connection = connect(url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _project_loggers_enabled() -> None:
    """Every test sees the project's log records, whatever an earlier test in the worker did.

    A library that configures logging with ``logging.config.dictConfig`` (whose default
    ``disable_existing_loggers=True``) disables every logger that existed then, ours included,
    and a CLI test's ``basicConfig(force=True)`` leaves the root at WARNING: tests that read
    ``caplog`` would then see nothing, depending on which tests ran before them in the worker.
    """
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("colearn_chain") and isinstance(logger, logging.Logger):
            logger.disabled = False
