"""The two ways to reach a chain: the embedded eth-tester (py-evm) chain, and any JSON-RPC node.

Both implement one named protocol, :class:`ChainBackend` (what web3's ``BaseProvider`` is to
web3: the narrow surface everything above is written against: send raw transactions, wait for
receipts, call, read logs, mine, nonces, fees), and both pass one reusable test suite
(:mod:`colearn_chain.chain.backend_suite`), which a new backend subclasses. Each is tuned for
what is slow on it, as measured on this project's machines:

- eth-tester: all access runs in one dedicated thread (concurrent use of py-evm hangs);
  receipts and logs are read from py-evm's blocks directly (eth-tester's ``get_logs`` walks
  every block and looks each receipt up by scanning back, which grows quadratically).
- JSON-RPC: receipts are polled every few milliseconds (web3's default 0.1 s sleep would make
  every transaction take over 100 ms); logs are read in block-range chunks.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from eth_utils.address import to_checksum_address

from colearn_chain.chain.endpoint import NodeAccessDenied, NodeCertificateRejected, RpcEndpoint
from colearn_chain.chain.events import RawLog
from colearn_chain.errors import ColearnRuntimeError

T = TypeVar("T")
_CALL_SENDER = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"

#: First poll after sending, then doubling up to the cap: a local node mines in about a millisecond.
RECEIPT_POLL_START = 0.002
RECEIPT_POLL_CAP = 0.05
#: Blocks per eth_getLogs request: public nodes cap ranges at about 10,000.
LOG_CHUNK_BLOCKS = 5_000


class ChainUnavailable(ColearnRuntimeError):
    """The node could not be reached or did not answer in time."""


class TransactionRejected(ColearnRuntimeError):
    """The node refused a transaction before mining it (bad nonce, fee, balance...)."""


class RevertData(Exception):
    """A call reverted with this raw data (``selector || fields``); decoded by the client."""

    def __init__(self, data: bytes) -> None:
        super().__init__("0x" + data.hex())
        self.data = data


@dataclass(frozen=True)
class RawReceipt:
    """The parts of a receipt the client uses, identical on both backends."""

    tx_hash: bytes
    status: int
    block_number: int
    gas_used: int
    contract_address: str | None
    logs: tuple[RawLog, ...]


@runtime_checkable
class ChainBackend(Protocol):
    """What the client needs from a chain: the contract of every backend.

    Attributes
    ----------
    kind:
        ``"eth-tester"`` for the embedded chain, ``"rpc"`` for a JSON-RPC node.
    chain_id:
        The chain's id (EIP-155), read once.
    client_version:
        The node's ``web3_clientVersion`` (``"eth-tester"`` for the embedded chain); tells which
        development accounts it has.
    url:
        The node's URL, or None for an embedded chain.

    Every method raises :class:`ChainUnavailable` when the chain does not answer; ``call``
    raises :class:`RevertData` on a revert and ``send_raw`` :class:`TransactionRejected` when
    the node refuses a transaction before mining it. A mined transaction that reverted is a
    receipt with status 0, never an exception.
    """

    kind: str
    chain_id: int
    client_version: str
    url: str | None

    def close(self) -> None:
        """Release the backend's resources (an embedded chain's state is gone with it)."""

    def block_number(self) -> int:
        """The latest mined block's number."""

    def base_fee(self) -> int:
        """The latest block's base fee per gas, in wei."""

    def block_timestamp(self, number: int) -> int:
        """Block ``number``'s timestamp, in seconds since the epoch (to estimate the block time)."""

    def nonce(self, address: str) -> int:
        """``address``'s next nonce, counting pending transactions."""

    def balance(self, address: str) -> int:
        """``address``'s balance in wei."""

    def code(self, address: str) -> bytes:
        """The runtime code at ``address`` (empty for an account)."""

    def block_hash(self, number: int) -> bytes | None:
        """The hash of block ``number``, or None if the chain has not mined it."""

    def call(self, to: str | None, data: bytes, sender: str | None = None, block: int | str = "latest") -> bytes:
        """Execute a read-only call at ``block`` (``to`` None: run ``data`` as creation code)."""

    def logs(self, address: str, from_block: int, to_block: int) -> list[RawLog]:
        """``address``'s logs in blocks ``from_block..to_block`` (inclusive), in chain order."""

    def send_raw(self, raw: bytes) -> bytes:
        """Send a signed transaction; returns its hash."""

    def wait_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> RawReceipt:
        """Wait until the transaction is mined and return its receipt."""

    def mine(self, blocks: int) -> None:
        """Mine ``blocks`` empty blocks."""


