"""Gas per operation, per round and per deployment of the driver contract, at several sizes.

Run ``python benchmarks/gas.py`` (options: ``--sizes``, ``--rounds``, ``--json FILE``,
``--rpc URL``). For each number of learners n it deploys three experiments on one chain:

- round-robin with no deadlines: ``rounds`` rounds of one proposal (non-zero manifest) and
  n - 1 approving votes, then one proposal with a zero manifest. The last full round is the
  steady state reported; every round is listed so that reuse of storage slots shows;
- round-robin with short windows and a 1 bps threshold: ``contribute``, ``finalize`` of an
  accepted round after its voting window, and ``skip`` after a proposal window;
- selector mode: ``nominate``;
- round-robin with signed votes (PROTOCOL.md v2): ``rounds`` rounds of one proposal and one
  ``submitVotes`` batch of the n - 1 signed votes (relayed by the proposer), then one round in
  which one voter votes directly and the batch carries one entry fewer: the difference between
  the two batches (both end their round, both rewrite the same words) is the marginal gas of one
  counted vote.

Gas is a property of the EVM, not of the node, so the embedded eth-tester chain gives the
same figures as Anvil (``--rpc`` checks it on any node with development accounts). The
targets are checked at n = 10 (and the batch targets at n = 10 and 100, when measured) and the
script exits with 1 if one fails.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

from colearn_chain.chain import Chain, CollectiveLearningClient, connect
from colearn_chain.chain.signing import compact_signature
from colearn_chain.errors import ColearnError, ColearnValueError

DEFAULT_SIZES = (3, 10, 50, 100)
DEFAULT_ROUNDS = 3
#: The number of learners the targets are stated for.
TARGET_N = 10
MEAN_VOTE_LIMIT = 45_000
PROPOSE_LIMIT = 80_000
ROUND_LIMIT = 450_000
#: Largest relative growth of per-vote gas from the smallest n to any larger n.
VOTE_GROWTH_LIMIT = 0.01
#: Signed votes (issue 10): marginal gas of one counted vote in ``submitVotes``, at every n...
BATCH_VOTE_LIMIT = 9_000
#: ...flat in n: largest relative spread of that marginal gas across the sizes measured...
BATCH_VOTE_SPREAD_LIMIT = 0.01
#: ...and a whole round (propose + one batch of the n - 1 votes) at these n.
BATCH_ROUND_LIMITS = {10: 220_000, 100: 1_050_000}
#: Every vote carries the same score, so that calldata (and so gas) is the same for every voter.
SCORE = 973_000
#: Proposal and voting windows (blocks) of the deployments that measure finalize, skip, nominate.
WINDOW = 3
#: Seed of the learner keys, so that every run uses the same accounts.
ACCOUNT_SEED = 2024


@dataclass(frozen=True)
class Target:
    """One target from the issue: a measured figure against its limit."""

    name: str
    measured: float
    limit: float
    passed: bool


def _hash(label: str) -> bytes:
    """A stand-in for a blob's sha256, with no zero byte.

    Calldata costs 4 gas per zero byte and 16 per other byte, so a real hash (about one in eight
    has a zero byte) can cost 12 gas less; hashes with none give the dearest, repeatable figure.
    """
    return bytes(byte or 1 for byte in hashlib.sha256(label.encode()).digest())


def _deploy_gas(chain: Chain, client: CollectiveLearningClient) -> int:
    """The deployment's gas, read from the receipt of the transaction that registered the learners.

    ``CollectiveLearningClient.deploy`` returns the client, not the receipt; the constructor emits
    ``LearnerRegistered`` for every learner, so the first event names the deployment transaction.
    """
    events = client.events(client.deployment_block, client.deployment_block)
    if not events:
        raise ColearnValueError(f"no LearnerRegistered event in block {client.deployment_block}")
    return chain.backend.wait_receipt(events[0].tx_hash).gas_used


def _measure_rounds(
    client: CollectiveLearningClient, learners: Sequence[LocalAccount], rounds: int, tag: str
) -> tuple[list[dict[str, Any]], int]:
    """Full rounds (a proposal with a manifest, all votes approving), then a bare proposal."""
    n = len(learners)
    figures: list[dict[str, Any]] = []
    for r in range(rounds):
        proposer = learners[r % n]
        propose = client.propose(proposer, r, _hash(f"{tag}-w{r}"), _hash(f"{tag}-m{r}")).gas_used
        votes = [client.vote(v, r, True, SCORE).gas_used for v in learners if v is not proposer]
        total = propose + sum(votes)
        figures.append({"round": r, "propose": propose, "votes": votes, "total": total})
    zero_manifest = client.propose(learners[rounds % n], rounds, _hash(f"{tag}-w{rounds}")).gas_used
    return figures, zero_manifest


def _measure_deadlines(
    chain: Chain,
    client: CollectiveLearningClient,
    learners: Sequence[LocalAccount],
    caller: LocalAccount,
    rounds: int,
    tag: str,
) -> dict[str, int]:
    """``contribute``, ``finalize`` (accepted, after its window) and ``skip``, in steady state.

    Each pass runs two rounds: round 2k gets a contribution, a proposal, one vote (accepted under
    the deployment's 1 bps threshold, so finalize also moves the global model: its dearer path)
    and a finalize once the window has passed; round 2k + 1 is skipped. The last pass is reported.
    """
    n = len(learners)
    measured: dict[str, int] = {}
    for k in range(rounds):
        r = 2 * k
        proposer, other = learners[r % n], learners[(r + 1) % n]
        measured["contribute"] = client.contribute(other, r, _hash(f"{tag}-c{r}")).gas_used
        client.propose(proposer, r, _hash(f"{tag}-w{r}"))
        client.vote(other, r, True, SCORE)
        chain.mine(WINDOW)
        measured["finalize"] = client.finalize(caller, r).gas_used
        chain.mine(WINDOW)
        measured["skip"] = client.skip(caller, r + 1).gas_used
    return measured


def _measure_nominate(
    chain: Chain,
    client: CollectiveLearningClient,
    learners: Sequence[LocalAccount],
    selector: LocalAccount,
    caller: LocalAccount,
    rounds: int,
    tag: str,
) -> int:
    """``nominate`` in selector mode, in steady state (each round is ended by ``finalize``)."""
    n = len(learners)
    gas = 0
    for r in range(rounds):
        nominee = learners[(r + 1) % n]
        gas = client.nominate(selector, r, nominee.address).gas_used
        client.propose(nominee, r, _hash(f"{tag}-w{r}"))
        chain.mine(WINDOW)
        client.finalize(caller, r)
    return gas


def _calldata_gas(data: bytes) -> int:
    """What a transaction's input costs (EIP-2028): 4 gas per zero byte, 16 per other byte."""
    return sum(4 if byte == 0 else 16 for byte in data)


def _measure_batches(
    client: CollectiveLearningClient, learners: Sequence[LocalAccount], rounds: int, tag: str
) -> dict[str, Any]:
    """Rounds of one proposal and one batch of every signed vote, then one entry fewer.

    Two batches never carry the same signatures (they sign different rounds), and each zero
    byte of a signature is 12 gas cheaper, so the raw difference of two batches moves by about
    a hundred gas from run to run. The marginal vote is therefore reported as the difference of
    the batches' execution gas (gas used minus the 21,000 base and the calldata) plus the
    calldata of one entry whose signature has no zero byte: the dearest entry, exactly.
    """
    n = len(learners)
    per_round: list[dict[str, Any]] = []
    function = client.codec.functions["submitVotes"]

    def one_round(r: int, direct: int) -> tuple[int, int, int, int]:
        proposer = learners[r % n]
        weights = _hash(f"{tag}-s{r}")
        propose = client.propose(proposer, r, weights, _hash(f"{tag}-sm{r}")).gas_used
        voters = [(i, v) for i, v in enumerate(learners) if v is not proposer]
        for _, voter in voters[:direct]:
            client.vote(voter, r, True, SCORE)
        entries = []
        for index, voter in voters[direct:]:
            compact = compact_signature(client.sign_vote(voter, r, weights, True, SCORE).signature)
            entries.append((index, True, SCORE, compact[:32], compact[32:]))
        receipt = client.submit_vote_entries(proposer, r, entries)
        if not any(type(e).__name__ == "RoundFinalized" for e in receipt.events):
            raise ColearnValueError(f"the batch of round {r} did not end it")
        calldata = _calldata_gas(function.encode_call([r, entries]))
        dearest_entry = _calldata_gas(
            function.encode_call([r, [(entries[-1][0], True, SCORE, b"\xff" * 32, b"\xff" * 32)]])
        ) - _calldata_gas(function.encode_call([r, []]))
        return propose, receipt.gas_used, receipt.gas_used - 21_000 - calldata, dearest_entry

    execution = dearest_entry = 0
    for r in range(rounds):
        propose, batch, execution, dearest_entry = one_round(r, direct=0)
        per_round.append({"round": r, "propose": propose, "batch": batch, "total": propose + batch})
    _, one_fewer, execution_one_fewer, _ = one_round(rounds, direct=1)
    steady = per_round[-1]
    return {
        "batch_propose": steady["propose"],
        "batch": steady["batch"],
        "batch_one_fewer": one_fewer,
        "batch_vote_marginal": execution - execution_one_fewer + dearest_entry,
        "batch_vote_calldata": dearest_entry,
        "batch_round": steady["total"],
        "batch_rounds": per_round,
    }


def measure_size(
    chain: Chain,
    learners: Sequence[LocalAccount],
    deployer: LocalAccount,
    selector: LocalAccount,
    rounds: int,
) -> dict[str, Any]:
    """Every figure for one number of learners (``len(learners)``), on ``chain``.

    Returns
    -------
    dict
        Gas of the deployment and of each operation in steady state (the last round measured),
        and ``rounds``: each full round's proposal, votes and total, for the slot-reuse check.
    """
    n = len(learners)
    addresses = [a.address for a in learners]
    tag = f"n{n}"

    initial = _hash("initial")
    main = CollectiveLearningClient.deploy(chain, deployer, addresses, initial_model=initial)
    deploy = _deploy_gas(chain, main)
    per_round, zero_manifest = _measure_rounds(main, learners, rounds, tag)

    windowed = CollectiveLearningClient.deploy(
        chain,
        deployer,
        addresses,
        threshold_bps=1,
        proposal_window=WINDOW,
        voting_window=WINDOW,
        initial_model=_hash("initial"),
    )
    deadlines = _measure_deadlines(chain, windowed, learners, deployer, rounds, tag)

    selected = CollectiveLearningClient.deploy(
        chain,
        deployer,
        addresses,
        proposal_window=WINDOW,
        voting_window=WINDOW,
        initial_model=_hash("initial"),
        selector=selector.address,
    )
    nominate = _measure_nominate(chain, selected, learners, selector, deployer, rounds, tag)

    signed = CollectiveLearningClient.deploy(chain, deployer, addresses, initial_model=_hash("initial"))
    batches = _measure_batches(signed, learners, rounds, tag)

    steady = per_round[-1]
    votes: list[int] = steady["votes"]
    later = [fig["total"] for fig in per_round[1:]]
    return {
        "n": n,
        "deploy": deploy,
        "deploy_per_learner": deploy / n,
        "marginal_per_learner": None,
        "propose_manifest": steady["propose"],
        "propose_zero_manifest": zero_manifest,
        "contribute": deadlines["contribute"],
        "vote_first": votes[0],
        "vote_typical": int(statistics.median(votes[:-1])),
        "vote_closing": votes[-1],
        "vote_mean": statistics.fmean(votes),
        "finalize": deadlines["finalize"],
        "skip": deadlines["skip"],
        "nominate": nominate,
        "round": steady["total"],
        "rounds": per_round,
        "later_rounds_equal": len(set(later)) == 1,
        "first_round_delta": per_round[0]["total"] - per_round[1]["total"],
        **batches,
    }


def _check_arguments(sizes: Sequence[int], rounds: int) -> list[int]:
    if not sizes:
        raise ColearnValueError("give at least one number of learners (--sizes)")
    if min(sizes) < 3:
        raise ColearnValueError(
            f"every size must be at least 3 (so that a round has a first and a closing vote), got {min(sizes)}"
        )
    if rounds < 2:
        raise ColearnValueError(f"--rounds must be at least 2 to compare rounds, got {rounds}")
    return sorted(set(sizes))


def measure_gas(
    sizes: Sequence[int] = DEFAULT_SIZES, rounds: int = DEFAULT_ROUNDS, rpc: str | None = None
) -> dict[str, Any]:
    """Measure every figure at each size, on a new embedded chain (or the node at ``rpc``).

    Parameters
    ----------
    sizes:
        Numbers of learners (each at least 3).
    rounds:
        Full rounds per size (at least 2, so that later rounds can be compared with the first).
    rpc:
        A JSON-RPC URL; the node must have funded development accounts (Anvil has).

    Returns
    -------
    dict
        ``{"backend", "rounds", "sizes": [per-size figures, by increasing n]}``; JSON-ready.
    """
    ordered = _check_arguments(sizes, rounds)
    chain = connect(rpc)
    try:
        dev = chain.dev_accounts()
        if len(dev) < 2:
            raise ColearnValueError(
                "this node has no development accounts to pay for the benchmark: "
                "use the embedded chain or an Anvil node"
            )
        deployer, selector = dev[0], dev[1]
        accounts = chain.new_funded_accounts(max(ordered), seed=ACCOUNT_SEED)
        per_size = [measure_size(chain, accounts[:n], deployer, selector, rounds) for n in ordered]
        backend = chain.kind
    finally:
        chain.close()
    for previous, current in itertools.pairwise(per_size):
        current["marginal_per_learner"] = (current["deploy"] - previous["deploy"]) / (current["n"] - previous["n"])
        # the same marginal seen across sizes: one more learner, one more entry in the batch
        current["batch_slope_per_learner"] = (current["batch"] - previous["batch"]) / (current["n"] - previous["n"])
    if per_size:
        per_size[0]["batch_slope_per_learner"] = None  # no smaller size to compare with
    return {"backend": backend, "rounds": rounds, "sizes": per_size}


def vote_growth(figures: dict[str, Any]) -> float:
    """The largest relative growth of typical or closing vote gas from the smallest n to any n."""
    sizes = figures["sizes"]
    base = sizes[0]
    growth = 0.0
    for size in sizes[1:]:
        for key in ("vote_typical", "vote_closing"):
            growth = max(growth, (size[key] - base[key]) / base[key])
    return growth


def check_targets(figures: dict[str, Any]) -> list[Target]:
    """The issue's targets against ``figures`` (those at n = 10 only if n = 10 was measured)."""
    targets: list[Target] = []
    at_target = [size for size in figures["sizes"] if size["n"] == TARGET_N]
    if at_target:
        size, n = at_target[0], TARGET_N
        limits = (
            (f"mean vote gas at n = {n} (closing vote included)", "vote_mean", MEAN_VOTE_LIMIT),
            (f"propose gas at n = {n} (non-zero manifest)", "propose_manifest", PROPOSE_LIMIT),
            (f"whole round at n = {n} (1 proposal + {n - 1} votes)", "round", ROUND_LIMIT),
        )
        for name, key, limit in limits:
            targets.append(Target(name, float(size[key]), float(limit), size[key] <= limit))
    growth = vote_growth(figures)
    name = "per-vote gas growth with n (typical and closing vote)"
    targets.append(Target(name, growth, VOTE_GROWTH_LIMIT, growth <= VOTE_GROWTH_LIMIT))
    marginals = [size["batch_vote_marginal"] for size in figures["sizes"]]
    worst = max(marginals)
    name = f"submitVotes: marginal gas per counted vote (worst of n = {_sizes(figures)})"
    targets.append(Target(name, float(worst), float(BATCH_VOTE_LIMIT), worst <= BATCH_VOTE_LIMIT))
    spread = (worst - min(marginals)) / min(marginals)
    name = "submitVotes: spread of that marginal gas across n"
    targets.append(Target(name, spread, BATCH_VOTE_SPREAD_LIMIT, spread <= BATCH_VOTE_SPREAD_LIMIT))
    for size in figures["sizes"]:
        if size["n"] in BATCH_ROUND_LIMITS:
            round_limit = BATCH_ROUND_LIMITS[size["n"]]
            name = f"whole round with signed votes at n = {size['n']} (propose + 1 batch)"
            measured = float(size["batch_round"])
            targets.append(Target(name, measured, float(round_limit), measured <= round_limit))
    return targets


def _sizes(figures: dict[str, Any]) -> str:
    return ", ".join(str(size["n"]) for size in figures["sizes"])


def _gas(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render(figures: dict[str, Any], targets: Sequence[Target], console: Console) -> None:
    """Print the per-operation table, the round-by-round table and the targets."""
    sizes = figures["sizes"]
    operations = Table(title=f"Gas per operation ({figures['backend']}, steady-state round)")
    operations.add_column("operation")
    for size in sizes:
        operations.add_column(f"n = {size['n']}", justify="right")
    rows = (
        ("deploy", "deploy"),
        ("deploy / learner", "deploy_per_learner"),
        ("deploy: marginal gas per extra learner", "marginal_per_learner"),
        ("propose (non-zero manifest)", "propose_manifest"),
        ("propose (zero manifest)", "propose_zero_manifest"),
        ("contribute", "contribute"),
        ("vote: first", "vote_first"),
        ("vote: typical", "vote_typical"),
        ("vote: closing (ends the round)", "vote_closing"),
        ("vote: mean of the round", "vote_mean"),
        ("finalize (after the voting window)", "finalize"),
        ("skip (after the proposal window)", "skip"),
        ("nominate (selector mode)", "nominate"),
        ("whole round (1 proposal + n - 1 votes)", "round"),
        ("signed votes: propose", "batch_propose"),
        ("signed votes: submitVotes of the n - 1 votes", "batch"),
        ("signed votes: submitVotes, one entry fewer", "batch_one_fewer"),
        ("signed votes: marginal gas per counted vote", "batch_vote_marginal"),
        ("signed votes: of which calldata (dearest entry)", "batch_vote_calldata"),
        ("signed votes: batch slope per learner (vs previous n)", "batch_slope_per_learner"),
        ("signed votes: whole round (propose + 1 batch)", "batch_round"),
    )
    for label, key in rows:
        operations.add_row(label, *(_gas(size[key]) for size in sizes))
    console.print(operations)

    history = Table(title="Whole round gas, round by round (storage slots are reused)")
    history.add_column("round")
    for size in sizes:
        history.add_column(f"n = {size['n']}", justify="right")
    for r in range(figures["rounds"]):
        history.add_row(str(r), *(_gas(size["rounds"][r]["total"]) for size in sizes))
    same = ("yes" if s["later_rounds_equal"] else "NO" for s in sizes)
    history.add_row("rounds >= 1 equal", *same)
    history.add_row("round 0 - round 1", *(f"{s['first_round_delta']:+,}" for s in sizes))
    console.print(history)
    console.print(
        "Round 0 costs more: it writes the vote word for the first time (zero to non-zero, "
        "20,000 gas more); later rounds rewrite it in place. Its calldata is a little cheaper "
        "(its round number is all zero bytes: 4 gas each instead of 16).",
        style="dim",
    )

    checks = Table(title="Targets")
    checks.add_column("target")
    checks.add_column("measured", justify="right")
    checks.add_column("limit", justify="right")
    checks.add_column("result")
    for target in targets:
        ratio = target.limit < 1
        checks.add_row(
            target.name,
            f"{target.measured:.2%}" if ratio else _gas(target.measured),
            f"{target.limit:.0%}" if ratio else _gas(target.limit),
            "[green]PASS[/green]" if target.passed else "[red]FAIL[/red]",
        )
    console.print(checks)
    if not any(size["n"] == TARGET_N for size in sizes):
        console.print(f"n = {TARGET_N} was not measured: its targets were not checked.")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: measure, print the tables, write ``--json``; exit 1 if a target fails."""
    parser = argparse.ArgumentParser(description="Gas per operation and per round of the contract.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of learners")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="full rounds per size (>= 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--rpc", metavar="URL", help="measure on this JSON-RPC node instead")
    args = parser.parse_args(argv)
    console = Console()
    try:
        figures = measure_gas(args.sizes, args.rounds, args.rpc)
        targets = check_targets(figures)
        figures["targets"] = [asdict(target) for target in targets]
        render(figures, targets, console)
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    except (ColearnError, OSError) as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        return 2
    return 0 if all(target.passed for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
