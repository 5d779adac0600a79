"""Aggregation manifests: their canonical JSON, parsing and checking, and recomputing a proposal from one.

A manifest says how an aggregated proposal was made, completely enough that anyone holding the
manifest and the input blobs (all in the content store under their hashes) rebuilds the proposed
weights bit for bit, with no access to any learner's data. ``colearn-chain audit --verify`` calls
:func:`recompute_proposal` (or :func:`verify_proposal`) on every aggregated round.

The bytes (PROTOCOL.md's manifest rule): UTF-8 JSON, keys sorted, no insignificant whitespace,
numbers as Python's ``json`` writes them (floats in their shortest round-trip form), so that one
manifest has exactly one byte form and hence one hash. Its fields::

    {
      "format": "colearn-chain/manifest-v1",
      "strategy": "fedavg",                 # the aggregator, which fixes the rule below
      "params": {...},                      # the strategy's settings as the proposer ran them
      "round": 3, "proposer": "0x...",      # the round and proposer it was made for
      "inputs": [                           # the models combined, in the order combined
        {"learner": "0x...", "weights": "0x<sha256>", "coefficient": 0.25,
         "samples": 120 | "reward": -0.41 | "score": 0.93}    # optional, strategy-specific
      ],
      "excluded": [{"learner": "0x...", "weights": "0x...", "reason": "..."}],
      "recipe": {...}                       # whatever else the rule needs (see below)
    }

``coefficient`` is the input's weight in the combination for the linear rules (fedavg,
weighted, attention, krum, multi-krum: they sum to 1; for Krum, ``1/m`` for each selected input
and 0 for the others). The median, trimmed mean and evolutionary rules are not linear
combinations: there it is 1 for every input the rule used and 0 for the others.

Each rule belongs to its aggregator (the ``recompute`` of its class, in its own file under
:mod:`colearn_chain.strategies.aggregators`, whose docstring details the recipe); :data:`RULES`
reads them from the aggregator registry. In short, every number recomputation uses being in the
manifest:

- ``fedavg``, ``weighted``, ``attention``: :func:`~colearn_chain.strategies.aggregate.weighted_average`
  with the recorded coefficients. These were derived from values only the proposer could
  measure (sample counts, rewards or attention scores on its private data), which each input
  records (``samples``, ``reward``, ``score``) and the recipe's ``temperature``; recomputation
  checks that the coefficients follow from them (exactly for sample counts, to 1e-9 for the
  softmax) but rebuilds the weights from the coefficients.
- ``krum``, ``multi-krum``: recipe ``{"f", "m", "selected"}``; recomputation re-runs the
  selection on the inputs, requires it to equal ``selected`` (positions in ``inputs``), then
  averages the selected inputs.
- ``median``: the coordinate-wise median of all inputs.
- ``trimmed-mean``: recipe ``{"trim", "dropped"}``; ``dropped`` must be ``floor(trim * n)``.
- ``evolutionary``: recipe ``{"F", "CR", "winner", "derivations": [{"id", "target", "base",
  "plus", "minus", "seed"}], ...}``; recomputation replays the derivations (individual ``i <
  n`` is input ``i``) and returns individual ``winner``. The fitness values, measured on the
  proposer's private data, are recorded for information only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from colearn_chain.errors import ColearnError, ColearnValueError
from colearn_chain.strategies import aggregate
from colearn_chain.strategies.aggregate import Array, Named
from colearn_chain.weights.codec import WeightsSpec, decode_weights, encode_weights
from colearn_chain.weights.digest import normalize_digest, sha256_hex
from colearn_chain.weights.errors import BlobNotFound
from colearn_chain.weights.store import ContentStore

__all__ = [
    "MANIFEST_FORMAT",
    "RULES",
    "ExcludedInput",
    "Manifest",
    "ManifestError",
    "ManifestInput",
    "ManifestInputMissing",
    "ProposalMismatch",
    "Rule",
    "apply_manifest",
    "canonical_json",
    "is_int",
    "is_number",
    "load_inputs",
    "params_agree",
    "parse_manifest",
    "recipe_int",
    "recipe_number",
    "recompute_proposal",
    "require",
    "verify_proposal",
]

#: The value of every manifest's ``format`` field; a reader refuses any other.
MANIFEST_FORMAT = "colearn-chain/manifest-v1"
#: Optional per-input fields: what the proposer measured to derive the coefficient.
INPUT_DETAILS = ("kept", "reward", "samples", "score", "slot")
#: How far a softmax coefficient may be from the one its recorded logits give (libm differs by ulps).
SOFTMAX_TOLERANCE = 1e-9

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-f]{64}")
_TOP_LEVEL = {"excluded", "format", "inputs", "params", "proposer", "recipe", "round", "strategy"}


class ManifestError(ColearnValueError):
    """A manifest is malformed, inconsistent, or cannot be recomputed; the message says which part."""


class ManifestInputMissing(ManifestError):
    """An input the manifest names is not in the store (or its stored bytes are corrupt)."""


class ProposalMismatch(ManifestError):
    """Recomputing the manifest does not give the proposed weights: the proposer did not do what it says."""


def canonical_json(value: Any) -> bytes:
    """``value`` as the one canonical byte form: UTF-8, sorted keys, no whitespace, finite numbers only.

    Raises
    ------
    ColearnValueError
        If ``value`` holds something JSON cannot carry exactly (NaN, infinity, non-string keys).
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ColearnValueError(f"cannot write a manifest value as canonical JSON: {exc}") from exc
    return text.encode("utf-8")


