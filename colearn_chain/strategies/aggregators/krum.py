"""Krum (Blanchard et al. 2017): the one contribution closest to its ``n - f - 2`` nearest neighbours.

Krum is Multi-Krum with ``m = 1``; the selection and its recompute rule are written here once and
:mod:`~colearn_chain.strategies.aggregators.multi_krum` uses them. Manifest: recipe ``{"f", "m",
"selected", "scores"}`` with the ``f`` and ``m`` used (below the settings' when contributions were
excluded) and coefficient ``1/m`` for each selected input, 0 for the others; recomputation re-runs
the selection on the inputs, requires it to equal ``selected`` (positions in ``inputs``), then
averages the selected inputs. A forged selection fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.strategies.aggregators.base import Aggregator, Contribution, Plan
from colearn_chain.strategies.base import RoundContext
from colearn_chain.strategies.manifest import Manifest, ManifestError, is_int, recipe_int, require


@dataclass(frozen=True)
class KrumSettings:
    """``f``: Byzantine learners tolerated; needs n > 2f + 2 contributions (unset: the largest that fits)."""

    f: int | None = None

    def __post_init__(self) -> None:
        if self.f is not None and self.f < 0:
            raise ColearnValueError(f"f must be 0 or more (or unset for the largest n allows), got {self.f}")


class Krum(Aggregator[KrumSettings]):
    """Krum: the one contribution closest to its ``n - f - 2`` nearest neighbours."""

    name: ClassVar[str] = "krum"

    def plan(self, context: RoundContext, proposer: int, inputs: Sequence[Contribution]) -> Plan:
        return krum_plan(self.name, context, inputs, self.settings.f, 1)

    @classmethod
    def recompute(cls, manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
        return recompute_selection(manifest, models, single=True)


def _krum_f(name: str, wanted: int | None, offered: int, usable: int) -> int:
    """Krum's f: as set (checked against the contributions offered), or the largest the usable ones allow.

    An f that the offered contributions cannot support is a configuration error; one that only
    fails because contributions were excluded is lowered to what the usable ones support.
    """
    if wanted is None:
        return aggregate.default_krum_f(usable)
    if offered <= 2 * wanted + 2:
        raise ColearnValueError(
            f"{name} with f={wanted} needs more than {2 * wanted + 2} learners (n > 2f + 2), this experiment has "
            f"{offered}: set f to at most {aggregate.default_krum_f(offered)}, leave it unset, or add learners"
        )
    return min(wanted, aggregate.default_krum_f(usable))


def krum_plan(name: str, context: RoundContext, inputs: Sequence[Contribution], f: int | None, m: int | None) -> Plan:
    """Select by Krum scores among ``inputs`` and average the selected (``m = 1``: Krum itself; None: n - f)."""
    count = len(inputs)
    used_f = _krum_f(name, f, len(context.learners), count)
    used_m = count - used_f if m is None else min(m, count)
    models = [c.weights for c in inputs]
    scores = aggregate.krum_scores(models, used_f)
    selected = aggregate.krum_select(models, used_f, used_m)
    recipe = {"f": used_f, "m": used_m, "selected": selected, "scores": scores}
    return Plan([1.0 / used_m if i in selected else 0.0 for i in range(count)], recipe=recipe)


def recompute_selection(manifest: Manifest, models: Sequence[Named], *, single: bool) -> dict[str, Array]:
    """Krum's and Multi-Krum's rule: re-run the selection, check it and the coefficients, average.

    ``single`` (Krum) also requires the manifest to select exactly one input.
    """
    # f and m may be below the params' when contributions were excluded: the recipe has the ones used.
    f, m = recipe_int(manifest, "f"), recipe_int(manifest, "m")
    require(not single or m == 1, f"a {manifest.strategy} manifest selects exactly one input (m = 1)")
    selected = manifest.recipe.get("selected")
    require(
        isinstance(selected, list) and all(is_int(i) for i in selected),
        "the manifest's recipe.selected is not a list of input positions",
    )
    try:
        chosen = aggregate.krum_select(models, f, m)
    except ColearnValueError as exc:
        raise ManifestError(f"the {manifest.strategy} manifest cannot be recomputed: {exc}") from exc
    require(chosen == selected, f"Krum selects inputs {chosen} from these inputs, the manifest says {selected}")
    expected = [1.0 / m if i in chosen else 0.0 for i in range(len(models))]
    require(expected == manifest.coefficients, f"the manifest's coefficients are not 1/{m} for each selected input")
    return aggregate.weighted_average(models, expected)