class EthTesterBackend:
    """The embedded py-evm chain, every access serialized through one worker thread."""

    kind = "eth-tester"
    client_version = "eth-tester"
    url: str | None = None

    def __init__(self) -> None:
        from eth_tester import EthereumTester, PyEVMBackend

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eth-tester")
        self._worker: threading.Thread | None = None

        def build() -> tuple[Any, Any]:
            self._worker = threading.current_thread()
            backend = PyEVMBackend()
            return backend, EthereumTester(backend)

        self._pyevm, self._tester = self._executor.submit(build).result()
        self.chain_id: int = self._run(lambda: int(self._pyevm.chain.chain_id))

    def _run(self, fn: Callable[[], T]) -> T:
        if threading.current_thread() is self._worker:
            return fn()
        return self._executor.submit(fn).result()

    def close(self) -> None:
        """Stop the worker thread (the chain's state is gone with it)."""
        self._executor.shutdown(wait=True)

    # -- reading --------------------------------------------------------------------------
    def block_number(self) -> int:
        return self._run(lambda: int(self._pyevm.chain.get_canonical_head().block_number))

    def base_fee(self) -> int:
        return self._run(lambda: int(self._pyevm.chain.get_canonical_head().base_fee_per_gas))

    def block_timestamp(self, number: int) -> int:
        return self._run(lambda: int(self._pyevm.chain.get_canonical_block_header_by_number(number).timestamp))

    def nonce(self, address: str) -> int:
        return self._run(lambda: int(self._tester.get_nonce(address)))

    def balance(self, address: str) -> int:
        return self._run(lambda: int(self._tester.get_balance(address)))

    def code(self, address: str) -> bytes:
        def read() -> bytes:
            code = self._tester.get_code(address)
            return bytes.fromhex(code[2:]) if isinstance(code, str) else bytes(code)

        return self._run(read)

    def block_hash(self, number: int) -> bytes | None:
        def read() -> bytes | None:
            try:
                block = self._pyevm.chain.get_canonical_block_header_by_number(number)
            except Exception:  # py-evm's HeaderNotFound: no such block yet
                return None
            return bytes(block.hash)

        return self._run(read)

    def call(self, to: str | None, data: bytes, sender: str | None = None, block: int | str = "latest") -> bytes:
        from eth_tester.exceptions import TransactionFailed

        # eth-tester requires a sender that can pay for the call's gas, even for views: the first
        # genesis account (key 1) is rich and has no special rights in the contract.
        tx: dict[str, Any] = {"from": sender or _CALL_SENDER, "data": "0x" + data.hex(), "gas": 10_000_000}
        if to is not None:
            tx["to"] = to

        def execute() -> bytes:
            try:
                result = self._tester.call(tx, block)
            except TransactionFailed as exc:
                raise RevertData(_revert_bytes_from_text(str(exc))) from None
            return bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result)

        return self._run(execute)

    def logs(self, address: str, from_block: int, to_block: int) -> list[RawLog]:
        target = to_checksum_address(address)

        def read() -> list[RawLog]:
            chain = self._pyevm.chain
            found: list[RawLog] = []
            for number in range(from_block, to_block + 1):
                block = chain.get_canonical_block_by_number(number)
                if block.transactions:
                    found.extend(log for log in _block_logs(chain, block) if log.address == target)
            return found

        return self._run(read)

    # -- writing --------------------------------------------------------------------------
    def send_raw(self, raw: bytes) -> bytes:
        def send() -> bytes:
            tx_hash = self._tester.send_raw_transaction("0x" + raw.hex())
            return bytes.fromhex(tx_hash[2:])

        try:
            return self._run(send)
        except Exception as exc:
            raise TransactionRejected(str(exc)) from exc

    def wait_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> RawReceipt:
        def find() -> RawReceipt:
            chain = self._pyevm.chain
            head = chain.get_canonical_head().block_number
            for number in range(head, max(-1, head - 64), -1):
                block = chain.get_canonical_block_by_number(number)
                for index, tx in enumerate(block.transactions):
                    if tx.hash == tx_hash:
                        return _receipt_in_block(chain, block, index)
            raise ChainUnavailable(f"transaction 0x{tx_hash.hex()} was not mined")

        return self._run(find)

    def mine(self, blocks: int) -> None:
        self._run(lambda: self._tester.mine_blocks(blocks))


