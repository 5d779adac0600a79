"""The experiment loop: same results on chain and memory, bad proposals rejected, tallies right."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import ClassVar

import pytest

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.interface import weights_to_onnx
from colearn_chain.ledger import Ballot, InMemoryLedger, RoundOutcome, threshold_to_bps
from colearn_chain.records import ExperimentResult
from colearn_chain.rounds import SharedProposals, decide_vote
from colearn_chain.simulation import build_learners, make_settings, run_simulation
from colearn_chain.strategies import Proposal, ProposalStrategy, RoundContext, make_strategy
from colearn_chain.weights.digest import Digest, sha256_hex
from colearn_chain.weights.store import InMemoryStore

SMALL = {"learners": 3, "rounds": 3, "seed": 3, "centralized_epochs": 2}


@pytest.fixture(scope="module")
def chain_and_memory() -> tuple[ExperimentResult, ExperimentResult]:
    settings = make_settings(SMALL)
    on_chain = run_simulation(settings, InMemoryStore(), "chain", with_centralized=False)
    in_memory = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
    return on_chain, in_memory


def test_same_seed_same_votes_and_hashes_on_chain_and_in_memory(
    chain_and_memory: tuple[ExperimentResult, ExperimentResult],
) -> None:
    on_chain, in_memory = chain_and_memory
    assert on_chain.contract is not None and on_chain.chain_id is not None
    assert in_memory.contract is None
    assert on_chain.learners == in_memory.learners  # seeded accounts
    assert len(on_chain.rounds) == 3
    for a, b in zip(on_chain.rounds, in_memory.rounds, strict=True):
        assert (a.proposer, a.weights, a.accepted) == (b.proposer, b.weights, b.accepted)
        assert a.global_model == b.global_model
        assert [(v.learner, v.approve, v.score) for v in a.votes] == [(v.learner, v.approve, v.score) for v in b.votes]
    assert on_chain.final_accuracy == in_memory.final_accuracy


def test_records_follow_round_robin_and_the_tally(chain_and_memory: tuple[ExperimentResult, ExperimentResult]) -> None:
    on_chain, _ = chain_and_memory
    for record in on_chain.rounds:
        assert record.proposer == on_chain.learners[record.round % 3]
        assert {v.learner for v in record.votes} == set(on_chain.learners) - {record.proposer}
        assert record.approvals == sum(v.approve for v in record.votes)
        assert record.accepted == (record.approvals * 10_000 >= 5000 * 2)
        assert record.test_accuracy is not None and 0 <= record.test_accuracy <= 1
    accepted = [r for r in on_chain.rounds if r.accepted]
    assert accepted, "three rounds of fresh training on digits should improve the model at least once"
    assert on_chain.rounds[-1].global_model == accepted[-1].weights


def test_every_proposal_is_in_the_store_under_its_hash() -> None:
    settings = make_settings(SMALL)
    store = InMemoryStore()
    result = run_simulation(settings, store, "chain", with_centralized=False)
    for record in result.rounds:
        assert record.weights is not None and store.has(record.weights)  # every proposal is in the store


class _GarbageStrategy(ProposalStrategy):
    """Proposes bytes that are not a model at all: every voter must reject, with a reason."""

    name: ClassVar[str] = "garbage"

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        return Proposal(weights=b"definitely not onnx")


class _WrongShapeStrategy(ProposalStrategy):
    name: ClassVar[str] = "wrong-shape"

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        import numpy as np

        from colearn_chain.weights.codec import encode_weights

        return Proposal(weights=encode_weights([np.zeros((2, 2), dtype=np.float32)]))


@pytest.mark.parametrize("strategy", [_GarbageStrategy(), _WrongShapeStrategy()])
def test_invalid_proposals_are_rejected_with_a_reason_and_the_experiment_carries_on(
    strategy: ProposalStrategy,
) -> None:
    settings = make_settings(SMALL)
    learners, evaluate, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    ledger = InMemoryLedger([f"0x{i:040x}" for i in range(3)], 0.5, initial)
    experiment = Experiment(learners, ledger, store, strategy, initial, evaluate)
    records = experiment.run(2)
    for record in records:
        assert not record.accepted
        assert all(not v.approve and v.reason for v in record.votes)
        assert record.global_model == initial.prefixed
    assert experiment.global_digest == initial


class _CountingStore(InMemoryStore):
    """An in-memory store that counts each digest's reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    def get(self, digest: str | bytes) -> bytes:
        self.reads[Digest(digest)] += 1
        return super().get(digest)


