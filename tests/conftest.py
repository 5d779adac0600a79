"""Fixtures shared by the whole suite: chains on both backends, and an Anvil node per session."""

from __future__ import annotations

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