def _block_logs(chain: Any, block: Any) -> list[RawLog]:
    receipts = block.get_receipts(chain.chaindb)
    logs: list[RawLog] = []
    for tx, receipt in zip(block.transactions, receipts, strict=True):
        for log in receipt.logs:
            logs.append(
                RawLog(
                    address=to_checksum_address(log.address),
                    topics=tuple(t.to_bytes(32, "big") for t in log.topics),
                    data=bytes(log.data),
                    block_number=block.number,
                    log_index=len(logs),
                    tx_hash=tx.hash,
                )
            )
    return logs


def _receipt_in_block(chain: Any, block: Any, index: int) -> RawReceipt:
    from eth_utils.crypto import keccak

    receipts = block.get_receipts(chain.chaindb)
    receipt = receipts[index]
    previous_gas = receipts[index - 1].gas_used if index else 0
    tx = block.transactions[index]
    logs = tuple(log for log in _block_logs(chain, block) if log.tx_hash == tx.hash)
    contract_address = None
    if tx.to == b"":
        import rlp

        contract_address = to_checksum_address(keccak(rlp.encode([tx.sender, tx.nonce]))[12:])
    return RawReceipt(
        tx_hash=tx.hash,
        status=int.from_bytes(receipt.state_root, "big") if len(receipt.state_root) <= 1 else 1,
        block_number=block.number,
        gas_used=receipt.gas_used - previous_gas,
        contract_address=contract_address,
        logs=logs,
    )


_BYTES_LITERAL = re.compile(r"b(['\"]).*\1", re.DOTALL)


def _revert_bytes_from_text(message: str) -> bytes:
    """eth-tester reports a revert as ``execution reverted: b'...'``: recover the bytes."""
    match = _BYTES_LITERAL.search(message)
    if match:
        try:
            value = ast.literal_eval(match.group(0))
            if isinstance(value, bytes):
                return value
        except (ValueError, SyntaxError):
            pass
    hex_match = re.search(r"0x[0-9a-fA-F]+", message)
    return bytes.fromhex(hex_match.group(0)[2:]) if hex_match else b""


