"""The embedded chain's journal: replayed, it rebuilds the same state; a cut or diverging journal is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colearn_chain.chain.accounts import generated_accounts
from colearn_chain.chain.journal import journaled_chain, replay_journal
from colearn_chain.errors import ColearnFileError


def _play(path: Path) -> tuple[list[str], int, list[int]]:
    """Fund two accounts, mine three blocks, fund one more: the addresses, the head, their balances."""
    chain = journaled_chain(path)
    try:
        funder = chain.dev_accounts()[0]
        accounts: list[str] = [a.address for a in generated_accounts(3, seed=7)]
        chain.fund(accounts[:2], 10**18, funder)
        chain.mine(3)
        chain.fund(accounts[2:], 5 * 10**17, funder)
        return accounts, chain.block_number(), [chain.balance(a) for a in accounts]
    finally:
        chain.close()


def test_a_replayed_journal_is_the_same_chain(tmp_path: Path) -> None:
    path = tmp_path / "chain.jsonl"
    accounts, head, balances = _play(path)
    replayed = replay_journal(path)
    try:
        assert replayed.block_number() == head == 6
        assert [replayed.balance(a) for a in accounts] == balances == [10**18, 10**18, 5 * 10**17]
    finally:
        replayed.close()


def test_a_resumed_chain_goes_on_journaling(tmp_path: Path) -> None:
    path = tmp_path / "chain.jsonl"
    accounts, head, _ = _play(path)
    resumed = replay_journal(path, keep_journaling=True)
    try:
        resumed.fund(accounts[:1], 1, resumed.dev_accounts()[0])
    finally:
        resumed.close()
    again = replay_journal(path)
    try:
        assert again.block_number() == head + 1 and again.balance(accounts[0]) == 10**18 + 1
    finally:
        again.close()


def test_a_line_cut_by_a_killed_process_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "chain.jsonl"
    _, head, _ = _play(path)
    with path.open("a") as handle:
        handle.write('{"tx": "02f8')  # the write the process died in
    resumed = replay_journal(path, keep_journaling=True)
    try:
        assert resumed.block_number() == head
        resumed.mine(1)
    finally:
        resumed.close()
    assert all(json.loads(line) for line in path.read_text().splitlines())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [*lines[:1], '{"mine": 1, "block": 99}'], "replays into block 1, recorded in block 99"),
        (lambda lines: ['{"journal": 1, "chain_id": 5}', *lines[1:]], "is of chain 5"),
        (lambda lines: lines[1:], "does not start with a version 1 header"),
        (lambda lines: [lines[0], "not json", *lines[1:]], "line 2 is not JSON"),
        (lambda lines: [lines[0], '{"tx": "zz", "block": 1}'], "does not replay"),
    ],
)
def test_a_bad_journal_is_one_line(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "chain.jsonl"
    _play(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")  # type: ignore[operator]
    with pytest.raises(ColearnFileError, match="chain journal") as raised:
        replay_journal(path)
    assert message in str(raised.value)


def test_a_missing_journal_says_the_state_is_lost(tmp_path: Path) -> None:
    with pytest.raises(ColearnFileError, match="does not exist: the embedded chain's state is lost"):
        replay_journal(tmp_path / "chain.jsonl")


def test_the_journal_benchmark_replays_to_the_same_block(tmp_path: Path) -> None:
    import sys

    repo = str(Path(__file__).resolve().parents[2])
    if repo not in sys.path:  # the benchmarks are scripts beside the package, not installed
        sys.path.insert(0, repo)
    from benchmarks import journal

    figures = journal.measure(learners=2, rounds=2, directory=tmp_path)
    assert figures["transactions"] == 4 and figures["blocks"] == 2 + 1 + 4  # fund 2, deploy, 4 sent
    assert figures["journal_bytes"] == (tmp_path / "chain.jsonl").stat().st_size
    sending = 4 * figures["journaled_ms_per_tx"] / 1000
    assert figures["replay_vs_sending"] == pytest.approx(figures["replay_seconds"] / sending)
    assert journal.main(["--learners", "1"]) == 2
