"""The coordinate-wise median: every input used, recomputed from the manifest."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import make_strategy

from .rounds import Played, check_every_proposal_recomputes, play


@pytest.fixture(scope="module")
def played() -> Played:
    return play("median")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=False)


def test_manifests_use_every_input_and_need_no_recipe(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    document = json.loads(played.store.get(played.result.rounds[0].manifest))
    assert [entry["coefficient"] for entry in document["inputs"]] == [1.0] * 4
    assert document["recipe"] == {} and document["params"] == {}


def test_median_takes_no_parameters() -> None:
    with pytest.raises(ColearnValueError, match="has no parameter 'trim'"):
        make_strategy("median", {"trim": "0.1"})
