"""Fixtures of the contract tests."""

from __future__ import annotations

import pytest

from colearn_chain.chain import Chain

from .contract_setup import Setup


@pytest.fixture
def setup(any_chain: Chain) -> Setup:
    """The roles of a contract test, on a fresh embedded chain and on the session's Anvil node
    (every revert, window and signed-vote test runs on both backends)."""
    return Setup.on(any_chain)