@dataclass(frozen=True)
class ManifestInput:
    """One model combined into the proposal.

    ``details`` holds the optional measured fields (:data:`INPUT_DETAILS`): ``samples`` (an int),
    ``reward`` or ``score`` (a float, or None where it was not finite); FedFormer's ``slot`` (an
    index) and ``kept`` (a bool).
    """

    learner: str
    weights: str
    coefficient: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The input as the manifest writes it."""
        return {**self.details, "learner": self.learner, "weights": self.weights, "coefficient": self.coefficient}


@dataclass(frozen=True)
class ExcludedInput:
    """A contribution the proposer could not use (missing, corrupt, or not a model of its architecture)."""

    learner: str
    weights: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The exclusion as the manifest writes it."""
        return {"learner": self.learner, "weights": self.weights, "reason": self.reason}


@dataclass(frozen=True)
class Manifest:
    """A parsed (or about to be written) manifest; see the module docstring for the fields."""

    strategy: str
    params: Mapping[str, Any]
    round: int
    proposer: str
    inputs: tuple[ManifestInput, ...]
    recipe: Mapping[str, Any] = field(default_factory=dict)
    excluded: tuple[ExcludedInput, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict."""
        return {
            "format": MANIFEST_FORMAT,
            "strategy": self.strategy,
            "params": dict(self.params),
            "round": self.round,
            "proposer": self.proposer,
            "inputs": [entry.to_json() for entry in self.inputs],
            "excluded": [entry.to_json() for entry in self.excluded],
            "recipe": dict(self.recipe),
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes that go to the store (and whose sha256 goes on the ledger)."""
        return canonical_json(self.to_json())

    @property
    def coefficients(self) -> list[float]:
        """The inputs' coefficients, in input order."""
        return [entry.coefficient for entry in self.inputs]


# ------------------------------------------------------------------ parsing
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ManifestError(f"the manifest repeats a key among {sorted(keys)}")
    return dict(pairs)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (and not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (and not a bool), as JSON integers parse."""
    return isinstance(value, int) and not isinstance(value, bool)


def require(condition: bool, message: str) -> None:
    """Raise a ManifestError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ManifestError(message)


def _address(value: Any, where: str) -> str:
    require(isinstance(value, str) and _ADDRESS.fullmatch(value) is not None, f"{where} is not an address: {value!r}")
    return str(value)


def _hash(value: Any, where: str) -> str:
    require(
        isinstance(value, str) and _HASH.fullmatch(value) is not None,
        f"{where} is not a sha256 as 0x and 64 lowercase hex digits: {value!r}",
    )
    return str(value)


def _parse_input(entry: Any, index: int) -> ManifestInput:
    where = f"inputs[{index}]"
    require(isinstance(entry, dict), f"{where} is not an object")
    unknown = set(entry) - {"learner", "weights", "coefficient", *INPUT_DETAILS}
    require(not unknown, f"{where} has unknown fields {sorted(unknown)}")
    missing = {"learner", "weights", "coefficient"} - set(entry)
    require(not missing, f"{where} lacks {sorted(missing)}")
    require(is_number(entry["coefficient"]), f"{where}.coefficient is not a finite number: {entry['coefficient']!r}")
    details = {key: entry[key] for key in INPUT_DETAILS if key in entry}
    if "samples" in details:
        require(
            is_int(details["samples"]) and details["samples"] >= 0,
            f"{where}.samples is not a count: {details['samples']!r}",
        )
    if "slot" in details:
        require(is_int(details["slot"]) and details["slot"] >= 0, f"{where}.slot is not an index: {details['slot']!r}")
    if "kept" in details:
        require(isinstance(details["kept"], bool), f"{where}.kept is not true or false: {details['kept']!r}")
    for key in ("reward", "score"):
        if key in details:
            require(
                details[key] is None or is_number(details[key]),
                f"{where}.{key} is not a number or null: {details[key]!r}",
            )
    return ManifestInput(
        learner=_address(entry["learner"], f"{where}.learner"),
        weights=_hash(entry["weights"], f"{where}.weights"),
        coefficient=float(entry["coefficient"]),
        details=details,
    )


def _parse_excluded(entry: Any, index: int) -> ExcludedInput:
    where = f"excluded[{index}]"
    require(isinstance(entry, dict), f"{where} is not an object")
    require(set(entry) == {"learner", "weights", "reason"}, f"{where} must have exactly learner, weights, reason")
    require(isinstance(entry["reason"], str), f"{where}.reason is not a string")
    return ExcludedInput(
        learner=_address(entry["learner"], f"{where}.learner"),
        weights=_hash(entry["weights"], f"{where}.weights"),
        reason=entry["reason"],
    )


def parse_manifest(data: bytes) -> Manifest:
    """Parse and check a manifest's bytes; only its canonical byte form is accepted.

    Checks the encoding, the JSON, that the bytes are exactly :func:`canonical_json` of what they
    hold (so nothing hides in whitespace or key order, and the hash is the manifest's only name),
    the format, every field's type, that the strategy has a rule, and no learner twice.

    Raises
    ------
    ManifestError
        Naming the first problem found.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ManifestError(f"a manifest is bytes, got {type(data).__name__}")
    raw = bytes(data)
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"the manifest is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"the manifest is not JSON: {exc}") from exc
    require(isinstance(document, dict), "the manifest is not a JSON object")
    try:
        canonical = canonical_json(document)
    except ColearnValueError as exc:
        raise ManifestError(str(exc)) from exc
    require(
        canonical == raw,
        "the manifest is not in canonical form (keys sorted, no whitespace, numbers as Python's json writes them)",
    )
    require(document.get("format") == MANIFEST_FORMAT, f"the manifest's format is not {MANIFEST_FORMAT!r}")
    missing = _TOP_LEVEL - set(document)
    unknown = set(document) - _TOP_LEVEL
    require(not missing, f"the manifest lacks {sorted(missing)}")
    require(not unknown, f"the manifest has unknown fields {sorted(unknown)}")
    strategy = document["strategy"]
    require(
        isinstance(strategy, str) and strategy in RULES,
        f"the manifest's strategy {strategy!r} has no recomputation rule (known: {', '.join(sorted(RULES))})",
    )
    require(isinstance(document["params"], dict), "the manifest's params is not an object")
    require(isinstance(document["recipe"], dict), "the manifest's recipe is not an object")
    require(is_int(document["round"]) and document["round"] >= 0, "the manifest's round is not a round number")
    require(isinstance(document["inputs"], list) and len(document["inputs"]) > 0, "the manifest lists no inputs")
    require(isinstance(document["excluded"], list), "the manifest's excluded is not a list")
    inputs = tuple(_parse_input(entry, i) for i, entry in enumerate(document["inputs"]))
    excluded = tuple(_parse_excluded(entry, i) for i, entry in enumerate(document["excluded"]))
    # A FedFormer slot whose contribution was excluded keeps its owner's earlier encoder ("kept"):
    # that input names the same learner as the exclusion, once as each. No other rule keeps inputs.
    require(
        strategy == "fedformer" or not any("kept" in entry.details for entry in inputs),
        f"a {strategy} manifest has no kept inputs (only fedformer keeps an encoder)",
    )
    contributed = [entry.learner.lower() for entry in inputs if not entry.details.get("kept")]
    learners = contributed + [entry.learner.lower() for entry in excluded]
    require(len(learners) == len(set(learners)), "the manifest lists a learner more than once")
    return Manifest(
        strategy=strategy,
        params=document["params"],
        round=document["round"],
        proposer=_address(document["proposer"], "proposer"),
        inputs=inputs,
        recipe=document["recipe"],
        excluded=excluded,
    )


# -------------------------------------------------------------------- rules
#: How one strategy's manifests are recomputed: (parsed manifest, decoded inputs in order) -> weights.
Rule = Callable[[Manifest, Sequence[Named]], dict[str, Array]]


def recipe_number(manifest: Manifest, key: str) -> float:
    """The recipe's ``key`` as a finite number; a ManifestError naming the strategy and key otherwise."""
    value: Any = manifest.recipe.get(key)
    require(is_number(value), f"the {manifest.strategy} manifest's recipe.{key} is not a finite number: {value!r}")
    return float(value)


def recipe_int(manifest: Manifest, key: str) -> int:
    """The recipe's ``key`` as an integer; a ManifestError naming the strategy and key otherwise."""
    value: Any = manifest.recipe.get(key)
    require(is_int(value), f"the {manifest.strategy} manifest's recipe.{key} is not an integer: {value!r}")
    return int(value)


def params_agree(manifest: Manifest, key: str, value: Any) -> None:
    """A setting the recipe repeats must not differ from the one the params record."""
    if manifest.params.get(key) is not None:
        require(
            manifest.params[key] == value,
            f"the manifest's params.{key} ({manifest.params[key]!r}) and recipe ({value!r}) disagree",
        )


class _Rules(Mapping[str, Rule]):
    """Strategy name -> rule, read live from the registered aggregators: each class owns its rule.

    Nothing here lists the strategies: an aggregator added to the registry
    (:data:`colearn_chain.strategies.aggregators.AGGREGATORS`) has its manifests parsed and
    recomputed by its own ``recompute`` at once.
    """

    @staticmethod
    def _aggregators() -> Mapping[str, Any]:
        # Imported on use: every aggregator imports this module for the manifest format.
        from colearn_chain.strategies.aggregators import AGGREGATORS

        return AGGREGATORS

    def __getitem__(self, name: str) -> Rule:
        rule: Rule = self._aggregators()[name].recompute
        return rule

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._aggregators()))

    def __len__(self) -> int:
        return len(self._aggregators())


