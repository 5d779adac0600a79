"""The reusable pytest suite that every :class:`ChainBackend` must pass (imports pytest).

Subclass :class:`ChainBackendSuite` in a test module, as web3.py does for its providers::

    class TestMyBackend(ChainBackendSuite):
        def make_backend(self, request: pytest.FixtureRequest) -> ChainBackend: ...
        def funded_account(self, backend: ChainBackend) -> LocalAccount: ...

The suite deploys a tiny hand-assembled contract (no compiler needed) that emits a log when
called with no data and reverts with its calldata otherwise, so every part of the surface the
client relies on is exercised: sending, receipts of both statuses, code, calls (also of
creation code, which is how the client recovers a constructor's revert), revert data, logs by
block range, nonces, fees and mining. This module is only imported by tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from colearn_chain.chain.backends import ChainBackend, RevertData, TransactionRejected

__all__ = ["ECHO_INIT_CODE", "ECHO_RUNTIME", "ECHO_TOPIC", "ChainBackendSuite"]

#: The topic the echo contract logs (LOG1, no data) when called with empty calldata.
ECHO_TOPIC = keccak(text="Echo()")
#: Runtime: with calldata, revert with it; without, LOG1(ECHO_TOPIC) and stop.
ECHO_RUNTIME = (
    bytes.fromhex("3615600e57")  # CALLDATASIZE ISZERO PUSH1 0x0e JUMPI
    + bytes.fromhex("3660008037")  # CALLDATACOPY(0, 0, CALLDATASIZE)
    + bytes.fromhex("366000fd")  # REVERT(0, CALLDATASIZE)
    + bytes.fromhex("5b7f")  # JUMPDEST PUSH32
    + ECHO_TOPIC
    + bytes.fromhex("600080a100")  # LOG1(0, 0, topic) STOP
)
#: Creation code: copy the runtime after these 11 bytes to memory and return it.
ECHO_INIT_CODE = bytes([0x60, len(ECHO_RUNTIME)]) + bytes.fromhex("80600b6000396000f3") + ECHO_RUNTIME
_PRIORITY_FEE = 1_000_000_000


class ChainBackendSuite:
    """Behaviour every chain backend shares; subclasses say how to make one and who pays."""

    def make_backend(self, request: pytest.FixtureRequest) -> ChainBackend:
        """A backend on a chain the test may change (fresh or shared)."""
        raise NotImplementedError

    def funded_account(self, backend: ChainBackend) -> LocalAccount:
        """An account with enough ether for a few transactions on ``backend``'s chain."""
        raise NotImplementedError

    @pytest.fixture
    def backend(self, request: pytest.FixtureRequest) -> Iterator[ChainBackend]:
        made = self.make_backend(request)
        try:
            yield made
        finally:
            made.close()

    # -- helpers ------------------------------------------------------------------------------
    def send(
        self, backend: ChainBackend, sender: LocalAccount, to: str | None, data: bytes = b"",
        value: int = 0, gas: int = 200_000, nonce: int | None = None,
    ) -> bytes:  # fmt: skip
        """Sign and send one EIP-1559 transaction; returns its hash."""
        tx: dict[str, Any] = {
            "chainId": backend.chain_id,
            "nonce": backend.nonce(sender.address) if nonce is None else nonce,
            "gas": gas,
            "maxFeePerGas": 2 * backend.base_fee() + _PRIORITY_FEE,
            "maxPriorityFeePerGas": _PRIORITY_FEE,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        return backend.send_raw(bytes(sender.sign_transaction(tx).raw_transaction))

    def deploy_echo(self, backend: ChainBackend, sender: LocalAccount) -> str:
        receipt = backend.wait_receipt(self.send(backend, sender, None, ECHO_INIT_CODE))
        assert receipt.status == 1 and receipt.contract_address is not None
        return receipt.contract_address

    # -- the surface --------------------------------------------------------------------------
    def test_it_is_a_chain_backend_with_its_identity(self, backend: ChainBackend) -> None:
        assert isinstance(backend, ChainBackend)
        assert backend.kind in {"eth-tester", "rpc"}
        assert isinstance(backend.chain_id, int) and backend.chain_id > 0
        assert isinstance(backend.client_version, str) and backend.client_version
        assert backend.url is None or backend.url.startswith(("http://", "https://"))
        assert isinstance(backend.base_fee(), int) and backend.base_fee() >= 0

    def test_mine_adds_exactly_that_many_blocks(self, backend: ChainBackend) -> None:
        before = backend.block_number()
        backend.mine(3)
        assert backend.block_number() == before + 3

    def test_block_timestamps_never_go_back(self, backend: ChainBackend) -> None:
        backend.mine(2)
        head = backend.block_number()
        stamps = [backend.block_timestamp(number) for number in (0, head - 1, head)]
        assert stamps == sorted(stamps)
        assert abs(stamps[-1] - time.time()) < 24 * 3600  # seconds since the epoch, not blocks

    def test_a_transfer_is_mined_in_the_next_block_and_moves_value(self, backend: ChainBackend) -> None:
        sender = self.funded_account(backend)
        receiver = "0x000000000000000000000000000000000000dEaD"
        before, nonce, block = backend.balance(receiver), backend.nonce(sender.address), backend.block_number()
        tx_hash = self.send(backend, sender, receiver, value=12_345, gas=21_000)
        receipt = backend.wait_receipt(tx_hash)
        assert (receipt.tx_hash, receipt.status, receipt.gas_used) == (tx_hash, 1, 21_000)
        assert receipt.block_number == block + 1 and receipt.contract_address is None
        assert receipt.logs == ()
        assert backend.balance(receiver) == before + 12_345
        assert backend.nonce(sender.address) == nonce + 1

    def test_deployed_code_and_creation_code_run_as_a_call(self, backend: ChainBackend) -> None:
        sender = self.funded_account(backend)
        address = self.deploy_echo(backend, sender)
        assert backend.code(address) == ECHO_RUNTIME
        assert backend.code(sender.address) == b""
        assert backend.call(None, ECHO_INIT_CODE, sender.address) == ECHO_RUNTIME
        assert backend.call(address, b"") == b""

    def test_a_reverting_call_raises_its_exact_revert_data(self, backend: ChainBackend) -> None:
        address = self.deploy_echo(backend, self.funded_account(backend))
        data = bytes.fromhex("deadbeef") + bytes(range(40))
        with pytest.raises(RevertData) as info:
            backend.call(address, data)
        assert info.value.data == data

    def test_a_reverted_transaction_is_a_receipt_with_status_zero_and_replays(self, backend: ChainBackend) -> None:
        sender = self.funded_account(backend)
        address = self.deploy_echo(backend, sender)
        receipt = backend.wait_receipt(self.send(backend, sender, address, b"\x01\x02", gas=60_000))
        assert receipt.status == 0 and receipt.logs == ()
        with pytest.raises(RevertData) as info:  # re-executed at its block, as the client does
            backend.call(address, b"\x01\x02", sender.address, receipt.block_number)
        assert info.value.data == b"\x01\x02"

    def test_logs_by_address_and_inclusive_block_range(self, backend: ChainBackend) -> None:
        sender = self.funded_account(backend)
        address = self.deploy_echo(backend, sender)
        other = self.deploy_echo(backend, sender)
        first = backend.wait_receipt(self.send(backend, sender, address))
        backend.wait_receipt(self.send(backend, sender, other))
        last = backend.wait_receipt(self.send(backend, sender, address))
        assert len(first.logs) == 1 and first.logs[0].topics == (ECHO_TOPIC,)
        logs = backend.logs(address, first.block_number, last.block_number)
        assert [(log.block_number, log.tx_hash) for log in logs] == [
            (first.block_number, first.tx_hash), (last.block_number, last.tx_hash)]  # fmt: skip
        assert all(log.address == address and log.data == b"" for log in logs)
        assert backend.logs(address, first.block_number + 1, last.block_number - 1) == []
        assert len(backend.logs(other, first.block_number, last.block_number)) == 1

    def test_a_transaction_with_a_used_nonce_is_rejected_before_mining(self, backend: ChainBackend) -> None:
        sender = self.funded_account(backend)
        backend.wait_receipt(self.send(backend, sender, sender.address, gas=21_000))
        used = backend.nonce(sender.address) - 1
        block = backend.block_number()
        with pytest.raises(TransactionRejected):
            self.send(backend, sender, sender.address, gas=21_000, nonce=used)
        assert backend.block_number() == block
