"""Chain throughput: transactions and views per second on eth-tester and Anvil; event loading.

Run ``python benchmarks/throughput.py`` (options: ``--rounds``, ``--view-calls``,
``--history-rounds``, ``--compare-rounds``, ``--json FILE``). Two measurements:

- **Backends.** One workload (deploy with 10 learners, then ``--rounds`` rounds of one proposal
  and 9 votes) on the embedded eth-tester chain and on an Anvil node this script starts on
  127.0.0.1; then ``--view-calls`` ``roundInfo`` calls, and a cold ``events()`` by a fresh
  client (best of 3). The backends take turns round by round and call by call, so that both
  share whatever else the machine does. Each figure is printed as a rate for both backends
  and as their ratio.
- **Event history at scale** (eth-tester). A ``--history-rounds`` history (3 learners: one
  proposal and two votes a round) is loaded cold by a fresh client (best of 3); on the first
  ``--compare-rounds`` rounds the same load is compared with eth-tester's own ``get_logs``
  over the same blocks, and the time per event of the long history is compared with the
  short one's (a ratio near 1 means loading grows linearly).

Only ratios measured in one run are claims; absolute times are printed alongside.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

from colearn_chain.chain import Chain, CollectiveLearningClient, connect
from colearn_chain.chain.anvil import running_anvil
from colearn_chain.chain.backends import EthTesterBackend
from colearn_chain.errors import ColearnError, ColearnRuntimeError, ColearnValueError

LEARNERS = 10
DEFAULT_ROUNDS = 30
DEFAULT_VIEW_CALLS = 300
HISTORY_LEARNERS = 3
DEFAULT_HISTORY_ROUNDS = 1_000
DEFAULT_COMPARE_ROUNDS = 200
SCORE = 973_000
#: Cold loads of the event history timed each time; the best is reported (the least disturbed).
LOAD_REPEATS = 3
ACCOUNT_SEED = 2024


def _hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _setup(chain: Chain, learners: int) -> tuple[CollectiveLearningClient, list[LocalAccount]]:
    """Fund ``learners`` seeded accounts and deploy an experiment for them (not timed)."""
    dev = chain.dev_accounts()
    if not dev:
        raise ColearnValueError("this node has no development accounts to pay for the benchmark")
    accounts = chain.new_funded_accounts(learners, seed=ACCOUNT_SEED)
    client = CollectiveLearningClient.deploy(
        chain, dev[0], [a.address for a in accounts], initial_model=_hash("initial")
    )
    return client, accounts


def _play_rounds(client: CollectiveLearningClient, learners: Sequence[LocalAccount], first: int, last: int) -> int:
    """Rounds ``first`` to ``last - 1``: one proposal, then every other learner approves."""
    n = len(learners)
    sent = 0
    for r in range(first, last):
        proposer = learners[r % n]
        client.propose(proposer, r, _hash(f"w{r}"))
        sent += 1
        for voter in learners:
            if voter is not proposer:
                client.vote(voter, r, True, SCORE)
                sent += 1
    return sent


def _expected_events(learners: int, rounds: int) -> int:
    """LearnerRegistered for each learner, then per round: proposal, n - 1 votes, finalization."""
    return learners + rounds * (learners + 1)


@dataclass
class _Backend:
    """One backend under test: its chain, its experiment, and the time spent on each kind of work."""

    chain: Chain
    client: CollectiveLearningClient
    learners: list[LocalAccount]
    transactions: int = 0
    tx_seconds: float = 0.0
    view_seconds: float = 0.0
    events: int = 0
    events_seconds: float = float("inf")

    def figures(self, view_calls: int) -> dict[str, Any]:
        return {
            "backend": self.chain.kind,
            "transactions": self.transactions,
            "tx_seconds": self.tx_seconds,
            "tx_per_second": self.transactions / self.tx_seconds,
            "view_calls": view_calls,
            "view_seconds": self.view_seconds,
            "views_per_second": view_calls / self.view_seconds,
            "events": self.events,
            "events_seconds": self.events_seconds,
            "events_per_second": self.events / self.events_seconds,
        }


def _cold_load(chain: Chain, client: CollectiveLearningClient, expected: int) -> float:
    """Seconds of the best of :data:`LOAD_REPEATS` cold ``events()`` by fresh clients.

    Each load is by a new client attached at the deployment block, so nothing is cached; the
    count is checked against the rounds played.
    """
    best = float("inf")
    for _ in range(LOAD_REPEATS):
        fresh = CollectiveLearningClient.at(chain, client.address, client.deployment_block)
        events, seconds = _timed(fresh.events)
        if len(events) != expected:
            raise ColearnRuntimeError(f"{chain.kind}: loaded {len(events)} events, expected {expected}")
        best = min(best, seconds)
    return best


def _run_workload(backends: Sequence[_Backend], rounds: int, view_calls: int) -> None:
    """The timed workload, interleaved: each round, each view call, each load on every backend in turn.

    Interleaving makes both backends share whatever else the machine is doing, so the ratio of
    their rates holds even when the absolute rates move from one run to the next.
    """
    for r in range(rounds):
        for backend in backends:
            start = time.perf_counter()
            backend.transactions += _play_rounds(backend.client, backend.learners, r, r + 1)
            backend.tx_seconds += time.perf_counter() - start
    for i in range(view_calls):
        for backend in backends:
            start = time.perf_counter()
            backend.client.round_info(i % rounds)
            backend.view_seconds += time.perf_counter() - start
    expected = _expected_events(LEARNERS, rounds)
    for backend in backends:
        backend.events = expected
        backend.events_seconds = _cold_load(backend.chain, backend.client, expected)


def measure_throughput(rounds: int = DEFAULT_ROUNDS, view_calls: int = DEFAULT_VIEW_CALLS) -> dict[str, Any]:
    """The same workload on a new eth-tester chain and on a new Anvil node; rates and ratios.

    Returns
    -------
    dict
        ``{"rounds", "learners", "eth_tester": {...}, "anvil": {...}, "ratios": {...}}`` where
        each ratio is Anvil's rate divided by eth-tester's.
    """
    if rounds < 1 or view_calls < 1:
        raise ColearnValueError(f"--rounds and --view-calls must be at least 1, got {rounds} and {view_calls}")
    embedded = connect()
    try:
        with running_anvil() as node:
            remote = connect(node.url)
            try:
                backends = [_Backend(c, *_setup(c, LEARNERS)) for c in (embedded, remote)]
                _run_workload(backends, rounds, view_calls)
            finally:
                remote.close()
    finally:
        embedded.close()
    eth_tester, anvil = (backend.figures(view_calls) for backend in backends)
    ratios = {key: anvil[key] / eth_tester[key] for key in ("tx_per_second", "views_per_second", "events_per_second")}
    return {
        "rounds": rounds,
        "learners": LEARNERS,
        "eth_tester": eth_tester,
        "anvil": anvil,
        "ratios": ratios,
    }


def _tester_get_logs(chain: Chain, address: str, from_block: int, to_block: int) -> int:
    """eth-tester's own ``get_logs`` over the blocks (run in its thread); the number of logs."""
    backend = chain.backend
    if not isinstance(backend, EthTesterBackend):
        raise ColearnValueError("the get_logs comparison needs the embedded eth-tester chain")
    tester = backend._tester

    def count() -> int:
        logs = tester.get_logs(from_block=from_block, to_block=to_block, address=address)
        return sum(1 for _ in logs)

    return backend._run(count)


