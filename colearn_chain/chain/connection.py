"""A connection to one chain: signing and sending transactions, reading, mining, accounts.

Transactions are signed locally (keys never leave the process) with a per-account nonce cache,
so sending costs one round trip instead of three; the cache is dropped for an account after
any send error and re-read from the node. Fees are the node's base fee, cached and refreshed on
a rejection. Every transaction carries an explicit gas limit: eth-tester's estimate re-executes
the transaction several times, and a fixed limit also lets a doomed transaction be mined (status
0) and replayed, so that its revert reason is recovered the same way on every backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from colearn_chain.chain.accounts import anvil_dev_accounts, eth_tester_dev_accounts, generated_accounts
from colearn_chain.chain.backends import (
    ChainBackend,
    EthTesterBackend,
    RawReceipt,
    RevertData,
    RpcBackend,
    TransactionRejected,
)
from colearn_chain.chain.endpoint import RpcEndpoint
from colearn_chain.errors import ColearnValueError

#: Priority fee offered with every transaction (the base fee is burnt; this is the tip).
PRIORITY_FEE_WEI = 1_000_000_000
#: Send attempts for one transaction: a nonce or fee rejection is retried with fresh values.
SEND_ATTEMPTS = 3


@dataclass(frozen=True)
class SentTransaction:
    """What was sent, kept so that a failed transaction can be replayed for its revert data."""

    sender: str
    to: str | None
    data: bytes
    value: int
    gas: int


class Chain:
    """One chain, through one backend: the only object that signs and sends transactions."""

    def __init__(self, backend: ChainBackend) -> None:
        self.backend = backend
        self.chain_id = backend.chain_id
        self._lock = threading.RLock()
        self._nonces: dict[str, int] = {}
        self._max_fee: int | None = None

    @property
    def kind(self) -> str:
        """``"eth-tester"`` for the embedded chain, ``"rpc"`` for a JSON-RPC node."""
        return self.backend.kind

    @property
    def rpc_url(self) -> str | None:
        """The node's URL without credentials, or None for the embedded chain."""
        return self.backend.url

    def close(self) -> None:
        """Release the backend (the embedded chain's state is discarded)."""
        self.backend.close()

    # -- reading --------------------------------------------------------------------------
    def block_number(self) -> int:
        """The latest mined block."""
        return self.backend.block_number()

    def block_timestamp(self, number: int) -> int:
        """Block ``number``'s timestamp (seconds since the epoch)."""
        return self.backend.block_timestamp(number)

    def balance(self, address: str) -> int:
        """``address``'s balance in wei."""
        return self.backend.balance(address)

    def code(self, address: str) -> bytes:
        """The runtime code at ``address`` (empty for an account)."""
        return self.backend.code(address)

    def block_hash(self, number: int) -> bytes | None:
        """The hash of block ``number`` (None if not mined): block 0's names the chain's genesis."""
        return self.backend.block_hash(number)

    def call(self, to: str | None, data: bytes, sender: str | None = None, block: int | str = "latest") -> bytes:
        """Execute a read-only call (``to`` None: creation code); raises :class:`RevertData`."""
        return self.backend.call(to, data, sender, block)

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks (to move past a deadline)."""
        if blocks < 0:
            raise ColearnValueError(f"cannot mine {blocks} blocks")
        if blocks:
            self.backend.mine(blocks)

    # -- accounts -------------------------------------------------------------------------
    def dev_accounts(self) -> list[LocalAccount]:
        """The node's pre-funded development accounts (empty on a node that has none)."""
        if self.backend.kind == "eth-tester":
            return eth_tester_dev_accounts()
        if self.backend.client_version.lower().startswith("anvil"):
            return anvil_dev_accounts()
        return []

    def new_funded_accounts(
        self,
        count: int,
        value_wei: int = 10**19,
        funder: LocalAccount | None = None,
        seed: int | None = None,
    ) -> list[LocalAccount]:
        """``count`` new accounts, each sent ``value_wei`` by ``funder`` (a dev account by default)."""
        if funder is None:
            dev = self.dev_accounts()
            if not dev:
                raise ColearnValueError("this node has no development accounts: pass a funded `funder`")
            funder = dev[0]
        accounts = generated_accounts(count, seed)
        self.fund([a.address for a in accounts], value_wei, funder)
        return accounts

    def fund(self, addresses: list[str], value_wei: int, funder: LocalAccount) -> None:
        """Send ``value_wei`` to each address from ``funder``."""
        for address in addresses:
            receipt = self.transact(funder, address, b"", gas=21_000, value=value_wei)
            if receipt.status != 1:
                raise TransactionRejected(f"funding {address} failed")

    # -- writing --------------------------------------------------------------------------
    def transact(self, sender: LocalAccount, to: str | None, data: bytes, gas: int, value: int = 0) -> RawReceipt:
        """Sign, send and wait for one transaction; returns its receipt whatever its status."""
        with self._lock:
            last_error: TransactionRejected | None = None
            for _ in range(SEND_ATTEMPTS):
                nonce = self._next_nonce(sender.address)
                tx: dict[str, Any] = {
                    "chainId": self.chain_id,
                    "nonce": nonce,
                    "gas": gas,
                    "maxFeePerGas": self._fee_cap(),
                    "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
                    "value": value,
                    "data": data,
                }
                if to is not None:
                    tx["to"] = to
                signed = sender.sign_transaction(tx)
                try:
                    tx_hash = self.backend.send_raw(bytes(signed.raw_transaction))
                except TransactionRejected as exc:
                    self._nonces.pop(sender.address, None)
                    self._max_fee = None
                    last_error = exc
                    continue
                self._nonces[sender.address] = nonce + 1
                break
            else:
                assert last_error is not None
                raise last_error
        try:
            return self.backend.wait_receipt(tx_hash)
        except Exception:
            with self._lock:
                self._nonces.pop(sender.address, None)
            raise

    def replay(self, sent: SentTransaction, block_number: int) -> bytes:
        """The revert data of a mined, failed transaction, re-executed as a call at its block.

        A call at block N sees block N's post-state and ``block.number == N``; a failed
        transaction changed nothing but its sender's nonce and balance, so this reproduces the
        conditions it met (exactly so when it was alone in its block, as on an auto-mining node).
        """
        try:
            self.backend.call(sent.to, sent.data, sent.sender, block_number)
        except RevertData as revert:
            return revert.data
        return b""

    def _next_nonce(self, address: str) -> int:
        if address not in self._nonces:
            self._nonces[address] = self.backend.nonce(address)
        return self._nonces[address]

    def _fee_cap(self) -> int:
        if self._max_fee is None:
            self._max_fee = 2 * self.backend.base_fee() + PRIORITY_FEE_WEI
        return self._max_fee


def connect(rpc: str | RpcEndpoint | None = None) -> Chain:
    """A new embedded eth-tester chain (``rpc`` None), or a connection to the node ``rpc`` names.

    ``rpc`` is a URL (``http://``, or ``https://`` perhaps with ``user:password@``) or an
    :class:`RpcEndpoint` that also carries headers and a private CA (``--rpc-header``, ``--rpc-ca``).
    """
    if rpc is None:
        return Chain(EthTesterBackend())
    return Chain(RpcBackend(rpc if isinstance(rpc, RpcEndpoint) else RpcEndpoint(rpc)))