def test_a_proposal_is_fetched_once_per_round_for_every_voter() -> None:
    settings = make_settings({**SMALL, "learners": 4})
    learners, evaluate, _ = build_learners(settings)
    store = _CountingStore()
    initial = publish_initial_model(learners, store)
    ledger = InMemoryLedger([f"0x{i:040x}" for i in range(4)], 0.5, initial)
    experiment = Experiment(learners, ledger, store, make_strategy("round-robin"), initial, evaluate)
    store.reads.clear()
    records = experiment.run(3)
    assert any(r.accepted for r in records)  # adoption and accuracy read the proposal too
    proposed = Counter(Digest(r.weights) for r in records if r.weights is not None)
    assert {digest: store.reads[digest] for digest in proposed} == dict(proposed)


def test_a_proposal_is_decoded_once_per_round_for_every_voter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The codec runs once per proposal and round, not once per voter (spy on the round step's decoder)."""
    import colearn_chain.rounds as rounds

    decoded: Counter[tuple[int, str]] = Counter()
    decode = rounds.decode_weights  # type: ignore[attr-defined]
    experiment_round = [-1]  # the initial model, published before round 0

    def spy(blob: bytes, spec: object) -> object:
        decoded[experiment_round[0], sha256_hex(blob)] += 1
        return decode(blob, spec=spec)  # type: ignore[arg-type]

    monkeypatch.setattr(rounds, "decode_weights", spy)
    settings = make_settings({**SMALL, "learners": 5})
    learners, evaluate, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(learners, store)
    ledger = InMemoryLedger([f"0x{i:040x}" for i in range(5)], 0.5, initial)
    experiment = Experiment(learners, ledger, store, make_strategy("round-robin"), initial, evaluate)
    records = []
    for index in range(3):
        experiment_round[0] = index
        records.append(experiment.run_round())
    assert any(r.accepted for r in records)  # adoption and the evaluation reuse the decoded arrays
    for record in records:
        assert record.weights is not None and decoded[record.round, Digest(record.weights)] == 1
    assert set(decoded.values()) == {1}  # nothing else (the global model evaluated) decoded twice


def test_a_shared_proposal_is_still_checked_against_each_voters_own_model() -> None:
    digits, _, _ = build_learners(make_settings(SMALL))
    wine, _, _ = build_learners(make_settings({**SMALL, "task": "wine-mlp"}))
    store = _CountingStore()
    digest = store.put(weights_to_onnx(digits[0].mli_get_current_weights()))
    shared = SharedProposals(store)
    mine = decide_vote(digits[1], store, digest, shared=shared)
    other = decide_vote(wine[0], store, digest, shared=shared)
    again = decide_vote(digits[2], store, digest, shared=shared)
    assert mine.reason is None and again.reason is None
    assert other.approve is False and other.reason is not None and "not a valid model" in other.reason
    assert store.reads[Digest(digest)] == 1
    # each voter gets arrays of its own: one learner changing its copy changes no other's
    assert mine.weights is not None and again.weights is not None
    first, second = mine.weights.weights[0], again.weights.weights[0]
    assert type(first) is type(second) and first is not second
    before = float(abs(second).sum())
    first[...] = 0
    assert before > 0 and float(abs(second).sum()) == before


def test_a_missing_blob_is_a_reject_not_a_crash() -> None:
    settings = make_settings(SMALL)
    learners, _, _ = build_learners(settings)
    decision = decide_vote(learners[0], InMemoryStore(), "ab" * 32)
    assert decision.approve is False
    assert decision.reason is not None and "missing" in decision.reason


def test_in_memory_ledger_tally() -> None:
    ledger = InMemoryLedger(["a", "b", "c", "d"], 0.5, b"\x01" * 32)
    assert ledger.proposer(0) == 0
    assert ledger.propose(0, 0, b"\x02" * 32, b"") is None
    assert ledger.vote(1, 0, True, 0.5) is None
    assert ledger.vote(2, 0, False, 0.1) is None
    outcome = ledger.vote(3, 0, False, 0.1)
    assert outcome == RoundOutcome(0, False, 1, 2, b"\x01" * 32)  # 1 * 10000 < 5000 * 3
    assert ledger.proposer(1) == 1
    single = InMemoryLedger(["a"], 1.0, b"\x01" * 32)
    assert single.propose(0, 0, b"\x03" * 32, b"") == RoundOutcome(0, True, 0, 0, b"\x03" * 32)


def test_in_memory_ledger_batch_votes_in_learner_order_with_the_same_tally() -> None:
    one_by_one = InMemoryLedger(["a", "b", "c", "d"], 0.5, b"\x01" * 32)
    batched = InMemoryLedger(["a", "b", "c", "d"], 0.5, b"\x01" * 32)
    for ledger in (one_by_one, batched):
        ledger.propose(0, 0, b"\x02" * 32, b"")
    one_by_one.vote(1, 0, True, 0.5)
    one_by_one.vote(2, 0, True, 0.1)
    expected = one_by_one.vote(3, 0, False, 0.1)
    assert batched.vote_all(0, [Ballot(3, False, 0.1), (1, True, 0.5), Ballot(2, True, 0.1)]) == expected
    assert expected == RoundOutcome(0, True, 2, 1, b"\x02" * 32)
    # round 1 (proposer b): a duplicate or the proposer refuses the whole batch, a prior voter is skipped
    batched.propose(1, 1, b"\x03" * 32, b"")
    for bad in ([(2, True, 0.0), (2, False, 0.0)], [(1, True, 0.0)], [(7, True, 0.0)], []):
        with pytest.raises(ColearnRuntimeError):
            batched.vote_all(1, bad)
    assert batched.vote(2, 1, False, 0.0) is None
    outcome = batched.vote_all(1, [(0, True, 0.0), (2, True, 0.0), (3, True, 0.0)])
    assert outcome == RoundOutcome(1, True, 2, 1, b"\x03" * 32)  # learner 2's direct reject stands


def test_threshold_conversion() -> None:
    assert threshold_to_bps(0.5) == 5000
    assert threshold_to_bps(1.0) == 10000
    assert threshold_to_bps(0.00001) == 1
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ColearnValueError):
            threshold_to_bps(bad)


