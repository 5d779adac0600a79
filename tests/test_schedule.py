"""``--start-in`` parsing, the block-time estimate, round 0's schedule and the late-start warning."""

from __future__ import annotations

import re

import pytest
from eth_account.signers.local import LocalAccount

from colearn_chain.chain import Chain, CollectiveLearningClient
from colearn_chain.errors import ColearnValueError
from colearn_chain.schedule import (
    StartIn,
    estimate_block_seconds,
    late_start_warning,
    parse_start_in,
    round_zero_schedule,
)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("120", StartIn(blocks=120)),
        ("0", StartIn(blocks=0)),
        ("90s", StartIn(seconds=90.0)),
        ("2m", StartIn(seconds=120.0)),
        ("1.5h", StartIn(seconds=5400.0)),
        (" 30 S ", StartIn(seconds=30.0)),
    ],
)
def test_start_in_is_blocks_or_a_duration(text: str, parsed: StartIn) -> None:
    assert parse_start_in(text) == parsed


@pytest.mark.parametrize("text", ["", "-3", "ten", "5d", "1.5", "2 minutes", "s"])
def test_a_malformed_start_in_names_both_forms(text: str) -> None:
    with pytest.raises(ColearnValueError, match=r"blocks \(120\) or a duration"):
        parse_start_in(text)


def test_a_duration_becomes_blocks_with_the_block_time_rounded_up() -> None:
    assert StartIn(seconds=90.0).in_blocks(2.0) == 45
    assert StartIn(seconds=10.0).in_blocks(3.0) == 4  # never less time than asked for
    assert StartIn(blocks=7).in_blocks(None) == 7  # blocks need no block time
    with pytest.raises(ColearnValueError, match="give --start-in as a number of blocks"):
        StartIn(seconds=10.0).in_blocks(None)


def test_the_block_time_is_measured_from_timestamps(chain: Chain) -> None:
    assert estimate_block_seconds(chain) is None  # the genesis block alone tells nothing
    chain.mine(10)  # eth-tester stamps each block one second after its parent
    assert estimate_block_seconds(chain) == pytest.approx(1.0)


def _deploy(
    chain: Chain, *, proposal_window: int, voting_window: int = 0, start_block: int = 0
) -> tuple[CollectiveLearningClient, list[LocalAccount]]:
    learners = chain.new_funded_accounts(3)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in learners], max_rounds=2, proposal_window=proposal_window,
        voting_window=voting_window, initial_model=b"\x01" * 32, start_block=start_block,
    )  # fmt: skip
    return client, learners


def test_round_zero_schedule_names_its_start_and_the_last_block_of_its_window(chain: Chain) -> None:
    chain.mine(5)
    start = chain.block_number() + 30
    client, _ = _deploy(chain, proposal_window=20, start_block=start)
    line = round_zero_schedule(client, 2.0)
    assert f"round 0 starts at block {start}" in line
    closes = re.search(r"closes after block (\d+) \(in about (\d+) s, at \d\d:\d\d:\d\d UTC\)", line)
    assert closes is not None, line
    assert int(closes.group(1)) == start + 20
    assert int(closes.group(2)) == (start + 20 - chain.block_number()) * 2
    assert "block time unknown" in round_zero_schedule(client, None)
    assert "no proposal window" in round_zero_schedule(_deploy(chain, proposal_window=0)[0], 1.0)


def test_a_learner_starting_after_the_proposal_window_is_warned(chain: Chain) -> None:
    start = chain.block_number() + 10
    client, _ = _deploy(chain, proposal_window=4, start_block=start)
    chain.mine(max(0, start + 3 - chain.block_number()))
    assert late_start_warning(client) is None  # block start + 3: a proposal still lands in start + 4
    chain.mine(1)
    warning = late_start_warning(client)
    assert warning is not None and "round 0's proposal window closed (block" in warning
    assert "--start-in" in warning and "\n" not in warning


def test_a_learner_starting_after_the_voting_window_is_warned(chain: Chain) -> None:
    client, learners = _deploy(chain, proposal_window=0, voting_window=3)
    client.propose(learners[0], 0, b"\x02" * 32)
    assert late_start_warning(client) is None
    chain.mine(3)
    warning = late_start_warning(client)
    assert warning is not None and "round 0's voting window closed" in warning
    assert "finalized without this learner's vote" in warning
