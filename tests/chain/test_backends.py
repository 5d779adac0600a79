"""Both chain backends pass the one backend suite (colearn_chain/chain/backend_suite.py)."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain.accounts import anvil_dev_accounts, eth_tester_dev_accounts
from colearn_chain.chain.backend_suite import ChainBackendSuite
from colearn_chain.chain.backends import ChainBackend, EthTesterBackend, RpcBackend


class TestEthTesterBackend(ChainBackendSuite):
    def make_backend(self, request: pytest.FixtureRequest) -> ChainBackend:
        return EthTesterBackend()

    def funded_account(self, backend: ChainBackend) -> LocalAccount:
        return eth_tester_dev_accounts()[0]


class TestAnvilBackend(ChainBackendSuite):
    def make_backend(self, request: pytest.FixtureRequest) -> ChainBackend:
        return RpcBackend(request.getfixturevalue("anvil_node").url)

    def funded_account(self, backend: ChainBackend) -> LocalAccount:
        return anvil_dev_accounts()[9]  # the last dev account: the contract tests use the others
