"""Fixtures of the contract tests."""

from __future__ import annotations

import pytest

from colearn_chain.chain import Chain

from .contract_setup import Setup


@pytest.fixture
def setup(chain: Chain) -> Setup:
    """The roles of a contract test, on a fresh embedded chain."""
    return Setup.on(chain)
