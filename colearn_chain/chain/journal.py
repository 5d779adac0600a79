"""The embedded chain kept on disk: a journal of what was sent to it, replayed to rebuild it.

The embedded eth-tester chain lives in memory and is gone when its process ends. Rather than
serialize py-evm's database, every signed transaction (and every batch of empty blocks mined)
is appended to a JSON-lines journal as it is sent. The chain is deterministic given that
sequence: the same genesis, the same signed transactions (their nonces, fees and chain id
included) each mined in its own block, so replaying the journal on a fresh embedded chain
rebuilds the same contract state, events and block numbers (only block hashes and timestamps
differ; the contract reads neither). Each entry also records the block the transaction landed
in, so a replay that diverges is noticed, not trusted.

This is what lets ``colearn-chain audit DIR`` read a finished ``run``'s embedded chain, and
``run --resume DIR`` continue on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from colearn_chain.chain.backends import EthTesterBackend, RawReceipt, TransactionRejected
from colearn_chain.chain.connection import Chain
from colearn_chain.chain.events import RawLog
from colearn_chain.errors import ColearnFileError

#: Version of the journal's line format.
JOURNAL_FORMAT = 1


class JournaledBackend:
    """An embedded chain whose every transaction and mined block is appended to a journal.

    Each line is flushed and fsynced before the call returns, so the journal holds everything
    the chain did up to the last completed call even if the process is killed.
    """

    kind = "eth-tester"
    client_version = "eth-tester"
    url: str | None = None

    def __init__(self, inner: EthTesterBackend, path: Path) -> None:
        self.inner = inner
        self.chain_id = inner.chain_id
        self.path = path
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            _drop_cut_line(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if fresh:
            self._append({"journal": JOURNAL_FORMAT, "chain_id": self.chain_id})

    def _append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
        self.inner.close()

    # -- reading: straight through ----------------------------------------------------------
    def block_number(self) -> int:
        return self.inner.block_number()

    def base_fee(self) -> int:
        return self.inner.base_fee()

    def block_timestamp(self, number: int) -> int:
        return self.inner.block_timestamp(number)

    def nonce(self, address: str) -> int:
        return self.inner.nonce(address)

    def balance(self, address: str) -> int:
        return self.inner.balance(address)

    def code(self, address: str) -> bytes:
        return self.inner.code(address)

    def block_hash(self, number: int) -> bytes | None:
        return self.inner.block_hash(number)

    def call(self, to: str | None, data: bytes, sender: str | None = None, block: int | str = "latest") -> bytes:
        return self.inner.call(to, data, sender, block)

    def logs(self, address: str, from_block: int, to_block: int) -> list[RawLog]:
        return self.inner.logs(address, from_block, to_block)

    def wait_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> RawReceipt:
        return self.inner.wait_receipt(tx_hash, timeout)

    # -- writing: recorded --------------------------------------------------------------------
    def send_raw(self, raw: bytes) -> bytes:
        tx_hash = self.inner.send_raw(raw)  # the embedded chain mines it at once, in its own block
        self._append({"tx": raw.hex(), "block": self.inner.block_number()})
        return tx_hash

    def mine(self, blocks: int) -> None:
        self.inner.mine(blocks)
        self._append({"mine": blocks, "block": self.inner.block_number()})


def _drop_cut_line(path: Path) -> None:
    """Truncate a journal after its last complete line (a killed write leaves a cut one)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _entries(path: Path) -> list[dict[str, Any]]:
    """The journal's entries; a last line cut short by a killed process is dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ColearnFileError(f"chain journal {path} does not exist: the embedded chain's state is lost") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ColearnFileError(f"chain journal {path} is not readable: {exc}") from exc
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # the write the process was killed in
            raise ColearnFileError(f"chain journal {path}: line {number} is not JSON") from None
        if not isinstance(entry, dict):
            raise ColearnFileError(f"chain journal {path}: line {number} is not a JSON object")
        entries.append(entry)
    if not entries or entries[0].get("journal") != JOURNAL_FORMAT:
        raise ColearnFileError(f"chain journal {path} does not start with a version {JOURNAL_FORMAT} header")
    return entries


def _replay_entry(backend: EthTesterBackend, entry: dict[str, Any], where: str) -> None:
    try:
        if "tx" in entry:
            backend.send_raw(bytes.fromhex(str(entry["tx"])))
        elif "mine" in entry:
            backend.mine(int(entry["mine"]))
        else:
            raise ColearnFileError(f"{where} is neither a transaction nor mined blocks")
        expected = int(entry["block"])
    except (KeyError, TypeError, ValueError, TransactionRejected) as exc:
        raise ColearnFileError(f"{where} does not replay: {exc}") from exc
    head = backend.block_number()
    if head != expected:
        raise ColearnFileError(f"{where} replays into block {head}, recorded in block {expected}: the journal diverges")


def replay_journal(path: Path, keep_journaling: bool = False) -> Chain:
    """A new embedded chain rebuilt from the journal at ``path``.

    With ``keep_journaling`` the rebuilt chain goes on appending to the same journal (``run
    --resume``); otherwise it is a read-only copy for an audit.

    Raises
    ------
    ColearnFileError
        The journal is missing, malformed, of another chain, or replays differently than recorded.
    """
    entries = _entries(path)
    backend = EthTesterBackend()
    recorded_chain = entries[0].get("chain_id")
    if recorded_chain != backend.chain_id:
        backend.close()
        raise ColearnFileError(
            f"chain journal {path} is of chain {recorded_chain}, not the embedded {backend.chain_id}"
        )
    try:
        for number, entry in enumerate(entries[1:], 2):
            _replay_entry(backend, entry, f"chain journal {path}: line {number}")
    except BaseException:
        backend.close()
        raise
    if keep_journaling:
        return Chain(JournaledBackend(backend, path))
    return Chain(backend)


def journaled_chain(path: Path) -> Chain:
    """A new embedded chain that records itself to a new journal at ``path``."""
    return Chain(JournaledBackend(EthTesterBackend(), path))
