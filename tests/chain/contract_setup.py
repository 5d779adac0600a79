"""The roles and helpers the contract tests share: a chain, its accounts, deploying, asserting reverts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import Chain, CollectiveLearningClient
from colearn_chain.chain import contract_errors as ce

INITIAL = bytes([1]) * 32


@dataclass
class Setup:
    """A chain and its roles: the deployer, six would-be learners, an outsider, a selector."""

    chain: Chain
    deployer: LocalAccount
    people: list[LocalAccount]
    outsider: LocalAccount
    selector: LocalAccount

    @classmethod
    def on(cls, chain: Chain) -> Setup:
        accounts = chain.dev_accounts()
        return cls(chain, accounts[0], accounts[1:7], accounts[7], accounts[8])

    def deploy(self, n: int = 3, **settings: Any) -> tuple[CollectiveLearningClient, list[Any]]:
        """Deploy with the first ``n`` people as learners; return the client and them."""
        learners = self.people[:n]
        settings.setdefault("initial_model", INITIAL)
        client = CollectiveLearningClient.deploy(self.chain, self.deployer, [a.address for a in learners], **settings)
        return client, learners

    def past(self, last_block: int) -> None:
        """Mine so that the next transaction executes in block ``last_block + 1`` (or later)."""
        gap = last_block - self.chain.block_number()
        if gap > 0:
            self.chain.mine(gap)

    def next_tx_in(self, block: int) -> None:
        """Mine so that the next transaction executes exactly in ``block`` (each one mines its own)."""
        gap = block - self.chain.block_number() - 1
        if gap < 0:
            raise AssertionError(f"block {block} is already past: the test is mis-timed")
        if gap:
            self.chain.mine(gap)


def reverts(error: type[ce.ContractRevert], call: Callable[[], object], **fields: Any) -> None:
    """Assert that ``call`` raises exactly ``error`` carrying exactly ``fields``."""
    with pytest.raises(ce.ContractRevert) as info:
        call()
    exc = info.value
    assert type(exc) is error, f"expected {error.error_name}, got {exc!r}"
    assert exc.error_name == error.error_name
    assert exc.fields == fields
    for name, value in fields.items():
        assert getattr(exc, name) == value
