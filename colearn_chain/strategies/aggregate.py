"""The aggregation maths as pure functions on named numpy arrays: exact, deterministic, recomputable.

Every function here takes models as ``{name: array}`` mappings (the codec's normalized form:
all models of one call share names, shapes and dtypes) and returns a new mapping. None of them
touches torch, a store or a learner, so an auditor can re-run any of them from a manifest.

The arithmetic is fixed so that anyone gets the same bytes, in the spirit of Flower's
``server/strategy/aggregate.py`` but stricter:

- values are promoted to float64, combined elementwise (IEEE multiply and add, never a
  reduction whose order a library may choose), and cast back to each tensor's dtype at the
  end: float tensors by ``astype`` (round to nearest), integer tensors (counters such as
  batch-norm's) by rounding to nearest even first (:func:`cast_like`);
- a linear combination skips coefficients that are exactly zero and accumulates the other
  terms in the order the models are given, starting from the first term (so that the
  combination of one model with coefficient 1 is that model, signed zeros included; all
  coefficients zero give zeros) (:func:`weighted_average`);
- a sum over all coordinates (Krum's distances) uses :func:`math.fsum`, which is correctly
  rounded and hence the same on every machine;
- random draws (differential evolution) come from numpy's ``PCG64`` bit generator seeded
  with an integer that the manifest records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from colearn_chain.errors import ColearnValueError

Array: TypeAlias = npt.NDArray[Any]
#: One model: tensor name -> array (every model in one call has the same names, shapes, dtypes).
Named: TypeAlias = Mapping[str, Array]
#: A fitness function for differential evolution: lower is better; NaN counts as +infinity.
Fitness: TypeAlias = Callable[[dict[str, Array]], float]

__all__ = [
    "Array",
    "Derivation",
    "Evolution",
    "Fitness",
    "Named",
    "attention_scores",
    "cast_like",
    "check_same_layout",
    "coordinate_median",
    "de_trial",
    "default_krum_f",
    "differential_evolution",
    "fedavg",
    "fedavg_coefficients",
    "krum",
    "krum_scores",
    "krum_select",
    "multi_krum",
    "replay_evolution",
    "reward_weighted",
    "softmax_coefficients",
    "trim_count",
    "trimmed_mean",
    "weighted_average",
]


# --------------------------------------------------------------------------- basics
def check_same_layout(models: Sequence[Named]) -> list[str]:
    """The sorted tensor names shared by ``models``; refuses an empty list or differing layouts.

    Raises
    ------
    ColearnValueError
        If there are no models, or two differ in names, shapes or dtypes.
    """
    if not models:
        raise ColearnValueError("there is nothing to aggregate: pass at least one model")
    names = sorted(models[0])
    layout = {name: (np.asarray(models[0][name]).shape, np.asarray(models[0][name]).dtype) for name in names}
    for index, model in enumerate(models[1:], start=1):
        if sorted(model) != names:
            raise ColearnValueError(
                f"model {index} has tensors {sorted(model)}, model 0 has {names}: aggregate models of one architecture"
            )
        for name in names:
            array = np.asarray(model[name])
            if (array.shape, array.dtype) != layout[name]:
                raise ColearnValueError(
                    f"model {index}'s tensor {name!r} is {array.dtype}{list(array.shape)}, model 0's is "
                    f"{layout[name][1]}{list(layout[name][0])}: aggregate models of one architecture"
                )
    return names


def cast_like(values: Array, dtype: np.dtype[Any]) -> Array:
    """float64 ``values`` as ``dtype``: floats round to nearest, integers are rounded (half to even) first."""
    if np.issubdtype(dtype, np.integer):
        return np.rint(values).astype(dtype)
    return values.astype(dtype)


def _f64(array: Array) -> npt.NDArray[np.float64]:
    return np.asarray(array).astype(np.float64)


def _finite_coefficients(coefficients: Sequence[float], count: int) -> list[float]:
    values = [float(c) for c in coefficients]
    if len(values) != count:
        raise ColearnValueError(f"got {len(values)} coefficients for {count} models: give one per model")
    if not all(math.isfinite(c) for c in values):
        raise ColearnValueError(f"coefficients must be finite numbers, got {values}")
    return values


# ----------------------------------------------------------------- linear rules
def weighted_average(models: Sequence[Named], coefficients: Sequence[float]) -> dict[str, Array]:
    """``sum_k coefficients[k] * models[k]``, tensor by tensor, in the exact arithmetic above.

    The coefficients are used as given (callers normalize them; a manifest records them), so
    the result is a pure function of the models, their order and the coefficients.
    """
    names = check_same_layout(models)
    weights = _finite_coefficients(coefficients, len(models))
    result: dict[str, Array] = {}
    for name in names:
        template = np.asarray(models[0][name])
        total: npt.NDArray[np.float64] | None = None
        for weight, model in zip(weights, models, strict=True):
            if weight != 0.0:
                term = weight * _f64(model[name])
                total = term if total is None else total + term
        if total is None:
            total = np.zeros(template.shape, dtype=np.float64)
        result[name] = cast_like(total, template.dtype)
    return result


def fedavg_coefficients(samples: Sequence[int]) -> list[float]:
    """FedAvg's weights: each model's share ``n_k / sum(n)`` of the training samples.

    Raises
    ------
    ColearnValueError
        If a count is negative or not an integer, or all counts are zero.
    """
    counts = list(samples)
    if any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0 for n in counts):
        raise ColearnValueError(f"sample counts must be non-negative integers, got {counts}")
    total = sum(int(n) for n in counts)
    if total <= 0:
        raise ColearnValueError("FedAvg needs at least one training sample among the models")
    return [int(n) / total for n in counts]


def fedavg(models: Sequence[Named], samples: Sequence[int]) -> dict[str, Array]:
    """FedAvg (McMahan et al. 2017): the models averaged with weights proportional to their samples."""
    return weighted_average(models, fedavg_coefficients(samples))


def softmax_coefficients(rewards: Sequence[float], temperature: float) -> list[float]:
    """``softmax(rewards / temperature)``: positive weights summing to one, whatever the rewards' sign.

    DeRL weighs each agent's model by its reward; a softmax keeps that meaningful when rewards
    are negative (a loss, a penalty). A small temperature favours the best-rewarded models, a
    large one tends to the plain mean. A non-finite reward (a model that could not be scored)
    gets weight zero.

    Raises
    ------
    ColearnValueError
        If the temperature is not a positive finite number, there are no rewards, or no reward
        is finite.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ColearnValueError(f"the temperature must be a positive number, got {temperature}")
    values = np.asarray([float(r) for r in rewards], dtype=np.float64)
    if values.size == 0:
        raise ColearnValueError("softmax weighting needs at least one reward")
    finite = np.isfinite(values)
    if not finite.any():
        raise ColearnValueError(f"no reward is a finite number ({values.tolist()}): nothing can be weighted")
    scaled = np.where(finite, values / temperature, -np.inf)
    exps = np.exp(scaled - scaled[finite].max())
    total = math.fsum(exps.tolist())
    return [float(e) / total for e in exps]


