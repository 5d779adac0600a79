"""Manifests: one canonical byte form, strict parsing, and recomputation that catches tampering."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import aggregate as ag
from colearn_chain.strategies.manifest import (
    MANIFEST_FORMAT,
    RULES,
    ExcludedInput,
    Manifest,
    ManifestError,
    ManifestInput,
    ManifestInputMissing,
    ProposalMismatch,
    canonical_json,
    parse_manifest,
    recompute_proposal,
    verify_proposal,
)
from colearn_chain.weights.codec import encode_weights
from colearn_chain.weights.digest import sha256_hex
from colearn_chain.weights.store import InMemoryStore

ADDRESSES = [f"0x{i:040x}" for i in range(1, 6)]


def _models(count: int = 5) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    models = [
        {
            "layer.weight": rng.normal(size=(4, 3)).astype(np.float32),
            "layer.bias": rng.normal(size=4).astype(np.float32),
        }
        for _ in range(count)
    ]
    models[-1] = {name: (array * 1000).astype(np.float32) for name, array in models[-1].items()}  # an outlier
    return models


def _stored(store: InMemoryStore, models: list[dict[str, np.ndarray]]) -> list[str]:
    return ["0x" + store.put(encode_weights(m)) for m in models]


def _manifest(strategy: str, hashes: list[str], coefficients: list[float], **extra: Any) -> Manifest:
    details = extra.pop("details", [{} for _ in hashes])
    return Manifest(
        strategy=strategy,
        params=extra.pop("params", {}),
        round=2,
        proposer=ADDRESSES[0],
        inputs=tuple(
            ManifestInput(ADDRESSES[i], h, c, d)
            for i, (h, c, d) in enumerate(zip(hashes, coefficients, details, strict=True))
        ),
        recipe=extra.pop("recipe", {}),
        excluded=extra.pop("excluded", ()),
    )


def _edit(data: bytes, change: Any) -> bytes:
    document = json.loads(data)
    change(document)
    return canonical_json(document)


# ------------------------------------------------------------------ byte form
def test_canonical_json_sorts_keys_drops_whitespace_and_writes_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1.5, None, "é"]}) == '{"a":[1.5,null,"é"],"b":1}'.encode()
    with pytest.raises(ColearnValueError, match="canonical JSON"):
        canonical_json({"a": float("nan")})


def test_manifest_round_trips_through_its_canonical_bytes() -> None:
    manifest = _manifest(
        "fedavg",
        ["0x" + "ab" * 32, "0x" + "cd" * 32],
        [0.25, 0.75],
        details=[{"samples": 1}, {"samples": 3}],
        params={"weighting": "samples"},
        excluded=(ExcludedInput(ADDRESSES[4], "0x" + "ef" * 32, "missing"),),
    )
    data = manifest.to_bytes()
    assert data == canonical_json(json.loads(data))
    assert b" " not in data.replace(b'"reason":"missing"', b"") and b"\n" not in data
    keys = list(json.loads(data))
    assert keys == sorted(keys) == ["excluded", "format", "inputs", "params", "proposer", "recipe", "round", "strategy"]
    assert json.loads(data)["format"] == MANIFEST_FORMAT
    assert json.loads(data)["inputs"][0] == {
        "coefficient": 0.25, "learner": ADDRESSES[0], "samples": 1, "weights": "0x" + "ab" * 32,
    }  # fmt: skip
    assert parse_manifest(data) == manifest


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: json.dumps(json.loads(d), indent=1).encode(), "canonical form"),
        (lambda d: json.dumps(dict(reversed(json.loads(d).items())), separators=(",", ":")).encode(), "canonical"),
        (lambda d: d + b" ", "canonical form"),
        (lambda d: b"\xff" + d, "not UTF-8"),
        (lambda d: d[:-1], "not JSON"),
        (lambda d: b"[1,2]", "not a JSON object"),
        (lambda d: d.replace(b'"round":2', b'"round":2,"round":3'), "repeats a key"),
        (lambda d: _edit(d, lambda m: m.update(format="other")), "format"),
        (lambda d: _edit(d, lambda m: m.update(extra=1)), "unknown fields"),
        (lambda d: _edit(d, lambda m: m.pop("recipe")), "lacks"),
        (lambda d: _edit(d, lambda m: m.update(strategy="magic")), "no recomputation rule"),
        (lambda d: _edit(d, lambda m: m.update(inputs=[])), "no inputs"),
        (lambda d: _edit(d, lambda m: m.update(round=-1)), "round"),
        (lambda d: _edit(d, lambda m: m.update(proposer="alice")), "not an address"),
        (lambda d: _edit(d, lambda m: m["inputs"][0].update(weights="0xABC")), "sha256"),
        (lambda d: _edit(d, lambda m: m["inputs"][0].update(coefficient="1")), "finite number"),
        (lambda d: _edit(d, lambda m: m["inputs"][0].update(colour="red")), "unknown fields"),
        (lambda d: _edit(d, lambda m: m["inputs"][0].update(samples=-3)), "not a count"),
        (lambda d: _edit(d, lambda m: m["inputs"][1].update(learner=ADDRESSES[0])), "more than once"),
    ],
)
def test_parse_refuses_malformed_manifests(mangle: Any, message: str) -> None:
    data = _manifest("fedavg", ["0x" + "ab" * 32, "0x" + "cd" * 32], [0.5, 0.5]).to_bytes()
    with pytest.raises(ManifestError, match=message):
        parse_manifest(mangle(data))


def test_every_aggregator_has_a_rule() -> None:
    from colearn_chain.strategies.aggregators import STRATEGIES

    assert set(RULES) == set(STRATEGIES)


# ----------------------------------------------------------------- recomputing
def test_recompute_linear_krum_median_trimmed_and_evolutionary_by_hand() -> None:
    store = InMemoryStore()
    models = _models()
    hashes = _stored(store, models)
    cases = {
        "fedavg": (
            _manifest("fedavg", hashes, ag.fedavg_coefficients([1, 2, 3, 4, 5]),
                      details=[{"samples": n} for n in (1, 2, 3, 4, 5)]),
            ag.fedavg(models, [1, 2, 3, 4, 5]),
        ),
        "weighted": (
            _manifest("weighted", hashes, ag.softmax_coefficients([-1, -2, -3, -4, -5], 0.5),
                      details=[{"reward": -float(i)} for i in range(1, 6)], recipe={"temperature": 0.5}),
            ag.reward_weighted(models, [-1, -2, -3, -4, -5], 0.5),
        ),
        "multi-krum": (
            _manifest("multi-krum", hashes, [0.25, 0.25, 0.25, 0.25, 0.0],
                      recipe={"f": 1, "m": 4, "selected": [0, 1, 2, 3]}),
            ag.multi_krum(models, 1, 4),
        ),
        "median": (_manifest("median", hashes, [1.0] * 5), ag.coordinate_median(models)),
        "trimmed-mean": (
            _manifest("trimmed-mean", hashes, [1.0] * 5, recipe={"trim": 0.2, "dropped": 1}, params={"trim": 0.2}),
            ag.trimmed_mean(models, 0.2),
        ),
    }  # fmt: skip
    for name, (manifest, expected) in cases.items():
        blob = recompute_proposal(manifest.to_bytes(), store)
        assert blob == encode_weights(expected), name
        assert verify_proposal(manifest.to_bytes(), store, sha256_hex(blob)) == sha256_hex(blob)

    evolution = ag.differential_evolution(models, lambda m: float(np.abs(m["layer.bias"]).sum()), seed=3)
    used = {p for d in evolution.lineage for p in (d.target, d.base, d.plus, d.minus) if p < 5} | (
        {evolution.winner} if evolution.winner < 5 else set()
    )
    manifest = _manifest(
        "evolutionary",
        hashes,
        [1.0 if i in used else 0.0 for i in range(5)],
        recipe={
            "F": 0.5, "CR": 0.9, "winner": evolution.winner, "derivations": [d.to_json() for d in evolution.lineage],
        },
    )  # fmt: skip
    assert recompute_proposal(manifest.to_bytes(), store) == encode_weights(evolution.weights)


def test_a_tampered_manifest_fails_recomputation() -> None:
    store = InMemoryStore()
    models = _models()
    hashes = _stored(store, models)
    krum_recipe = {"f": 1, "m": 4, "selected": [0, 1, 2, 3]}
    honest = _manifest("multi-krum", hashes, [0.25, 0.25, 0.25, 0.25, 0.0], recipe=krum_recipe)
    proposal = sha256_hex(recompute_proposal(honest.to_bytes(), store))

    # Krum's selection is re-run: claiming the outlier was selected is caught
    forged_recipe = {"f": 1, "m": 4, "selected": [1, 2, 3, 4]}
    forged = _manifest("multi-krum", hashes, [0.0, 0.25, 0.25, 0.25, 0.25], recipe=forged_recipe)
    with pytest.raises(ManifestError, match=r"Krum selects inputs \[0, 1, 2, 3\]"):
        recompute_proposal(forged.to_bytes(), store)

    # other coefficients that still add up give other weights: the proposal hash no longer matches
    weights = _manifest("weighted", hashes, [0.2] * 5, details=[{"reward": 0.0}] * 5, recipe={"temperature": 1.0})
    skewed = [0.6, 0.1, 0.1, 0.1, 0.1]
    reweighted = _edit(
        weights.to_bytes(), lambda m: [e.update(coefficient=c) for e, c in zip(m["inputs"], skewed, strict=True)]
    )
    with pytest.raises(ManifestError, match="not softmax"):
        recompute_proposal(reweighted, store)
    linear = sha256_hex(recompute_proposal(weights.to_bytes(), store))
    # rewards and coefficients forged consistently pass the softmax check, but not the proposal's hash
    rewards = [3.0, 0.0, 0.0, 0.0, 0.0]
    consistent = _manifest(
        "weighted", hashes, ag.softmax_coefficients(rewards, 1.0), details=[{"reward": r} for r in rewards],
        recipe={"temperature": 1.0},
    )  # fmt: skip
    with pytest.raises(ProposalMismatch, match="not what its manifest says"):
        verify_proposal(consistent.to_bytes(), store, linear)

    # fedavg coefficients must be the recorded sample shares; trimmed-mean's count must follow from trim
    fed = _manifest("fedavg", hashes, [0.2] * 5, details=[{"samples": n} for n in (1, 1, 1, 1, 2)])
    with pytest.raises(ManifestError, match="share of the recorded samples"):
        recompute_proposal(fed.to_bytes(), store)
    trimmed = _manifest("trimmed-mean", hashes, [1.0] * 5, recipe={"trim": 0.2, "dropped": 0})
    with pytest.raises(ManifestError, match="drops 1 each side, not 0"):
        recompute_proposal(trimmed.to_bytes(), store)
    disagree = _manifest("trimmed-mean", hashes, [1.0] * 5, recipe={"trim": 0.2, "dropped": 1}, params={"trim": 0.4})
    with pytest.raises(ManifestError, match="disagree"):
        recompute_proposal(disagree.to_bytes(), store)
    assert proposal != linear


def test_an_evolutionary_manifest_with_a_broken_lineage_fails() -> None:
    store = InMemoryStore()
    hashes = _stored(store, _models(4))
    forward = {"id": 4, "target": 0, "base": 1, "plus": 2, "minus": 9, "seed": 1}
    recipe: dict[str, Any] = {"F": 0.5, "CR": 0.9, "winner": 4, "derivations": [forward]}
    manifest = _manifest("evolutionary", hashes, [1.0, 1.0, 1.0, 0.0], recipe=recipe)
    with pytest.raises(ManifestError, match="cannot be replayed"):
        recompute_proposal(manifest.to_bytes(), store)
    recipe["derivations"] = [{"id": 4, "target": 0}]
    with pytest.raises(ManifestError, match="non-negative integers"):
        recompute_proposal(_manifest("evolutionary", hashes, [1.0, 1.0, 1.0, 0.0], recipe=recipe).to_bytes(), store)


def test_a_missing_or_invalid_input_fails_with_a_clear_error() -> None:
    store = InMemoryStore()
    hashes = _stored(store, _models(3))
    absent = "0x" + sha256_hex(b"never stored")
    manifest = _manifest("median", [*hashes, absent], [1.0] * 4)
    with pytest.raises(ManifestInputMissing, match=r"input 3 .* is not in the store: fetch it from its learner"):
        recompute_proposal(manifest.to_bytes(), store)
    junk = "0x" + store.put(b"not a model")
    with pytest.raises(ManifestError, match=r"input 1 .* is not usable weights"):
        recompute_proposal(_manifest("median", [hashes[0], junk], [1.0, 1.0]).to_bytes(), store)
    other = "0x" + store.put(encode_weights({"other": np.zeros(2, np.float32)}))
    with pytest.raises(ManifestError, match=r"input 1 .* is not usable weights: weights do not fit"):
        recompute_proposal(_manifest("median", [hashes[0], other], [1.0, 1.0]).to_bytes(), store)
