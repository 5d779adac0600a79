"""Meta-World MT10 families for the FedFormer benchmark: valid names, goal variants, task splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import fedformer as fedformer_benchmark
from colearn_chain.errors import ColearnValueError
from learners.rl.environments import heldout_variants, learner_variant
from learners.rl.metaworld_envs import metaworld_family, mt10_task_names, split_tasks


def test_mt10_has_ten_tasks_and_an_unknown_name_lists_them() -> None:
    names = mt10_task_names()
    assert len(names) == 10 and "reach-v3" in names
    with pytest.raises(ColearnValueError, match="choose one of reach-v3, push-v3"):
        metaworld_family("fly-v3")


def test_an_agents_goal_variant_plays_within_the_episode_cap() -> None:
    fam = metaworld_family("reach-v3", max_episode_steps=20)
    variant = learner_variant(fam, 0, 1)
    assert variant.params != heldout_variants(fam, 0, 1)[0].params
    env = variant.make()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (39,)
    steps = 0
    truncated = False
    while not truncated:
        obs, reward, _, truncated, info = env.step(np.zeros(4, np.float32))
        steps += 1
    assert steps == 20 and np.isfinite(float(reward)) and "success" in info


def test_tasks_are_split_among_agents_with_optional_overlap() -> None:
    tasks = ["a", "b", "c"]
    assert split_tasks(tasks, 5) == [["a"], ["b"], ["c"], ["a"], ["b"]]
    assert split_tasks(tasks, 3, overlap=1) == [["a", "b"], ["b", "c"], ["c", "a"]]
    with pytest.raises(ColearnValueError, match="overlap"):
        split_tasks(tasks, 3, overlap=3)


@pytest.mark.slow
def test_the_benchmark_compares_every_method_and_the_agent_counts_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "fedformer.json"
    code = fedformer_benchmark.main(
        [
            "--tasks",
            "reach-v3",
            "push-v3",
            "--agents",
            "2",
            "--steps",
            "40",
            "--rounds",
            "1",
            "--learning-starts",
            "20",
            "--episode-steps",
            "10",
            "--scaling",
            "2",
            "--vote-gradient-steps",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert set(results["comparison"]) == {"fedformer", "fedavg", "independent", "central"}
    for scores in results["comparison"].values():
        assert set(scores) == {"reach-v3", "push-v3"} and all(np.isfinite(v) for v in scores.values())
    assert set(results["scaling"]["2"]) == {"fedformer", "fedavg"}
    assert results["budget"]["steps"] == 40
