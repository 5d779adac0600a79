"""The coordinate-wise trimmed mean: the trim and the count dropped, recorded and recomputed."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import make_strategy

from .rounds import Played, check_every_proposal_recomputes, play


@pytest.fixture(scope="module")
def played() -> Played:
    return play("trimmed-mean")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=False)


def test_manifests_record_the_trim_and_the_count_dropped(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    recipe = json.loads(played.store.get(played.result.rounds[0].manifest))["recipe"]
    assert recipe == {"trim": 0.2, "dropped": 0}


def test_trim_is_validated() -> None:
    with pytest.raises(ColearnValueError, match=r"trim must be in \[0, 0.5\)"):
        make_strategy("trimmed-mean", {"trim": "0.5"})
