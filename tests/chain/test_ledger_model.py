"""The in-memory ledger (``run --in-memory``) against the protocol reference model, call by call.

The model is the oracle the contract is tested against (test_contract_stateful.py), so a ledger
that agrees with it on every random call sequence decides rounds exactly as the contract does:
the same refusals, the same tallies, the same proposers, the same global model.

The in-memory ledger has no clock: its ``skip`` stands for "the proposal window has passed"
(the simulation skips a round only when its proposer's privacy budget is spent). So the model
gets a proposal window, every other call lands inside it (at the round's start block), and a
skip lands on the first block after it: the two must then agree on when a skip is refused.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from colearn_chain.chain.types import score_to_fixed
from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.ledger import InMemoryLedger, RoundOutcome

from .protocol_model import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Config,
    ModelRevert,
    ProtocolModel,
    RoundFinalized,
    RoundSkipped,
)

ADDRESSES = [f"0x{i:040x}" for i in range(1, 7)]
SELECTOR = "0x" + "5" * 40
INITIAL = bytes([1]) * 32
WEIGHTS = st.sampled_from([ZERO_HASH] + [bytes([i]) * 32 for i in (0x11, 0x22, 0x33)])
#: The model's proposal window, in blocks (the in-memory ledger has none: see the module docstring).
PROPOSAL_WINDOW = 5
SCORES = st.one_of(st.floats(-10, 10, allow_nan=False), st.sampled_from([0.0, 0.973, -1.5]))

DIFFERENTIAL = settings(max_examples=100, deadline=None, derandomize=True, database=None, print_blob=False)


def model_verdict(call: Any) -> RoundFinalized | RoundSkipped | ModelRevert | None:
    """What the model says: the round's end event, None (accepted, round goes on), or its revert."""
    try:
        events = call()
    except ModelRevert as exc:
        return exc
    ended = [e for e in events if isinstance(e, RoundFinalized | RoundSkipped)]
    return ended[0] if ended else None


def ledger_verdict(call: Any) -> RoundOutcome | ColearnRuntimeError | None:
    try:
        result: RoundOutcome | None = call()
    except ColearnRuntimeError as exc:
        return exc
    return result


@DIFFERENTIAL
@given(
    n=st.integers(1, 6),
    # thresholds an exact tally meets with equality (n - 1 = 2, 3, 4), and any other
    bps=st.one_of(st.sampled_from([1, 2500, 3333, 5000, 6667, 7500, 10000]), st.integers(1, 10000)),
    selector_mode=st.booleans(),
    data=st.data(),
)
def test_the_in_memory_ledger_decides_every_call_as_the_protocol_model(
    n: int, bps: int, selector_mode: bool, data: st.DataObject
) -> None:
    learners = tuple(ADDRESSES[:n])
    ledger = InMemoryLedger(learners, bps / 10_000, INITIAL, selector_mode=selector_mode)
    assert ledger.threshold_bps == bps
    config = Config(learners=learners, threshold_bps=bps, initial_model=INITIAL,
                    selector=SELECTOR if selector_mode else ZERO_ADDRESS, proposal_window=PROPOSAL_WINDOW)  # fmt: skip
    block = 1  # every round starts on the block of the call that ended the previous one
    model = ProtocolModel(config, block_number=block)
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        current = model.current_round()
        proposer_now = model.current_proposer()
        round = data.draw(st.sampled_from([current] * 6 + [current + 1, max(0, current - 1)]), label="round")
        learner = data.draw(st.integers(0, n - 1), label="learner")
        address = learners[learner]
        action = data.draw(st.sampled_from(["nominate", "contribute", "propose", "propose", "skip", *["vote"] * 5]))
        if action == "skip":
            after_window = block + PROPOSAL_WINDOW + 1  # ``block`` is the current round's start
            expected = model_verdict(partial(model.skip, address, round, after_window))
            actual = ledger_verdict(partial(ledger.skip, round))
            if isinstance(expected, RoundSkipped):
                block = after_window
                assert actual == RoundOutcome(expected.round, False, 0, 0, model.global_model()), f"skip: {actual!r}"
        elif action == "nominate":
            expected = model_verdict(partial(model.nominate, SELECTOR, round, address, block))
            actual = ledger_verdict(partial(ledger.nominate, round, learner))
        elif action == "contribute":
            weights = data.draw(WEIGHTS, label="weights")
            expected = model_verdict(partial(model.contribute, address, round, weights, block))
            actual = ledger_verdict(partial(ledger.contribute, learner, round, weights))
        elif action == "propose":
            if data.draw(st.booleans(), label="the proposer") and model.current_proposer() in learners:
                learner = learners.index(model.current_proposer())
                address = learners[learner]
            weights = data.draw(WEIGHTS, label="weights")
            manifest = data.draw(st.sampled_from([ZERO_HASH, bytes([0x4D]) * 32]), label="manifest")
            expected = model_verdict(partial(model.propose, address, round, weights, manifest, block))
            actual = ledger_verdict(partial(ledger.propose, learner, round, weights, manifest))
        else:
            pending = [i for i, a in enumerate(learners) if a not in model.voters(current) | {proposer_now}]
            if pending and data.draw(st.sampled_from([True, True, True, False]), label="a pending voter"):
                learner = data.draw(st.sampled_from(pending), label="voter")
                address = learners[learner]
            approve, score = data.draw(st.booleans(), label="approve"), data.draw(SCORES, label="score")
            expected = model_verdict(partial(model.vote, address, round, approve, score_to_fixed(score), block))
            actual = ledger_verdict(partial(ledger.vote, learner, round, approve, score))
        if isinstance(expected, ModelRevert):
            assert isinstance(actual, ColearnRuntimeError), f"{action}: the model reverts {expected}, not the ledger"
        elif isinstance(expected, RoundSkipped):
            pass  # checked above
        elif expected is None:
            assert actual is None, f"{action}: {actual!r}"
        else:
            assert actual == RoundOutcome(expected.round, expected.accepted, expected.approvals,
                                          expected.rejections, expected.global_model)  # fmt: skip
        proposer = model.current_proposer()
        expected_index = learners.index(proposer) if proposer != ZERO_ADDRESS else None
        assert ledger.proposer(model.current_round()) == expected_index
        assert ledger.global_model() == model.global_model()