class RpcBackend:
    """Any Ethereum JSON-RPC node over HTTP(S) (Anvil, geth, a testnet, a hosted provider).

    ``endpoint`` is a URL or an :class:`~colearn_chain.chain.endpoint.RpcEndpoint` (credentials,
    headers, a private CA). :attr:`url` is the URL without credentials, and no message carries
    them. Refused credentials and an untrusted certificate are errors of their own
    (:class:`NodeAccessDenied`, :class:`NodeCertificateRejected`), not :class:`ChainUnavailable`:
    waiting for the node to come back cannot fix them.
    """

    kind = "rpc"

    def __init__(self, endpoint: str | RpcEndpoint, timeout: float = 30.0) -> None:
        from web3 import Web3
        from web3.providers import HTTPProvider

        self.endpoint = endpoint if isinstance(endpoint, RpcEndpoint) else RpcEndpoint(endpoint)
        self.url: str | None = self.endpoint.public_url
        self.w3 = Web3(HTTPProvider(self.endpoint.url, request_kwargs=self.endpoint.request_kwargs(timeout)))
        try:
            self.chain_id = int(self.w3.eth.chain_id)
            self.client_version: str = str(self.w3.client_version)
        except Exception as exc:
            translated = self._translate(exc)
            if isinstance(translated, NodeAccessDenied | NodeCertificateRejected):
                raise translated from exc
            raise ChainUnavailable(f"cannot reach a JSON-RPC node at {self.url}: {self._short(exc)}") from exc

    def close(self) -> None:
        """Nothing to release: HTTP connections are pooled by web3."""

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc

    def _translate(self, exc: Exception) -> Exception | None:
        """The project's error for a failed request, or None for any other exception."""
        import requests

        if isinstance(exc, requests.exceptions.SSLError):
            return NodeCertificateRejected(
                f"the TLS certificate of {self.url} is not trusted ({_tls_reason(self._short(exc))}): "
                "pass --rpc-ca FILE with the certificate of the CA that signed it"
            )
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(exc, requests.exceptions.HTTPError) and status in (401, 403):
            reason = getattr(response, "reason", "") or ""
            return NodeAccessDenied(
                f"the node at {self.url} refused the credentials (HTTP {status} {reason}".rstrip()
                + "): check the user:password in --rpc or the --rpc-header values"
            )
        if isinstance(exc, ConnectionError | OSError | TimeoutError) or type(exc).__module__.startswith("requests"):
            return ChainUnavailable(f"JSON-RPC node at {self.url} did not answer: {self._short(exc)}")
        return None

    def _short(self, exc: BaseException) -> str:
        return _short(exc, self.endpoint.redact)

    def block_number(self) -> int:
        return self._guard(lambda: int(self.w3.eth.block_number))

    def base_fee(self) -> int:
        return self._guard(lambda: int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0)))

    def block_timestamp(self, number: int) -> int:
        return self._guard(lambda: int(self.w3.eth.get_block(number)["timestamp"]))

    def nonce(self, address: str) -> int:
        return self._guard(lambda: int(self.w3.eth.get_transaction_count(address, "pending")))  # type: ignore[arg-type]

    def balance(self, address: str) -> int:
        return self._guard(lambda: int(self.w3.eth.get_balance(address)))  # type: ignore[arg-type]

    def code(self, address: str) -> bytes:
        return self._guard(lambda: bytes(self.w3.eth.get_code(address)))  # type: ignore[arg-type]

    def block_hash(self, number: int) -> bytes | None:
        from web3.exceptions import BlockNotFound

        try:
            block = self._guard(lambda: self.w3.eth.get_block(number))
        except BlockNotFound:
            return None
        found = block.get("hash")
        return bytes(found) if found is not None else None

    def call(self, to: str | None, data: bytes, sender: str | None = None, block: int | str = "latest") -> bytes:
        from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

        tx: dict[str, Any] = {"data": "0x" + data.hex()}
        if to is not None:
            tx["to"] = to
        if sender:
            tx["from"] = sender

        def execute() -> bytes:
            try:
                return bytes(self.w3.eth.call(tx, block))  # type: ignore[arg-type]
            except (ContractCustomError, ContractPanicError, ContractLogicError) as exc:
                raw = exc.data if isinstance(exc.data, str) else getattr(exc, "message", "")
                text = raw if isinstance(raw, str) else ""
                data = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
                raise RevertData(data) from None

        return self._guard(execute)

    def logs(self, address: str, from_block: int, to_block: int) -> list[RawLog]:
        found: list[RawLog] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + LOG_CHUNK_BLOCKS - 1)
            params = {"address": address, "fromBlock": start, "toBlock": end}
            for entry in self._guard(lambda p=params: self.w3.eth.get_logs(p)):  # type: ignore[misc]
                found.append(_raw_log_from_rpc(entry))
            start = end + 1
        return found

    def send_raw(self, raw: bytes) -> bytes:
        try:
            return bytes(self._guard(lambda: self.w3.eth.send_raw_transaction(raw)))
        except ChainUnavailable:
            raise
        except Exception as exc:
            raise TransactionRejected(self._short(exc)) from exc

    def wait_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> RawReceipt:
        from web3.exceptions import TransactionNotFound

        deadline = time.monotonic() + timeout
        pause = RECEIPT_POLL_START
        while True:
            try:
                receipt = self._guard(lambda: self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            except TransactionNotFound:
                receipt = None
            if receipt is not None and receipt.get("blockNumber") is not None:
                break
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"transaction 0x{tx_hash.hex()} not mined within {timeout:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, RECEIPT_POLL_CAP)
        address = receipt.get("contractAddress")
        return RawReceipt(
            tx_hash=bytes(receipt["transactionHash"]),
            status=int(receipt["status"]),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            contract_address=to_checksum_address(address) if address else None,
            logs=tuple(_raw_log_from_rpc(entry) for entry in receipt["logs"]),
        )

    def mine(self, blocks: int) -> None:
        def mine_all() -> None:
            response = self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]
            if "error" in response:
                for _ in range(blocks):
                    self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        self._guard(mine_all)


def _raw_log_from_rpc(entry: Any) -> RawLog:
    return RawLog(
        address=to_checksum_address(entry["address"]),
        topics=tuple(bytes(t) for t in entry["topics"]),
        data=bytes(entry["data"]),
        block_number=int(entry["blockNumber"]),
        log_index=int(entry["logIndex"]),
        tx_hash=bytes(entry["transactionHash"]),
    )


def _short(exc: BaseException, redact: Callable[[str], str] = str) -> str:
    text = redact(str(exc)).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _tls_reason(text: str) -> str:
    """OpenSSL's reason from a requests SSLError message (``self-signed certificate``...)."""
    found = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    return found.group(1).strip() if found else text


Backend = ChainBackend
"""The name the rest of the package used before the protocol existed."""
