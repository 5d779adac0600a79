"""The aggregation maths alone: hand-computed cases, properties, and exact determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate as ag


def model(*values: float, dtype: str = "float32") -> dict[str, np.ndarray]:
    """A one-tensor model holding ``values``."""
    return {"w": np.asarray(values, dtype=dtype)}


def values(result: dict[str, np.ndarray]) -> list[float]:
    return [float(v) for v in result["w"]]


# ------------------------------------------------------------------ linear
def test_weighted_average_by_hand_keeps_dtype_and_names() -> None:
    a: dict[str, np.ndarray] = {"b": np.array([1.0, 2.0], np.float32), "k": np.array([[2]], np.int64)}
    b: dict[str, np.ndarray] = {"b": np.array([3.0, 6.0], np.float32), "k": np.array([[3]], np.int64)}
    result = ag.weighted_average([a, b], [0.25, 0.75])
    assert values({"w": result["b"]}) == [2.5, 5.0]
    assert result["b"].dtype == np.float32
    assert result["k"].dtype == np.int64 and result["k"].tolist() == [[3]]  # 2.75 rounds to 3
    assert list(result) == ["b", "k"]


def test_weighted_average_skips_zero_coefficients_and_refuses_bad_input() -> None:
    assert values(ag.weighted_average([model(1, 2), model(7, 7)], [1.0, 0.0])) == [1.0, 2.0]
    with pytest.raises(ColearnValueError, match="2 coefficients for 1 models"):
        ag.weighted_average([model(1)], [0.5, 0.5])
    with pytest.raises(ColearnValueError, match="finite"):
        ag.weighted_average([model(1)], [math.nan])
    with pytest.raises(ColearnValueError, match="nothing to aggregate"):
        ag.weighted_average([], [])
    with pytest.raises(ColearnValueError, match="one architecture"):
        ag.weighted_average([model(1, 2), model(1, 2, 3)], [0.5, 0.5])
    with pytest.raises(ColearnValueError, match="one architecture"):
        ag.weighted_average([model(1), {"v": np.ones(1, np.float32)}], [0.5, 0.5])


def test_fedavg_weights_by_samples() -> None:
    assert ag.fedavg_coefficients([1, 3]) == [0.25, 0.75]
    assert values(ag.fedavg([model(0, 4), model(4, 8)], [1, 3])) == [3.0, 7.0]
    with pytest.raises(ColearnValueError, match="non-negative integers"):
        ag.fedavg_coefficients([2, -1])
    with pytest.raises(ColearnValueError, match="at least one training sample"):
        ag.fedavg_coefficients([0, 0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=12),
    st.lists(st.integers(0, 10_000), min_size=1, max_size=8).filter(lambda c: sum(c) > 0),
)
def test_fedavg_of_identical_models_is_that_model_exactly(numbers: list[float], counts: list[int]) -> None:
    one = model(*numbers)
    result = ag.fedavg([one] * len(counts), counts)
    assert result["w"].tobytes() == one["w"].tobytes()


def test_softmax_weighting_works_with_negative_rewards() -> None:
    rewards = [-1.0, -2.0, -3.0]
    coefficients = ag.softmax_coefficients(rewards, 1.0)
    expected = [math.exp(-r) for r in (0.0, 1.0, 2.0)]
    assert coefficients == pytest.approx([e / sum(expected) for e in expected], rel=1e-12)
    assert math.fsum(coefficients) == pytest.approx(1.0, abs=1e-15)
    assert coefficients[0] > coefficients[1] > coefficients[2] > 0
    # shifting every reward changes nothing; temperature moves between argmax and the mean
    assert ag.softmax_coefficients([r + 100 for r in rewards], 1.0) == pytest.approx(coefficients, rel=1e-12)
    assert ag.softmax_coefficients(rewards, 1e-3)[0] == pytest.approx(1.0)
    assert ag.softmax_coefficients(rewards, 1e6) == pytest.approx([1 / 3] * 3, rel=1e-5)
    assert ag.softmax_coefficients([0.0, -math.inf], 1.0) == [1.0, 0.0]
    averaged = ag.reward_weighted([model(0.0), model(3.0)], [0.0, 0.0], 0.5)
    assert values(averaged) == [1.5]


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_softmax_refuses_a_bad_temperature(temperature: float) -> None:
    with pytest.raises(ColearnValueError, match="temperature"):
        ag.softmax_coefficients([1.0], temperature)


def test_softmax_refuses_no_finite_reward() -> None:
    with pytest.raises(ColearnValueError, match="no reward is a finite"):
        ag.softmax_coefficients([math.nan], 1.0)
    with pytest.raises(ColearnValueError, match="at least one reward"):
        ag.softmax_coefficients([], 1.0)


def test_attention_scores_are_mean_cosine_similarities() -> None:
    query = np.array([[1.0, 0.0], [0.0, 2.0]])
    same, opposite, orthogonal = query * 3, -query, np.array([[0.0, 1.0], [5.0, 0.0]])
    scores = ag.attention_scores(query, [same, opposite, orthogonal, np.zeros((2, 2))])
    assert scores == pytest.approx([1.0, -1.0, 0.0, 0.0])
    half = ag.attention_scores(query, [np.array([[1.0, 0.0], [1.0, 0.0]])])
    assert half == pytest.approx([0.5])
    with pytest.raises(ColearnValueError, match="shape"):
        ag.attention_scores(query, [np.ones((3, 2))])
    with pytest.raises(ColearnValueError, match="samples, features"):
        ag.attention_scores(np.ones(3), [np.ones(3)])


# ------------------------------------------------------------------ robust
def test_median_by_hand_odd_and_even() -> None:
    assert values(ag.coordinate_median([model(1, 9), model(5, 1), model(3, 4)])) == [3.0, 4.0]
    assert values(ag.coordinate_median([model(1, 9), model(5, 1), model(3, 4), model(4, 0)])) == [3.5, 2.5]


def test_median_and_trimmed_mean_ignore_a_huge_outlier() -> None:
    honest = [model(1.0, -1.0), model(1.1, -0.9), model(0.9, -1.1), model(1.05, -1.0)]
    attacker = model(1e9, -1e9)
    for result in (ag.coordinate_median([*honest, attacker]), ag.trimmed_mean([*honest, attacker], 0.2)):
        assert 0.9 <= values(result)[0] <= 1.1
        assert -1.1 <= values(result)[1] <= -0.9
    # the plain mean is dragged away by the same outlier
    assert values(ag.weighted_average([*honest, attacker], [0.2] * 5))[0] > 1e8


def test_trimmed_mean_by_hand() -> None:
    models = [model(v) for v in (100.0, 2.0, 1.0, 4.0, 3.0)]
    assert ag.trim_count(5, 0.2) == 1
    assert values(ag.trimmed_mean(models, 0.2)) == [3.0]  # drop 1 and 100
    assert values(ag.trimmed_mean(models, 0.0)) == [22.0]  # the plain mean
    assert ag.trim_count(10, 0.25) == 2
    with pytest.raises(ColearnValueError, match=r"\[0, 0.5\)"):
        ag.trimmed_mean(models, 0.5)


def test_krum_scores_by_hand() -> None:
    points = [model(0.0), model(1.0), model(3.0), model(10.0)]
    # f = 0: each point's 2 nearest others
    assert ag.krum_scores(points, 0) == [1 + 9, 1 + 4, 4 + 9, 49 + 81]
    assert ag.krum_select(points, 0) == [1]
    assert ag.krum_select(points, 0, m=2) == [0, 1]
    assert values(ag.krum(points, 0)) == [1.0]
    assert values(ag.multi_krum(points, 0, 2)) == [0.5]


def test_krum_picks_the_honest_cluster() -> None:
    rng = np.random.default_rng(0)
    honest = [{"w": (rng.normal(0, 0.1, 50)).astype(np.float32)} for _ in range(6)]
    byzantine = [{"w": np.full(50, 5.0, np.float32)}, {"w": np.full(50, -8.0, np.float32)}]
    models = [byzantine[0], *honest, byzantine[1]]
    assert ag.krum_select(models, 2)[0] in range(1, 7)
    assert set(ag.krum_select(models, 2, m=6)) == set(range(1, 7))
    assert float(np.abs(ag.multi_krum(models, 2, 6)["w"]).max()) < 0.5


def test_krum_refuses_too_few_models_and_says_what_to_do() -> None:
    four = [model(float(v)) for v in range(4)]
    with pytest.raises(ColearnValueError, match=r"n > 2f \+ 2.*lower f to at most 0"):
        ag.krum_scores(four, 1)
    with pytest.raises(ColearnValueError, match="at least 3"):
        ag.krum_scores(four[:2], 0)
    with pytest.raises(ColearnValueError, match="m must be between 1"):
        ag.krum_select(four, 0, m=5)
    assert [ag.default_krum_f(n) for n in (1, 3, 4, 5, 6, 10)] == [0, 0, 0, 1, 1, 3]


# --------------------------------------------------------- differential evolution
def test_de_trial_crossover_extremes() -> None:
    target, base, plus, minus = model(0, 0, 0, 0), model(1, 1, 1, 1), model(3, 3, 3, 3), model(1, 1, 1, 1)
    everything = ag.de_trial(target, base, plus, minus, 0.5, 1.0, seed=7)
    assert values(everything) == [2.0] * 4  # 1 + 0.5 * (3 - 1)
    one = values(ag.de_trial(target, base, plus, minus, 0.5, 0.0, seed=7))
    assert sorted(one) == [0.0, 0.0, 0.0, 2.0]  # only the forced coordinate crosses over
    assert ag.de_trial(target, base, plus, minus, 0.5, 0.5, seed=3)["w"].tobytes() == (
        ag.de_trial(target, base, plus, minus, 0.5, 0.5, seed=3)["w"].tobytes()
    )
    with pytest.raises(ColearnValueError, match=r"F \(mutation\)"):
        ag.de_trial(target, base, plus, minus, 0.0, 0.5, seed=1)
    with pytest.raises(ColearnValueError, match="CR"):
        ag.de_trial(target, base, plus, minus, 0.5, 1.5, seed=1)


def _population(seed: int, count: int = 5) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
        for _ in range(count)
    ]


def _distance_to(goal: dict[str, np.ndarray]) -> ag.Fitness:
    def fitness(weights: dict[str, np.ndarray]) -> float:
        return float(sum(np.sum((weights[k].astype(np.float64) - goal[k]) ** 2) for k in goal))

    return fitness


def test_de_is_deterministic_by_seed_and_replayable() -> None:
    inputs = _population(1)
    fitness = _distance_to(_population(2, 1)[0])
    first = ag.differential_evolution(inputs, fitness, generations=4, seed=11)
    again = ag.differential_evolution(inputs, fitness, generations=4, seed=11)
    other = ag.differential_evolution(inputs, fitness, generations=4, seed=12)
    assert first.winner == again.winner and first.lineage == again.lineage
    assert all(first.weights[k].tobytes() == again.weights[k].tobytes() for k in first.weights)
    assert first.lineage != other.lineage
    assert first.trials == 4 * 5
    replayed = ag.replay_evolution(inputs, first.lineage, first.winner, 0.5, 0.9)
    assert all(replayed[k].tobytes() == first.weights[k].tobytes() for k in first.weights)
    assert first.fitness == fitness(first.weights)
    assert first.input_fitness == [fitness(m) for m in inputs]


@settings(max_examples=15, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(1, 6),
    st.integers(0, 3),
    st.floats(0.1, 2.0),
    st.floats(0.0, 1.0),
    st.one_of(st.none(), st.integers(1, 8)),
)
def test_de_is_never_worse_than_the_best_input(
    seed: int, count: int, generations: int, mutation: float, crossover: float, population: int | None
) -> None:
    inputs = _population(seed % 1000, count)
    fitness = _distance_to(_population(seed % 1000 + 1, 1)[0])
    result = ag.differential_evolution(
        inputs, fitness, mutation=mutation, crossover=crossover, generations=generations,
        population=population, seed=seed,
    )  # fmt: skip
    assert result.fitness <= min(result.input_fitness)
    replayed = ag.replay_evolution(inputs, result.lineage, result.winner, mutation, crossover)
    assert all(replayed[k].tobytes() == result.weights[k].tobytes() for k in replayed)
    assert all(d.id >= count for d in result.lineage)


def test_de_with_no_generations_returns_the_fittest_input() -> None:
    inputs = _population(3)
    fitness = _distance_to(inputs[2])
    result = ag.differential_evolution(inputs, fitness, generations=0, seed=0)
    assert result.winner == 2 and result.lineage == [] and result.fitness == 0.0


def test_de_treats_nan_fitness_as_worst() -> None:
    inputs = _population(4, 3)

    def fitness(weights: dict[str, np.ndarray]) -> float:
        return math.nan if weights["b"].tobytes() != inputs[1]["b"].tobytes() else 1.0

    result = ag.differential_evolution(inputs, fitness, generations=2, seed=5)
    assert result.winner == 1 and result.fitness == 1.0
    assert result.input_fitness == [math.inf, 1.0, math.inf]


def test_replay_refuses_a_broken_lineage() -> None:
    inputs = _population(5, 4)
    forward = [ag.Derivation(id=4, target=0, base=1, plus=2, minus=5, seed=1)]
    with pytest.raises(ColearnValueError, match="not made before it"):
        ag.replay_evolution(inputs, forward, 4, 0.5, 0.9)
    reused = [ag.Derivation(id=3, target=0, base=1, plus=2, minus=0, seed=1)]
    with pytest.raises(ColearnValueError, match="reuses the id"):
        ag.replay_evolution(inputs, reused, 3, 0.5, 0.9)
    with pytest.raises(ColearnValueError, match="winner 9"):
        ag.replay_evolution(inputs, [], 9, 0.5, 0.9)


def test_de_refuses_bad_settings() -> None:
    inputs = _population(6, 3)
    with pytest.raises(ColearnValueError, match="generations"):
        ag.differential_evolution(inputs, _distance_to(inputs[0]), generations=-1)
    with pytest.raises(ColearnValueError, match="population"):
        ag.differential_evolution(inputs, _distance_to(inputs[0]), population=0)
