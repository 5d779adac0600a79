"""Multi-Krum: the m best-scored inputs averaged, the selection recorded and re-run on recomputation."""

from __future__ import annotations

import json

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import make_strategy

from .rounds import Played, check_every_proposal_recomputes, play


@pytest.fixture(scope="module")
def played() -> Played:
    return play("multi-krum")


def test_every_proposal_recomputes_from_its_manifest(played: Played) -> None:
    check_every_proposal_recomputes(played, linear=True)


def test_manifests_record_the_selection(played: Played) -> None:
    assert played.result.rounds[0].manifest is not None
    recipe = json.loads(played.store.get(played.result.rounds[0].manifest))["recipe"]
    assert recipe["f"] == 0 and len(recipe["selected"]) == recipe["m"]  # 4 learners tolerate no Byzantine one
    assert recipe["m"] == 4


def test_m_is_validated() -> None:
    with pytest.raises(ColearnValueError, match="m must be at least 1"):
        make_strategy("multi-krum", {"m": "0"})


def test_settings_from_the_command_line_are_typed() -> None:
    assert make_strategy("multi-krum", {"f": "1", "m": "3"}).settings.m == 3  # type: ignore[attr-defined]
