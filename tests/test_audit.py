"""The audit: history from events, per-learner figures, verification, and agreement with raw JSON-RPC."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from colearn_chain.audit import AuditReport, build_report, verify
from colearn_chain.chain import Chain, CollectiveLearningClient, connect
from colearn_chain.chain import events as ev
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.experiment import Experiment, publish_initial_model
from colearn_chain.ledger import ChainLedger
from colearn_chain.plots import plot_audit
from colearn_chain.simulation import build_learners, make_settings
from colearn_chain.strategies import make_strategy
from colearn_chain.weights.codec import encode_weights
from colearn_chain.weights.digest import Digest
from colearn_chain.weights.store import InMemoryStore

# The event signatures exactly as PROTOCOL.md writes them: what an outside client knows.
PROTOCOL_EVENTS = {
    "LearnerRegistered(uint256,address)": (["uint256", "address"], []),
    "WeightsProposed(uint256,address,bytes32,bytes32)": (["uint256", "address"], ["bytes32", "bytes32"]),
    "VoteCast(uint256,address,bool,int256)": (["uint256", "address"], ["bool", "int256"]),
    "RoundFinalized(uint256,bool,uint32,uint32,bytes32)": (["uint256"], ["bool", "uint32", "uint32", "bytes32"]),
    "RoundSkipped(uint256,address)": (["uint256", "address"], []),
}


def _play(chain: Chain, rounds: int = 3, learners: int = 3) -> tuple[CollectiveLearningClient, InMemoryStore]:
    settings = make_settings(learners=learners, rounds=rounds, seed=2)
    built, evaluate, _ = build_learners(settings)
    store = InMemoryStore()
    initial = publish_initial_model(built, store)
    accounts = chain.new_funded_accounts(learners)
    client = CollectiveLearningClient.deploy(
        chain, chain.dev_accounts()[0], [a.address for a in accounts],
        max_rounds=rounds, initial_model=initial.bytes32,
    )  # fmt: skip
    Experiment(built, ChainLedger(client, accounts), store, make_strategy("round-robin"), initial, evaluate).run(rounds)
    return client, store


@pytest.fixture(scope="module")
def played() -> tuple[CollectiveLearningClient, InMemoryStore, AuditReport]:
    client, store = _play(connect())
    report = build_report(client.events(), client.address, client.chain.chain_id, client.initial_model())
    return client, store, report


def test_rounds_are_rebuilt_from_events(played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport]) -> None:
    client, _, report = played
    assert report.learners == client.learners()
    assert [r.round for r in report.rounds] == [0, 1, 2]
    for record in report.rounds:
        info = client.round_info(record.round)
        assert record.proposer == info.proposer
        assert record.weights == Digest(info.weights).prefixed
        assert record.manifest is None
        assert (record.approvals, record.rejections) == (info.approvals, info.rejections)
        assert record.outcome == info.status.name.lower()
        assert len(record.votes) == 2
    assert report.rounds[-1].global_model == Digest(client.global_model()).prefixed


def test_communication_cost_from_the_ledgers_proposers_alone(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport],
) -> None:
    client, _, report = played
    fresh = build_report(client.events(), client.address, client.chain.chain_id, client.initial_model())
    assert "communication_cost" not in fresh.to_json()  # only when a matrix is given
    matrix = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 2.0], [4.0, 2.0, 0.0]])
    proposers = [report.learners.index(r.proposer) for r in report.rounds if r.proposer]
    assert proposers == [0, 1, 2]  # round-robin
    assert fresh.compute_costs(matrix) == 3.0  # 0 -> 1 -> 2 (on its own report: the fixture is shared)
    data = fresh.to_json()
    assert data["hand_over_costs"] == [0.0, 1.0, 2.0] and data["communication_cost"] == 3.0
    assert fresh.filtered(round_index=2).hand_over_costs == [2.0]  # a filtered report keeps its rounds' costs


def test_each_rounds_votes_arrive_in_one_relayed_transaction(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport],
) -> None:
    """``run`` relays a round's signed votes in one submitVotes: one vote-carrying tx per round."""
    client, store, report = played
    events = client.events()
    for record in report.rounds:
        cast = [e for e in events if isinstance(e, ev.VoteCast) and e.round == record.round]
        proposed = [e for e in events if isinstance(e, ev.WeightsProposed) and e.round == record.round]
        ended = [e for e in events if isinstance(e, ev.RoundFinalized) and e.round == record.round]
        assert len(cast) == 2 and len({e.tx_hash for e in cast}) == 1
        assert cast[0].tx_hash != proposed[0].tx_hash  # the votes are not the proposal's transaction
        assert ended[0].tx_hash == cast[0].tx_hash  # the batch's last vote closed the round
        assert [v.voter for v in record.votes] == [e.voter for e in cast]  # the audit reads them all
        order = [client.learners().index(e.voter) for e in cast]
        assert order == sorted(order)  # in learner order, as submitVotes requires
    assert verify(report, store) == []


