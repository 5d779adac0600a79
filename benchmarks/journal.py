"""The embedded chain's journal (``run``'s ``chain.jsonl``): what keeping it costs, and how fast it replays.

Run ``python benchmarks/journal.py`` (options: ``--learners``, ``--rounds``, ``--json FILE``).
One workload (fund and deploy for ``--learners`` seeded accounts, then ``--rounds`` rounds of
one proposal and one vote per other learner) is played on a plain embedded chain and on one that
journals itself to a file (each line flushed and fsynced), round by round in turns so that both
share whatever else the machine does. The journal is then replayed on a fresh chain (what
``audit DIR`` and ``run --resume DIR`` do), best of 3, and checked to end at the same block.

Claims are the ratios measured in one run: the journal's overhead per transaction, and a
replay's time against the time the same transactions took to send.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

from colearn_chain.chain import Chain, CollectiveLearningClient, connect
from colearn_chain.chain.journal import journaled_chain, replay_journal
from colearn_chain.errors import ColearnError, ColearnValueError

DEFAULT_LEARNERS = 5
DEFAULT_ROUNDS = 40
REPLAY_REPEATS = 3
SCORE = 973_000


def _hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _setup(chain: Chain, learners: int) -> tuple[CollectiveLearningClient, list[LocalAccount]]:
    accounts = chain.new_funded_accounts(learners, seed=7)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts], initial_model=_hash("initial")
    )
    return client, accounts


def _play_round(client: CollectiveLearningClient, learners: Sequence[LocalAccount], round_index: int) -> float:
    """One proposal and every other learner's vote; the seconds it took."""
    start = time.perf_counter()
    proposer = learners[round_index % len(learners)]
    client.propose(proposer, round_index, _hash(f"w{round_index}"))
    for voter in learners:
        if voter is not proposer:
            client.vote(voter, round_index, True, SCORE)
    return time.perf_counter() - start


def measure(learners: int, rounds: int, directory: Path) -> dict[str, Any]:
    """Play the workload on both chains, replay the journal; every figure as a dict."""
    if learners < 2 or rounds < 1:
        raise ColearnValueError("the workload needs at least 2 learners and 1 round")
    path = directory / "chain.jsonl"
    plain, journaled = connect(), journaled_chain(path)
    try:
        plain_client, plain_accounts = _setup(plain, learners)
        kept_client, kept_accounts = _setup(journaled, learners)
        plain_seconds = kept_seconds = 0.0
        for round_index in range(rounds):
            plain_seconds += _play_round(plain_client, plain_accounts, round_index)
            kept_seconds += _play_round(kept_client, kept_accounts, round_index)
        head = journaled.block_number()
    finally:
        plain.close()
        journaled.close()
    replays = []
    for _ in range(REPLAY_REPEATS):
        start = time.perf_counter()
        replayed = replay_journal(path)
        replays.append(time.perf_counter() - start)
        replayed_head = replayed.block_number()
        replayed.close()
        if replayed_head != head:
            raise ColearnValueError(f"the replay ended at block {replayed_head}, the chain at {head}")
    transactions = rounds * learners
    replay = min(replays)
    return {
        "learners": learners,
        "rounds": rounds,
        "transactions": transactions,
        "blocks": head,
        "journal_bytes": path.stat().st_size,
        "plain_ms_per_tx": 1000 * plain_seconds / transactions,
        "journaled_ms_per_tx": 1000 * kept_seconds / transactions,
        "journal_overhead": kept_seconds / plain_seconds - 1,
        "replay_seconds": replay,
        "replay_ms_per_block": 1000 * replay / head,
        "replay_vs_sending": replay / kept_seconds,
    }


def render(figures: dict[str, Any], console: Console) -> None:
    table = Table(title=f"journal: {figures['learners']} learners, {figures['rounds']} rounds")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("transactions (rounds)", str(figures["transactions"]))
    table.add_row("journal size", f"{figures['journal_bytes'] / 1024:.0f} KiB for {figures['blocks']} blocks")
    table.add_row("plain chain, ms per transaction", f"{figures['plain_ms_per_tx']:.2f}")
    table.add_row("journaled chain, ms per transaction", f"{figures['journaled_ms_per_tx']:.2f}")
    table.add_row("journal overhead", f"{100 * figures['journal_overhead']:+.0f}%")
    replay = f"{figures['replay_seconds']:.2f} s, {figures['replay_ms_per_block']:.1f} ms/block"
    table.add_row("replay (best of 3)", replay)
    table.add_row("replay / sending the same", f"{figures['replay_vs_sending']:.2f}")
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: measure, print the table, write ``--json``."""
    parser = argparse.ArgumentParser(description="The embedded chain's journal: overhead and replay speed.")
    parser.add_argument("--learners", type=int, default=DEFAULT_LEARNERS, help="learners of the workload")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of the workload")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as directory:
            figures = measure(args.learners, args.rounds, Path(directory))
        render(figures, Console())
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    except (ColearnError, OSError) as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