def reward_weighted(models: Sequence[Named], rewards: Sequence[float], temperature: float) -> dict[str, Array]:
    """DeRL's reward-weighted average: weights ``softmax(rewards / temperature)``."""
    return weighted_average(models, softmax_coefficients(rewards, temperature))


def attention_scores(query: Array, keys: Sequence[Array]) -> list[float]:
    """FedFormer-style attention logits: how alike each key model's embeddings are to the query's.

    ``query`` is ``(samples, features)``: the proposer's own model's embeddings (e.g. penultimate
    activations) of its validation inputs; each key is the same for one contributor's model on
    the same inputs. The score of a key is the mean over samples of the cosine similarity of
    the two embeddings (scaled dot-product attention on unit-normalized vectors), in [-1, 1]. A
    zero embedding has similarity 0 with everything.

    Raises
    ------
    ColearnValueError
        If the shapes differ, are not two-dimensional, or hold no sample.
    """
    q = _f64(query)
    if q.ndim != 2 or q.shape[0] == 0:
        raise ColearnValueError(f"embeddings must be (samples, features) with samples > 0, got shape {q.shape}")

    def unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        safe = np.where(norms > 0, norms, 1.0)
        return rows / safe[:, None]

    q_hat = unit(q)
    scores = []
    for index, key in enumerate(keys):
        k = _f64(key)
        if k.shape != q.shape:
            raise ColearnValueError(f"key {index} has embeddings of shape {k.shape}, the query's are {q.shape}")
        similarity = np.einsum("ij,ij->i", q_hat, unit(k))
        scores.append(math.fsum(similarity.tolist()) / q.shape[0])
    return scores