def _check_history(history_rounds: int, compare_rounds: int) -> None:
    if not 1 <= compare_rounds <= history_rounds:
        raise ColearnValueError(
            f"need 1 <= --compare-rounds <= --history-rounds, got {compare_rounds} and {history_rounds}"
        )


def measure_history(
    history_rounds: int = DEFAULT_HISTORY_ROUNDS, compare_rounds: int = DEFAULT_COMPARE_ROUNDS
) -> dict[str, Any]:
    """Load a long event history cold on eth-tester; compare with ``get_logs`` on a prefix.

    The prefix comparison runs when the chain holds ``compare_rounds`` rounds (eth-tester's
    ``get_logs`` looks each receipt up by scanning back from the head, so it is measured before
    the rest of the history is built, on a chain as long as the prefix).
    """
    _check_history(history_rounds, compare_rounds)
    chain = connect()
    try:
        client, learners = _setup(chain, HISTORY_LEARNERS)
        sent, build_seconds = _timed(lambda: _play_rounds(client, learners, 0, compare_rounds))
        head = chain.block_number()
        prefix_events = _expected_events(HISTORY_LEARNERS, compare_rounds)
        client_seconds = _cold_load(chain, client, prefix_events)
        logs, get_logs_seconds = _timed(lambda: _tester_get_logs(chain, client.address, client.deployment_block, head))
        if logs != prefix_events:
            raise ColearnRuntimeError(f"{compare_rounds} rounds: get_logs read {logs} logs, expected {prefix_events}")
        more, more_seconds = _timed(lambda: _play_rounds(client, learners, compare_rounds, history_rounds))
        full_events = _expected_events(HISTORY_LEARNERS, history_rounds)
        full_seconds = _cold_load(chain, client, full_events)
        blocks = chain.block_number() - client.deployment_block + 1
    finally:
        chain.close()
    return {
        "learners": HISTORY_LEARNERS,
        "transactions": sent + more,
        "build_seconds": build_seconds + more_seconds,
        "prefix": {
            "rounds": compare_rounds,
            "blocks": head - client.deployment_block + 1,
            "events": prefix_events,
            "client_seconds": client_seconds,
            "get_logs_seconds": get_logs_seconds,
            "speedup": get_logs_seconds / client_seconds,
        },
        "full": {
            "rounds": history_rounds,
            "blocks": blocks,
            "events": full_events,
            "seconds": full_seconds,
            "events_per_second": full_events / full_seconds,
        },
        "per_event_time_ratio": (full_seconds / full_events) / (client_seconds / prefix_events),
    }