def test_a_round_robin_chain_run_reads_no_round_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger knows each proposer (rotation, or its own nomination): no roundInfo per round."""
    chain = connect()
    try:
        asked: list[int] = []
        original = CollectiveLearningClient.round_info

        def counted(client: CollectiveLearningClient, round: int) -> Any:
            asked.append(round)
            return original(client, round)

        monkeypatch.setattr(CollectiveLearningClient, "round_info", counted)
        client, _ = _play(chain, rounds=2)
        assert asked == []
        assert client.current_round() == 2
    finally:
        chain.close()


def test_learner_summaries(played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport]) -> None:
    _, _, report = played
    summaries = report.summaries()
    assert sum(s.proposals for s in summaries) == 3
    assert all(s.votes_cast == 2 and s.missed_votes == 0 for s in summaries)
    accepted = sum(r.outcome == "accepted" for r in report.rounds)
    assert sum(s.accepted_proposals for s in summaries) == accepted
    for s in summaries:
        mine = [(v, r) for r in report.rounds for v in r.votes if v.voter == s.learner]
        assert s.agreed_with_outcome == sum(v.approve == (r.outcome == "accepted") for v, r in mine)


def test_verify_passes_then_finds_each_kind_of_discrepancy(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport],
) -> None:
    _, store, report = played
    assert verify(report, store) == []
    # a store without round 1's proposal, and with a model of another shape as round 2's
    partial = InMemoryStore()
    for digest in store.list():
        if Digest(digest).prefixed not in (report.rounds[1].weights, report.rounds[2].weights):
            partial.put(store.get(digest))
    tampered = AuditReport(**{**vars(report), "rounds": [*report.rounds]})

    alien = partial.put(encode_weights([np.zeros(3, dtype=np.float32)]))
    tampered.rounds[2] = type(report.rounds[2])(**{**vars(report.rounds[2]), "weights": Digest(alien).prefixed})
    kinds = {(d.round, d.kind) for d in verify(tampered, partial)}
    assert (1, "missing-blob") in kinds
    assert (2, "invalid-model") in kinds
    # a global model that does not follow the accepted proposals
    wrong = AuditReport(**{**vars(report), "rounds": [*report.rounds]})
    wrong.rounds[0] = type(report.rounds[0])(**{**vars(report.rounds[0]), "global_model": "0x" + "ab" * 32})
    assert any(d.kind == "global-model" and d.round == 0 for d in verify(wrong, store))


def test_manifests_are_recomputed_when_a_recipe_is_given(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport],
) -> None:
    _, store, report = played
    manifest = Digest(store.put(b'{"inputs":[],"params":{},"strategy":"copy"}')).prefixed
    with_manifest = AuditReport(**{**vars(report), "rounds": [*report.rounds]})
    with_manifest.rounds[0] = type(report.rounds[0])(**{**vars(report.rounds[0]), "manifest": manifest})
    proposal = store.get(report.rounds[0].weights or "")
    assert verify(with_manifest, store, lambda m, s: proposal) == []
    mismatch = verify(with_manifest, store, lambda m, s: proposal + b"x")
    assert [d.kind for d in mismatch] == ["recompute-mismatch"]


def test_filters_csv_json_and_plot(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport], tmp_path: Path
) -> None:
    _, _, report = played
    one = report.filtered(round_index=1)
    assert [r.round for r in one.rounds] == [1]
    voter = report.learners[0]
    mine = report.filtered(learner=voter)
    assert mine.learners == [voter]
    assert all(all(v.voter == voter for v in r.votes) for r in mine.rounds)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == sum(len(r.votes) for r in report.rounds)
    assert {row["voter"] for row in rows} == set(report.learners)
    data = json.loads(json.dumps(report.to_json()))
    assert data["format"] == 1
    assert set(data) == {"format", "contract", "chain_id", "initial_model", "learners", "rounds",
                         "learner_summaries", "verified", "discrepancies"}  # fmt: skip
    picture = plot_audit(report, tmp_path / "audit.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


def _raw_history(url: str, contract: str, from_block: int) -> dict[int, dict[str, Any]]:
    """What a plain JSON-RPC client makes of the logs, knowing only PROTOCOL.md's signatures."""
    topics = {"0x" + keccak(text=sig).hex(): (sig.split("(")[0], spec) for sig, spec in PROTOCOL_EVENTS.items()}
    logs = _rpc(url, "eth_getLogs", [{"address": contract, "fromBlock": hex(from_block), "toBlock": "latest"}])
    rounds: dict[int, dict[str, Any]] = {}
    for log in logs:
        if log["topics"][0] not in topics:
            continue
        name, (indexed, unindexed) = topics[log["topics"][0]]
        keys = [decode([kind], bytes.fromhex(t[2:]))[0] for kind, t in zip(indexed, log["topics"][1:], strict=True)]
        values = decode(unindexed, bytes.fromhex(log["data"][2:])) if unindexed else ()
        if name == "LearnerRegistered":
            continue
        record = rounds.setdefault(keys[0], {"votes": []})
        if name == "WeightsProposed":
            record["proposer"] = to_checksum_address(keys[1])
            record["weights"] = "0x" + values[0].hex()
            record["manifest"] = None if values[1] == bytes(32) else "0x" + values[1].hex()
        elif name == "VoteCast":
            record["votes"].append({"voter": to_checksum_address(keys[1]), "approve": values[0], "score": values[1]})
        elif name == "RoundFinalized":
            record["outcome"] = "accepted" if values[0] else "rejected"
            record["approvals"], record["rejections"] = values[1], values[2]
            record["global_model"] = "0x" + values[3].hex()
    return rounds