def test_settings_validation_names_the_key() -> None:
    with pytest.raises(ColearnValueError, match="colour: unknown key"):
        make_settings({"colour": "blue"})
    with pytest.raises(ColearnValueError, match="threshold"):
        make_settings(threshold=1.5)
    with pytest.raises(ColearnValueError, match="learners"):
        make_settings(learners=0)
    assert make_settings({"rounds": 4}, rounds=7).rounds == 7  # flags override the file
    assert make_settings({"rounds": 4}, rounds=None).rounds == 4


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ColearnValueError, match="round-robin"):
        make_strategy("nope")


class _NominateAndCollect(ProposalStrategy):
    """Nominates the last learner every round and proposes the nominee's own contributed update."""

    name: ClassVar[str] = "test-nominate-collect"
    nominates: ClassVar[bool] = True

    def nominate(self, context: RoundContext) -> int | None:
        return len(context.learners) - 1

    def contributors(self, context: RoundContext, proposer: int) -> list[int]:
        return list(range(len(context.learners)))

    def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
        assert set(contributions) == set(range(len(context.learners)))
        return Proposal(weights=context.store.get(contributions[proposer]), manifest=b'{"strategy":"test"}')


def test_nominating_and_contributing_strategies_reach_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from colearn_chain import simulation
    from colearn_chain.chain import events as ev

    monkeypatch.setattr(simulation, "make_strategy", lambda name, params: _NominateAndCollect())
    settings = make_settings(learners=3, rounds=2, seed=4)
    captured: list[object] = []
    original = simulation.build_chain_ledger

    def keep(*args: object, **kwargs: object) -> object:
        ledger = original(*args, **kwargs)  # type: ignore[arg-type]
        captured.append(ledger)
        return ledger

    monkeypatch.setattr(simulation, "build_chain_ledger", keep)
    store = InMemoryStore()
    result = run_simulation(settings, store, "chain", with_centralized=False)
    memory = run_simulation(settings, InMemoryStore(), "memory", with_centralized=False)
    assert [r.proposer for r in result.rounds] == [result.learners[2]] * 2
    assert [r.weights for r in result.rounds] == [r.weights for r in memory.rounds]
    assert all(r.manifest is not None and store.has(r.manifest) for r in result.rounds)
    client = captured[0].client  # type: ignore[attr-defined]
    history = client.events()
    assert sum(isinstance(e, ev.ProposerNominated) for e in history) == 2
    assert sum(isinstance(e, ev.UpdateContributed) for e in history) == 6
    assert client.selector() != "0x0000000000000000000000000000000000000000"


def test_a_strategy_written_against_the_old_propose_name_still_runs() -> None:
    with pytest.warns(DeprecationWarning, match="make_proposal"):

        class OldStyle(ProposalStrategy):
            name = "old-style"

            def propose(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
                return Proposal(weights=b"made by " + str(proposer).encode())

    context = RoundContext(0, [], [], InMemoryStore())
    legacy = OldStyle()  # type: ignore[abstract]  # mypy asks for the new name; it runs meanwhile
    assert legacy.make_proposal(context, 2, {}).weights == b"made by 2"  # what the loops call


def test_calling_a_strategy_by_the_old_propose_name_warns_and_makes_the_proposal() -> None:
    class NewStyle(ProposalStrategy):
        name = "new-style"

        def make_proposal(self, context: RoundContext, proposer: int, contributions: Mapping[int, str]) -> Proposal:
            return Proposal(weights=b"new " + str(context.round).encode())

    with pytest.warns(DeprecationWarning, match="make_proposal"):
        proposal = NewStyle().propose(RoundContext(4, [], [], InMemoryStore()), 0, {})
    assert proposal.weights == b"new 4"