def render(throughput: dict[str, Any], history: dict[str, Any], console: Console) -> None:
    """Print the backend comparison and the history-loading table."""
    eth, anvil, ratios = throughput["eth_tester"], throughput["anvil"], throughput["ratios"]
    backends = Table(
        title=f"Same workload on both backends: {throughput['learners']} learners, "
        f"{throughput['rounds']} rounds of 1 proposal + {throughput['learners'] - 1} votes"
    )
    backends.add_column("figure")
    backends.add_column("eth-tester", justify="right")
    backends.add_column("Anvil", justify="right")
    backends.add_column("Anvil / eth-tester", justify="right")
    for label, rate, count, unit, seconds in (
        ("transactions / s", "tx_per_second", "transactions", "tx", "tx_seconds"),
        ("view calls / s (roundInfo)", "views_per_second", "view_calls", "calls", "view_seconds"),
        ("events / s (cold events(), best of 3)", "events_per_second", "events", "events", "events_seconds"),
    ):
        backends.add_row(label, f"{eth[rate]:,.0f}", f"{anvil[rate]:,.0f}", f"{ratios[rate]:.2f}x")
        backends.add_row(
            "  absolute",
            f"{eth[count]:,} {unit} in {eth[seconds]:.2f} s",
            f"{anvil[count]:,} {unit} in {anvil[seconds]:.2f} s",
            "",
            style="dim",
        )
    console.print(backends)

    prefix, full = history["prefix"], history["full"]
    loading = Table(
        title=f"Event history on eth-tester ({history['learners']} learners, "
        "1 proposal + 2 votes a round), cold load by a fresh client (best of 3)"
    )
    loading.add_column("figure")
    loading.add_column("value", justify="right")
    loading.add_row(
        f"{prefix['rounds']} rounds ({prefix['events']:,} events): client.events() seconds",
        f"{prefix['client_seconds']:.3f}",
    )
    loading.add_row("  eth-tester get_logs seconds", f"{prefix['get_logs_seconds']:.3f}")
    loading.add_row("  get_logs time / client.events() time", f"{prefix['speedup']:,.0f}x")
    loading.add_row(
        f"{full['rounds']:,} rounds ({full['events']:,} events, {history['transactions']:,} tx): "
        "client.events() seconds",
        f"{full['seconds']:.3f}",
    )
    loading.add_row("  events / s", f"{full['events_per_second']:,.0f}")
    loading.add_row(
        f"  time per event, {full['rounds']:,} rounds / {prefix['rounds']:,} rounds",
        f"{history['per_event_time_ratio']:.2f}",
    )
    console.print(loading)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: measure both parts, print the tables, write ``--json``."""
    parser = argparse.ArgumentParser(description="Chain backends' throughput and event loading.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of the workload")
    parser.add_argument("--view-calls", type=int, default=DEFAULT_VIEW_CALLS, help="views to time")
    parser.add_argument("--history-rounds", type=int, default=DEFAULT_HISTORY_ROUNDS, help="rounds of history")
    parser.add_argument("--compare-rounds", type=int, default=DEFAULT_COMPARE_ROUNDS, help="prefix for get_logs")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    try:
        _check_history(args.history_rounds, args.compare_rounds)
        throughput = measure_throughput(args.rounds, args.view_calls)
        history = measure_history(args.history_rounds, args.compare_rounds)
        render(throughput, history, Console())
        if args.json is not None:
            figures = {"throughput": throughput, "history": history}
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    except (ColearnError, OSError) as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