@pytest.mark.anvil
def test_audit_json_agrees_with_a_plain_json_rpc_client(anvil_node: AnvilNode) -> None:
    client, _ = _play(connect(anvil_node.url), rounds=2)
    report = build_report(client.events(), client.address, client.chain.chain_id, client.initial_model())
    audited = report.to_json()["rounds"]
    raw = _raw_history(anvil_node.url, client.address, client.deployment_block)
    assert sorted(raw) == [r["round"] for r in audited]
    for record in audited:
        expected = raw[record["round"]]
        for key in ("proposer", "weights", "manifest", "outcome", "approvals", "rejections", "global_model"):
            assert record[key] == expected[key], key
        assert [{k: v[k] for k in ("voter", "approve", "score")} for v in record["votes"]] == expected["votes"]


def test_a_manifest_from_another_round_or_proposer_is_reported(
    played: tuple[CollectiveLearningClient, InMemoryStore, AuditReport],
) -> None:
    _, store, report = played
    record = report.rounds[0]
    proposal = store.get(record.weights or "")
    for wrong in ({"round": 7, "proposer": record.proposer}, {"round": 0, "proposer": report.learners[1]}):
        manifest = store.put(json.dumps({"inputs": [], "params": {}, "strategy": "copy", **wrong}).encode())
        forged = AuditReport(**{**vars(report), "rounds": [*report.rounds]})
        forged.rounds[0] = type(record)(**{**vars(record), "manifest": Digest(manifest).prefixed})
        found = verify(forged, store, lambda m, s: proposal)
        assert [(d.round, d.kind) for d in found] == [(0, "invalid-manifest")]
