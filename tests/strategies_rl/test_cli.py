"""``colearn-chain selector train|serve`` and ``run --strategy rl --selector-policy``, in-process."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from colearn_chain.chain import ZERO_ADDRESS, CollectiveLearningClient, connect, score_to_fixed
from colearn_chain.chain import events as ev
from colearn_chain.chain.accounts import generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.cli.main import main
from colearn_chain.cli.selector_cmd import PASSWORD_ENV, curve_paths
from colearn_chain.deployment import Deployment
from colearn_chain.selector_training.dqn import QNetwork
from colearn_chain.strategies.rl.cost import cost_matrix
from colearn_chain.strategies.rl.policy import PolicyInfo, SelectorPolicy
from colearn_chain.strategies.rl.state import StateConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("selector") / "policy.onnx"
    code = main(["selector", "train", "--episodes", "2", "--learners", "3", "--horizon", "2", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_the_policy_and_its_learning_curve(policy_file: Path) -> None:
    policy = SelectorPolicy.load(policy_file)
    assert policy.learners == 3 and policy.info.config.horizon == 2 and policy.info.goal == 0.8
    plot, curve = curve_paths(policy_file)
    assert plot.name == "policy-learning-curve.png" and plot.read_bytes()[:8] == PNG_MAGIC
    episodes = json.loads(curve.read_text())["episodes"]
    assert [e["episode"] for e in episodes] == [0, 1] and all(1 <= e["rounds"] <= 2 for e in episodes)


def test_train_with_the_papers_network(tmp_path: Path) -> None:
    out = tmp_path / "paper.onnx"
    args = ["selector", "train", "--episodes", "1", "--learners", "2", "--horizon", "1", "--network", "paper"]
    assert main([*args, "--out", str(out)]) == 0
    policy = SelectorPolicy.load(out)
    assert not policy.info.shared and policy.learners == 2


def test_train_refuses_to_overwrite_and_bad_settings(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _main(["selector", "train", "--episodes", "1", "--out", str(policy_file)], capsys)
    assert code == 1 and "exists: choose a new file or pass --force" in output
    code, output = _main(["selector", "train", "--goal", "2", "--out", str(policy_file.with_name("x.onnx"))], capsys)
    assert code == 1 and "goal accuracy must be in (0, 1]" in output
    assert len(output.strip().splitlines()) == 1


def test_run_uses_the_policy(policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "--learners", "3", "--rounds", "2", "--strategy", "rl", "--in-memory", "--out", str(out)]
    code, output = _main([*args, "--selector-policy", str(policy_file)], capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["strategy_params"] == {"policy": str(policy_file)}
    assert len(results["rounds"]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--selector-policy", "/no/such/policy.onnx"], "selector policy /no/such/policy.onnx does not exist"),
        ([], "needs a trained policy: pass --selector-policy FILE"),
    ],
)
def test_run_without_a_usable_policy_is_one_line(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--learners", "3", "--rounds", "1", "--strategy", "rl", "--in-memory", "--out", str(tmp_path / "r")]
    code, output = _main([*args, *extra], capsys)
    assert code == 1 and "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1 and message in errors[0]


def test_run_refuses_a_policy_for_another_number_of_learners_before_any_work(
    policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    args = ["run", "--learners", "4", "--rounds", "1", "--strategy", "rl", "--in-memory", "--out", str(out)]
    code, output = _main([*args, "--selector-policy", str(policy_file)], capsys)
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert code == 1 and len(errors) == 1 and "chooses among 3 learners but the experiment has 4" in errors[0]
    assert not out.exists()


def test_run_rl_records_the_cost_of_the_experiments_matrix(
    policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = tmp_path / "cost.csv"
    matrix.write_text("0,0.01,0.09\n0.01,0,0.05\n0.09,0.05,0\n")
    out = tmp_path / "run"
    args = ["run", "--learners", "3", "--rounds", "3", "--strategy", "rl", "--in-memory", "--setting", "hl"]
    args += ["--cost", str(matrix), "--selector-policy", str(policy_file), "--out", str(out)]
    code, output = _main(args, capsys)
    assert code == 0, output
    results = json.loads((out / "results.json").read_text())
    cost = np.loadtxt(matrix, delimiter=",")
    index = {address: i for i, address in enumerate(results["learners"])}
    proposers = [index[r["proposer"]] for r in results["rounds"]]
    expected = [0.0] + [float(cost[a, b]) for a, b in itertools.pairwise(proposers)]
    assert [r["hand_over_cost"] for r in results["rounds"]] == pytest.approx(expected)
    assert results["communication_cost"] == pytest.approx(sum(expected))


def test_serve_checks_its_inputs_first(
    policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["selector", "serve", "--deployment", str(tmp_path / "d.json"), "--account", str(tmp_path / "key.json")]
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    code, output = _main([*args, "--policy", str(policy_file)], capsys)
    assert code == 1 and f"set {PASSWORD_ENV}" in output
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    code, output = _main([*args, "--policy", str(tmp_path / "none.onnx")], capsys)
    assert code == 1 and "none.onnx does not exist" in output
    code, output = _main([*args, "--policy", str(policy_file)], capsys)
    assert code == 1 and "key.json does not exist" in output
    code, output = _main(["selector"], capsys)
    assert "train" in output and "serve" in output


@pytest.mark.anvil
def test_serve_nominates_on_a_node_until_the_experiment_ends(
    anvil_node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`selector serve` in a thread against Anvil, the learners playing from the test thread."""
    chain = connect(anvil_node.url)
    learners = chain.new_funded_accounts(3, seed=31)
    selector = generated_accounts(1, seed=32)[0]
    chain.fund([selector.address], 10**19, chain.dev_accounts()[0])
    save_keystore(selector, tmp_path / "selector.json", "pw")
    client = CollectiveLearningClient.deploy(
        chain,
        chain.dev_accounts()[0],
        [a.address for a in learners],
        max_rounds=2,
        initial_model=b"\1" * 32,
        selector=selector.address,
    )
    # the command relies on these fields of the deployment file only (unvalidated: the rest is unused)
    spec = Deployment.model_construct(
        rpc_url=anvil_node.url,
        contract=client.address,
        deployment_block=client.deployment_block,
        store=str(tmp_path / "store"),
        chain_id=chain.chain_id,
    )
    monkeypatch.setattr(Deployment, "load", classmethod(lambda cls, path: spec))
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    policy = _tiny_policy(tmp_path / "policy.onnx", 3)
    args = ["selector", "serve", "--deployment", "unused.json", "--account", str(tmp_path / "selector.json")]
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(main([*args, "--policy", str(policy), "--poll", "0.05"])), daemon=True
    )
    thread.start()
    for round_index in range(2):
        deadline = time.monotonic() + 60
        while client.current_proposer() == ZERO_ADDRESS:
            assert time.monotonic() < deadline and thread.is_alive(), capsys.readouterr().err
            time.sleep(0.05)
        index = [str(a.address) for a in learners].index(client.current_proposer())
        client.propose(learners[index], round_index, bytes([round_index + 5]) * 32)
        for voter, account in enumerate(learners):
            if voter != index:
                client.vote(account, round_index, approve=True, score=score_to_fixed(0.5 + voter / 10))
    thread.join(timeout=60)
    assert codes == [0], capsys.readouterr().err
    output = capsys.readouterr().err
    assert "round 0: nominated learner" in output and "round 1: nominated learner" in output
    assert "2 nominations sent" in output
    nominated = [e for e in client.events() if isinstance(e, ev.ProposerNominated)]
    assert [(e.round, e.selector) for e in nominated] == [(0, selector.address), (1, selector.address)]


def _tiny_policy(path: Path, learners: int) -> Path:
    config = StateConfig(learners)
    torch.manual_seed(0)
    network = QNetwork(learners, config.features, (8,))
    SelectorPolicy.from_layers(network.linear_layers(), PolicyInfo(config, cost_matrix(learners), 0.8)).save(path)
    return path


def test_train_refuses_a_bad_cost_matrix_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = tmp_path / "cost.csv"
    matrix.write_text("0,1\n1,0\n")
    args = ["selector", "train", "--setting", "hl", "--learners", "3", "--cost", str(matrix)]
    code, output = _main([*args, "--out", str(tmp_path / "p.onnx")], capsys)
    assert code == 1 and len(output.strip().splitlines()) == 1
    assert "must be 3x3, got shape (2, 2)" in output
    assert not (tmp_path / "p.onnx").exists()