#: Strategy name -> how its manifests are recomputed (each aggregator's ``recompute``).
RULES: Mapping[str, Rule] = _Rules()


def apply_manifest(manifest: Manifest, models: Sequence[Named]) -> dict[str, Array]:
    """The weights the manifest's rule gives for ``models`` (its inputs, decoded, in order).

    The proposer calls this on its own manifest, parsed back from its bytes, so that what it
    proposes is by construction what an auditor recomputes.

    Raises
    ------
    ManifestError
        If the recipe is inconsistent with the inputs, or the rule cannot be applied.
    """
    if len(models) != len(manifest.inputs):
        raise ManifestError(f"the manifest lists {len(manifest.inputs)} inputs, {len(models)} models were given")
    try:
        aggregate.check_same_layout(models)
    except ColearnValueError as exc:
        raise ManifestError(f"the manifest's inputs are not models of one architecture: {exc}") from exc
    return RULES[manifest.strategy](manifest, models)


def load_inputs(manifest: Manifest, store: ContentStore) -> list[dict[str, Array]]:
    """Fetch and decode every input the manifest lists, all in the first input's layout.

    Raises
    ------
    ManifestInputMissing
        If an input is not in the store (or its bytes no longer hash to its name).
    ManifestError
        If an input is not a valid weights blob, or does not fit the first input's layout.
    """
    models: list[dict[str, Array]] = []
    spec: WeightsSpec | None = None
    for index, entry in enumerate(manifest.inputs):
        where = f"input {index} (learner {entry.learner}, weights {entry.weights})"
        try:
            blob = store.get(entry.weights)
        except BlobNotFound as exc:
            raise ManifestInputMissing(
                f"{where} is not in the store: fetch it from its learner, or the proposal cannot be verified ({exc})"
            ) from exc
        try:
            arrays = decode_weights(blob, spec=spec, expected_sha256=entry.weights)
        except ColearnError as exc:
            raise ManifestError(f"{where} is not usable weights: {exc}") from exc
        spec = spec or WeightsSpec.from_weights(arrays)
        models.append(arrays)
    return models


