"""The selector as a participant of a deployed experiment: watch the chain, nominate each round.

This is the one part of the selector that talks to a chain (through the typed client only):
it rebuilds the state from the contract's events, exactly as a simulation builds it from round
records, runs the policy and sends ``nominate`` from the selector's account.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from colearn_chain.chain.client import CollectiveLearningClient
from colearn_chain.chain.contract_errors import AlreadyNominated, AlreadyProposed, ExperimentFinished, WrongRound
from colearn_chain.chain.types import ZERO_ADDRESS
from colearn_chain.errors import ColearnValueError
from colearn_chain.history import round_records
from colearn_chain.records import RoundRecord
from colearn_chain.strategies.rl.policy import SelectorPolicy
from colearn_chain.strategies.rl.state import rounds_from_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Nomination:
    """One round's nomination: whom the policy chose, and whether the chain took it."""

    round: int
    learner: int
    address: str
    sent: bool
    reason: str | None = None


def check_selector(client: CollectiveLearningClient, account: LocalAccount, policy: SelectorPolicy) -> list[str]:
    """The learners' addresses, once the account is the contract's selector and the policy fits.

    Raises
    ------
    ColearnValueError
        If the contract has no selector, another selector, or a learner count the policy was
        not trained for.
    """
    selector = client.selector()
    if selector == ZERO_ADDRESS:
        raise ColearnValueError(f"the experiment at {client.address} has no selector: it rotates proposers itself")
    if selector.lower() != account.address.lower():
        raise ColearnValueError(
            f"account {account.address} is not the selector of {client.address} ({selector}): use the selector's key"
        )
    learners = client.learners()
    policy.check_learners(len(learners))
    return learners


def unavailable_proposers(records: Sequence[RoundRecord], learners: Sequence[str]) -> frozenset[int]:
    """Learners whose nominated round was skipped: they did not propose, so they are not nominated again.

    A participant whose privacy budget is spent skips every turn it is given (and keeps voting);
    the served selector sees only the chain, where that shows as a skipped round with the
    learner as its proposer. (An in-process experiment knows the budgets themselves.)
    """
    index = {address.lower(): i for i, address in enumerate(learners)}
    return frozenset(index[r.proposer.lower()] for r in records if r.skipped and r.proposer.lower() in index)


def nominate_round(
    client: CollectiveLearningClient,
    account: LocalAccount,
    policy: SelectorPolicy,
    learners: list[str],
    round_index: int,
    fetch: Callable[[str], bytes] | None = None,
) -> Nomination:
    """Build the state from the chain's events, choose, and nominate for ``round_index``.

    Losing a race (someone nominated, proposed or ended the round first) is logged and
    reported, not raised.
    """
    records = round_records(client.events())
    rounds = rounds_from_records(records, learners)
    choice = policy.choose(policy.observe(rounds, round_index, fetch), unavailable_proposers(records, learners))
    try:
        client.nominate(account, round_index, learners[choice])
    except (AlreadyNominated, AlreadyProposed, WrongRound, ExperimentFinished) as exc:
        log.warning("round %d: nomination of learner %d not taken: %s", round_index, choice, exc)
        return Nomination(round_index, choice, learners[choice], False, str(exc))
    log.info("round %d: nominated learner %d (%s)", round_index, choice, learners[choice])
    return Nomination(round_index, choice, learners[choice], True)


def serve_selector(
    client: CollectiveLearningClient,
    account: LocalAccount,
    policy: SelectorPolicy,
    *,
    fetch: Callable[[str], bytes] | None = None,
    poll_seconds: float = 0.2,
    should_stop: Callable[[], bool] | None = None,
    on_nomination: Callable[[Nomination], None] | None = None,
) -> list[Nomination]:
    """Nominate the proposer of every round until the experiment finishes (or ``should_stop``).

    Polls ``current_round()`` every ``poll_seconds``; a round whose proposer is already set
    (a restarted selector, or a nomination already made) is left alone.

    Parameters
    ----------
    client
        The deployed contract.
    account
        The selector's account.
    policy
        The trained policy.
    fetch
        Returns a blob by hash (the store's ``get``); needed by policies with PCA features.
    poll_seconds
        Time between polls.
    should_stop
        Checked every poll; True ends the loop early.
    on_nomination
        Called after each nomination attempt.
    """
    learners = check_selector(client, account, policy)
    last_round = client.max_rounds() - 1  # -1: unlimited
    handled: set[int] = set()
    nominations: list[Nomination] = []
    while not client.finished():
        if should_stop is not None and should_stop():
            break
        round_index = client.current_round()
        if 0 <= last_round < round_index:
            break  # the last round ended between the two reads: there is nothing left to nominate
        if round_index not in handled:
            handled.add(round_index)
            if client.current_proposer() == ZERO_ADDRESS:
                nomination = nominate_round(client, account, policy, learners, round_index, fetch)
                nominations.append(nomination)
                if on_nomination is not None:
                    on_nomination(nomination)
        time.sleep(poll_seconds)
    return nominations
