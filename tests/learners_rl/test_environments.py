"""Environment variants: drawn from the seed and the index, in range, and really applied."""

from __future__ import annotations

import pytest

from colearn_chain.errors import ColearnValueError
from learners.rl.environments import EnvVariant, family, heldout_variants, learner_variant


def test_a_learner_gets_the_same_variant_for_the_same_seed_and_index_and_others_differ() -> None:
    cartpole = family("cartpole")
    assert learner_variant(cartpole, 3, 1).params == learner_variant(cartpole, 3, 1).params
    drawn = {tuple(learner_variant(cartpole, 3, i).params.values()) for i in range(5)}
    assert len(drawn) == 5
    assert learner_variant(cartpole, 4, 1).params != learner_variant(cartpole, 3, 1).params


def test_held_out_variants_are_none_of_the_learners() -> None:
    lander = family("lunarlander")
    learners = {tuple(learner_variant(lander, 0, i).params.values()) for i in range(20)}
    held = [tuple(v.params.values()) for v in heldout_variants(lander, 0, 4)]
    assert len(set(held)) == 4
    assert not learners & set(held)


@pytest.mark.parametrize("name", ["cartpole", "lunarlander", "pendulum"])
def test_every_variant_is_within_its_family_ranges(name: str) -> None:
    fam = family(name)
    for index in range(10):
        variant = learner_variant(fam, 11, index)
        for key, value in variant.params.items():
            low, high = fam.ranges[key]
            assert low <= value <= high


def test_cartpole_parameters_reach_the_physics() -> None:
    variant = EnvVariant(family("cartpole"), {"length": 0.9, "masspole": 0.3})
    physics = variant.make().unwrapped
    assert physics.length == 0.9  # type: ignore[attr-defined]
    assert physics.polemass_length == pytest.approx(0.27)  # type: ignore[attr-defined]
    pendulum = EnvVariant(family("pendulum"), {"g": 9.0, "m": 1.2, "l": 0.9}).make().unwrapped
    assert (pendulum.g, pendulum.m, pendulum.l) == (9.0, 1.2, 0.9)  # type: ignore[attr-defined]


def test_bad_families_and_parameters_are_one_line_errors() -> None:
    with pytest.raises(ColearnValueError, match="unknown environment family 'pong': choose one of cartpole"):
        family("pong")
    with pytest.raises(ColearnValueError, match=r"gravity = -20.0 is out of range \[-11.5, -6.0\]"):
        EnvVariant(family("lunarlander"), {"gravity": -20.0, "wind_power": 0.0, "turbulence_power": 0.0}).make()
    with pytest.raises(ColearnValueError, match="unknown environment parameter 'spin'"):
        family("cartpole").check({"spin": 1.0})
    with pytest.raises(ColearnValueError, match="out of range"):
        family("cartpole").check({"length": float("nan")})