def recompute_proposal(manifest_bytes: bytes, store: ContentStore) -> bytes:
    """Rebuild an aggregated proposal's ONNX bytes from its manifest and the stored inputs alone.

    ``sha256`` of the result equals the proposal's hash on the ledger iff the proposer did what
    the manifest says (see :func:`verify_proposal`).

    Raises
    ------
    ManifestError
        If the manifest is malformed or inconsistent (:class:`ManifestInputMissing` if an input
        is not in the store).
    """
    manifest = parse_manifest(manifest_bytes)
    weights = apply_manifest(manifest, load_inputs(manifest, store))
    try:
        return encode_weights(weights)
    except ColearnValueError as exc:
        raise ManifestError(f"the recomputed weights cannot be encoded: {exc}") from exc


def verify_proposal(manifest_bytes: bytes, store: ContentStore, weights_hash: str | bytes) -> str:
    """Recompute the proposal and check it against the hash the ledger recorded; return that hash (hex).

    Raises
    ------
    ProposalMismatch
        If the recomputed weights hash to something else.
    ManifestError
        As :func:`recompute_proposal`.
    """
    expected = normalize_digest(weights_hash)
    got = sha256_hex(recompute_proposal(manifest_bytes, store))
    if got != expected:
        raise ProposalMismatch(
            f"recomputing the manifest gives weights 0x{got}, but the proposal is 0x{expected}: "
            "the proposal is not what its manifest says"
        )
    return expected