# ------------------------------------------------------------- robust rules
def coordinate_median(models: Sequence[Named]) -> dict[str, Array]:
    """The coordinate-wise median (Yin et al. 2018); for an even count the mean of the two middle values."""
    names = check_same_layout(models)
    count = len(models)
    result: dict[str, Array] = {}
    for name in names:
        dtype = np.asarray(models[0][name]).dtype
        ordered = np.sort(np.stack([_f64(model[name]) for model in models]), axis=0)
        middle = count // 2
        value = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0
        result[name] = cast_like(value, dtype)
    return result


def trim_count(count: int, trim: float) -> int:
    """How many values the trimmed mean drops from each end: ``floor(trim * count)``.

    Raises
    ------
    ColearnValueError
        If ``trim`` is not in [0, 0.5) (at 0.5 nothing would be left).
    """
    if not 0.0 <= trim < 0.5:
        raise ColearnValueError(f"the trim fraction must be in [0, 0.5), got {trim}: e.g. 0.2 drops 20% at each end")
    return math.floor(trim * count)


def trimmed_mean(models: Sequence[Named], trim: float) -> dict[str, Array]:
    """The coordinate-wise trimmed mean (Yin et al. 2018): drop the ``trim_count`` extremes each side, average.

    The kept values are summed in ascending order (starting from the smallest kept value), then
    divided by their number.
    """
    names = check_same_layout(models)
    drop = trim_count(len(models), trim)
    kept = len(models) - 2 * drop
    result: dict[str, Array] = {}
    for name in names:
        dtype = np.asarray(models[0][name]).dtype
        ordered = np.sort(np.stack([_f64(model[name]) for model in models]), axis=0)
        total = ordered[drop]
        for row in ordered[drop + 1 : drop + kept]:
            total = total + row
        result[name] = cast_like(total / kept, dtype)
    return result


def default_krum_f(count: int) -> int:
    """The largest number of Byzantine models Krum can tolerate among ``count``: ``n > 2f + 2``."""
    return max(0, (count - 3) // 2)


def _check_krum(count: int, f: int) -> None:
    if f < 0:
        raise ColearnValueError(f"Krum's f (the number of Byzantine learners tolerated) must be >= 0, got {f}")
    if count <= 2 * f + 2:
        raise ColearnValueError(
            f"Krum with f={f} needs more than {2 * f + 2} models (n > 2f + 2) and got {count}: "
            f"lower f to at most {default_krum_f(count)}, leave it unset to use the largest that fits, "
            "or add learners" + (" (Krum needs at least 3 models)" if count < 3 else "")
        )


def _flat(model: Named, names: Sequence[str]) -> npt.NDArray[np.float64]:
    return np.concatenate([_f64(model[name]).ravel() for name in names]) if names else np.zeros(0)


def krum_scores(models: Sequence[Named], f: int) -> list[float]:
    """Krum's score of each model (Blanchard et al. 2017): the sum of its squared distances to its
    ``n - f - 2`` nearest other models. Distances are summed with :func:`math.fsum` (exact).

    Raises
    ------
    ColearnValueError
        If ``n <= 2f + 2``, saying what to do.
    """
    names = check_same_layout(models)
    count = len(models)
    _check_krum(count, f)
    flat = [_flat(model, names) for model in models]
    distance = [[0.0] * count for _ in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            diff = flat[i] - flat[j]
            distance[i][j] = distance[j][i] = math.fsum((diff * diff).tolist())
    neighbours = count - f - 2
    return [math.fsum(sorted(distance[i][j] for j in range(count) if j != i)[:neighbours]) for i in range(count)]


def krum_select(models: Sequence[Named], f: int, m: int = 1) -> list[int]:
    """The indices of the ``m`` models with the lowest Krum scores (ties: the lower index), ascending.

    Raises
    ------
    ColearnValueError
        If ``n <= 2f + 2`` or ``m`` is not in ``[1, n]``.
    """
    if not 1 <= m <= len(models):
        raise ColearnValueError(f"Multi-Krum's m must be between 1 and the number of models ({len(models)}), got {m}")
    scores = krum_scores(models, f)
    ranked = sorted(range(len(models)), key=lambda i: (scores[i], i))
    return sorted(ranked[:m])


def multi_krum(models: Sequence[Named], f: int, m: int) -> dict[str, Array]:
    """Multi-Krum: the plain mean of the ``m`` models :func:`krum_select` picks."""
    chosen = set(krum_select(models, f, m))
    return weighted_average(models, [1.0 / m if i in chosen else 0.0 for i in range(len(models))])


def krum(models: Sequence[Named], f: int) -> dict[str, Array]:
    """Krum: the single model with the lowest score (Multi-Krum with ``m = 1``)."""
    return multi_krum(models, f, 1)


# ------------------------------------------------------- differential evolution
@dataclass(frozen=True)
class Derivation:
    """How one DE/rand/1/bin trial individual was made, enough to rebuild it without any data.

    ``trial = where(mask, base + F * (plus - minus), target)``, computed in float64 over all
    coordinates (tensors concatenated in name order) and cast to each tensor's dtype, where
    ``mask = PCG64(seed).random(D) < CR`` with the coordinate ``PCG64(seed).integers(D)``
    (drawn next, from the same generator) forced on. Individuals are numbered: the inputs are
    0..n-1, each trial takes the next number (``id``) in the order trials were made.
    """

    id: int
    target: int
    base: int
    plus: int
    minus: int
    seed: int

    def to_json(self) -> dict[str, int]:
        """The derivation as a manifest records it."""
        return {
            "id": self.id,
            "target": self.target,
            "base": self.base,
            "plus": self.plus,
            "minus": self.minus,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Evolution:
    """The outcome of :func:`differential_evolution`.

    Attributes
    ----------
    winner:
        The id of the fittest individual of the last generation.
    weights:
        Its weights.
    fitness:
        Its fitness (lower is better).
    input_fitness:
        The fitness of each input, in input order.
    lineage:
        The derivations the winner depends on, in the order they were made (empty when the
        winner is an input): exactly what :func:`replay_evolution` needs.
    trials:
        How many trial individuals were made (and evaluated) in all.
    """

    winner: int
    weights: dict[str, Array]
    fitness: float
    input_fitness: list[float]
    lineage: list[Derivation]
    trials: int


def _check_de(mutation: float, crossover: float) -> None:
    if not (math.isfinite(mutation) and 0.0 < mutation <= 2.0):
        raise ColearnValueError(f"DE's F (mutation) must be in (0, 2], got {mutation}")
    if not (math.isfinite(crossover) and 0.0 <= crossover <= 1.0):
        raise ColearnValueError(f"DE's CR (crossover rate) must be in [0, 1], got {crossover}")


def de_trial(
    target: Named, base: Named, plus: Named, minus: Named, mutation: float, crossover: float, seed: int
) -> dict[str, Array]:
    """One DE/rand/1/bin trial (Storn and Price 1997), exactly as :class:`Derivation` defines it."""
    _check_de(mutation, crossover)
    names = check_same_layout([target, base, plus, minus])
    flats = [_flat(model, names) for model in (target, base, plus, minus)]
    size = flats[0].size
    if size == 0:
        return {name: np.asarray(target[name]).copy() for name in names}
    rng = np.random.Generator(np.random.PCG64(seed))
    mask = rng.random(size) < crossover
    mask[int(rng.integers(size))] = True
    mutant = flats[1] + mutation * (flats[2] - flats[3])
    trial = np.where(mask, mutant, flats[0])
    result: dict[str, Array] = {}
    offset = 0
    for name in names:
        template = np.asarray(target[name])
        part = trial[offset : offset + template.size].reshape(template.shape)
        result[name] = cast_like(part, template.dtype)
        offset += template.size
    return result


def _safe_fitness(fitness: Fitness, weights: dict[str, Array]) -> float:
    value = float(fitness(weights))
    return value if not math.isnan(value) else math.inf


def _pick_parents(rng: np.random.Generator, population: Sequence[int], target_slot: int) -> tuple[int, int, int]:
    """Three slots for base, plus and minus: distinct and other than the target when there are enough.

    With fewer than four individuals the target may be reused; with fewer than three, a slot
    may repeat (then ``plus == minus`` and the mutant is the base itself).
    """
    slots = [s for s in range(len(population)) if s != target_slot]
    if len(slots) < 3:
        slots = list(range(len(population)))
    chosen = rng.choice(len(slots), size=3, replace=len(slots) < 3)
    a, b, c = (slots[int(i)] for i in chosen)
    return a, b, c


def differential_evolution(
    inputs: Sequence[Named],
    fitness: Fitness,
    *,
    mutation: float = 0.5,
    crossover: float = 0.9,
    generations: int = 3,
    population: int | None = None,
    seed: int = 0,
) -> Evolution:
    """DE/rand/1/bin over whole models, seeded, elitist: the result is never worse than the best input.

    The first population is the inputs (each evaluated once). A ``population`` smaller than the
    number of inputs keeps the fittest (ties: the lower id); a larger one is filled with trials
    of randomly chosen targets. Then, for each of ``generations`` generations, every
    individual in turn is the target of one trial, which replaces it if its fitness is no
    worse. The winner is the fittest individual at the end (ties: the earlier slot).

    Parameters
    ----------
    inputs:
        The models to evolve (at least one).
    fitness:
        Scores a model; lower is better, NaN counts as +infinity. Called once per input and
        once per trial, in a fixed order.
    mutation, crossover:
        DE's F in (0, 2] and CR in [0, 1].
    generations:
        Rounds of trials over the whole population (0 returns the fittest input).
    population:
        The population size (None: the number of inputs).
    seed:
        Seeds every choice of parents and every crossover mask seed.

    Raises
    ------
    ColearnValueError
        For settings out of range or models of different layouts.
    """
    _check_de(mutation, crossover)
    check_same_layout(inputs)
    if generations < 0:
        raise ColearnValueError(f"DE's generations must be >= 0, got {generations}")
    if population is not None and population < 1:
        raise ColearnValueError(f"DE's population must be >= 1, got {population}")
    rng = np.random.Generator(np.random.PCG64(seed))
    individuals: dict[int, dict[str, Array]] = {i: dict(model) for i, model in enumerate(inputs)}
    scores: dict[int, float] = {i: _safe_fitness(fitness, individuals[i]) for i in individuals}
    input_fitness = [scores[i] for i in range(len(inputs))]
    derivations: dict[int, Derivation] = {}
    size = len(inputs) if population is None else population
    slots = sorted(individuals, key=lambda i: (scores[i], i))[:size] if size < len(inputs) else list(individuals)

    def make_trial(target_slot: int) -> int:
        base, plus, minus = (slots[s] for s in _pick_parents(rng, slots, target_slot))
        trial_seed = int(rng.integers(2**63))
        new_id = len(individuals)
        target = slots[target_slot]
        individuals[new_id] = de_trial(
            individuals[target], individuals[base], individuals[plus], individuals[minus],
            mutation, crossover, trial_seed,
        )  # fmt: skip
        derivations[new_id] = Derivation(new_id, target, base, plus, minus, trial_seed)
        scores[new_id] = _safe_fitness(fitness, individuals[new_id])
        return new_id

    while len(slots) < size:
        slots.append(make_trial(int(rng.integers(len(slots)))))
    for _ in range(generations):
        for slot in range(len(slots)):
            trial = make_trial(slot)
            if scores[trial] <= scores[slots[slot]]:
                slots[slot] = trial
    best_slot = min(range(len(slots)), key=lambda s: (scores[slots[s]], s))
    winner = slots[best_slot]
    return Evolution(
        winner=winner,
        weights=individuals[winner],
        fitness=scores[winner],
        input_fitness=input_fitness,
        lineage=_lineage(winner, derivations),
        trials=len(derivations),
    )


def _lineage(winner: int, derivations: Mapping[int, Derivation]) -> list[Derivation]:
    """The derivations ``winner`` depends on, in creation (id) order."""
    needed: set[int] = set()
    stack = [winner]
    while stack:
        current = stack.pop()
        if current in derivations and current not in needed:
            needed.add(current)
            d = derivations[current]
            stack.extend((d.target, d.base, d.plus, d.minus))
    return [derivations[i] for i in sorted(needed)]


def replay_evolution(
    inputs: Sequence[Named], lineage: Sequence[Derivation], winner: int, mutation: float, crossover: float
) -> dict[str, Array]:
    """Rebuild the winner of a DE run from the inputs and its lineage alone (no fitness, no data).

    Raises
    ------
    ColearnValueError
        If a derivation refers to an individual not made before it, an id repeats or is an
        input's, or the winner is unknown.
    """
    check_same_layout(inputs)
    built: dict[int, Named] = dict(enumerate(inputs))
    for d in lineage:
        if d.id in built:
            raise ColearnValueError(f"derivation {d.id} reuses the id of an earlier individual")
        parents = (d.target, d.base, d.plus, d.minus)
        missing = [p for p in parents if p not in built or p >= d.id]
        if missing:
            raise ColearnValueError(f"derivation {d.id} refers to individuals {missing} not made before it")
        built[d.id] = de_trial(
            built[d.target], built[d.base], built[d.plus], built[d.minus], mutation, crossover, d.seed
        )
    if winner not in built:
        raise ColearnValueError(f"the winner {winner} is neither an input nor a derived individual")
    return dict(built[winner])
