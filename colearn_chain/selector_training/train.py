"""Training the RL node selector: DQN episodes on the simulated environment, then an ONNX policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colearn_chain.errors import ColearnValueError
from colearn_chain.selector_training.dqn import DQNAgent, DQNSettings
from colearn_chain.selector_training.environment import MAX_UNUSABLE_SEEDS, EnvironmentSettings, SelectionEnvironment
from colearn_chain.strategies.rl.policy import PolicyInfo, SelectorPolicy
from colearn_chain.strategies.rl.state import StateConfig, WeightProjection, fit_projection, flatten_weights

#: Training experiments use 32-bit seeds; evaluations start here, so they never meet.
EVALUATION_SEED_BASE = 2**32


def training_seeds(seed: int, episodes: int) -> list[int]:
    """The experiment seed of each training episode: distinct, 32-bit, drawn from ``seed``."""
    state = np.random.SeedSequence([seed % 2**63, 0x7EA1]).generate_state(4 * episodes + 8, np.uint32)
    seeds = list(dict.fromkeys(int(s) for s in state))
    return seeds[:episodes]


def evaluation_seeds(count: int) -> list[int]:
    """Experiment seeds for evaluation: never used by :func:`training_seeds`."""
    return [EVALUATION_SEED_BASE + i for i in range(count)]


@dataclass(frozen=True)
class TrainSettings:
    """Everything ``colearn-chain selector train`` takes.

    Attributes
    ----------
    episodes
        Training episodes (the paper: 120).
    seed
        Seeds the episodes' experiments, the DQN and its exploration.
    environment
        The simulated experiment (learners, task, split, goal, horizon, cost matrix).
    dqn
        The DQN's hyperparameters.
    acceptance_window, use_costs, pca_components
        The state (see :class:`~colearn_chain.strategies.rl.state.StateConfig`).
    """

    episodes: int = 120
    seed: int = 0
    environment: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    dqn: DQNSettings = field(default_factory=DQNSettings)
    acceptance_window: int = 5
    use_costs: bool = True
    pca_components: int = 0

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ColearnValueError(f"training needs at least 1 episode, got {self.episodes}")

    @property
    def state_config(self) -> StateConfig:
        """The state the policy will read."""
        env = self.environment
        return StateConfig(env.learners, env.horizon, self.acceptance_window, self.use_costs, self.pca_components)


@dataclass(frozen=True)
class EpisodeStats:
    """One training episode, for the learning curve."""

    episode: int
    seed: int
    rounds: int
    reached_goal: bool
    final_accuracy: float
    episode_return: float
    cost: float
    epsilon: float
    loss: float | None


@dataclass
class TrainingResult:
    """The trained policy and its learning curve."""

    policy: SelectorPolicy
    episodes: list[EpisodeStats]
    settings: TrainSettings

    def curve_json(self) -> dict[str, Any]:
        """The learning curve and the settings, as written beside the policy."""
        return {"settings": asdict(self.settings), "episodes": [asdict(e) for e in self.episodes]}

    def write_curve(self, path: Path) -> Path:
        """Write :meth:`curve_json` as indented JSON."""
        path.write_text(json.dumps(self.curve_json(), indent=2, sort_keys=True) + "\n")
        return path


def warm_up_projection(env: SelectionEnvironment, components: int, seed: int) -> WeightProjection:
    """Fit the weight PCA on one episode of uniformly random nominations (seeded)."""
    rng = np.random.default_rng([seed % 2**63, 0xAC1])
    env.reset_usable(iter(training_seeds(seed ^ 0x5EED, MAX_UNUSABLE_SEEDS)))
    for _ in range(max(env.settings.horizon, components + 1)):
        env.step(int(rng.integers(env.settings.learners)))
    samples = np.stack([flatten_weights(blob) for blob in env.model_blobs()])
    return fit_projection(samples, components)


def train_selector(
    settings: TrainSettings | None = None,
    on_episode: Callable[[EpisodeStats], None] | None = None,
) -> TrainingResult:
    """Train the selector's DQN over simulated episodes and return its ONNX policy.

    Each episode is a fresh experiment (its own data split, initial model and training, from
    :func:`training_seeds`, skipping seeds the split cannot serve) with one cost matrix
    throughout. The agent nominates every
    round's proposer epsilon-greedily; transitions go to the replay buffer and the network
    learns after each step. An episode ends at the goal (terminal) or at the horizon
    (truncated: still bootstrapped).
    """
    settings = settings or TrainSettings()
    env_settings = settings.environment
    config = settings.state_config
    projection = None
    if config.pca_components:
        warm_up = SelectionEnvironment(env_settings, StateConfig(env_settings.learners, env_settings.horizon))
        projection = warm_up_projection(warm_up, config.pca_components, settings.seed)
    env = SelectionEnvironment(env_settings, config, projection)
    agent = DQNAgent(config.learners, config.features, settings.dqn, settings.seed)
    history: list[EpisodeStats] = []
    seeds = iter(training_seeds(settings.seed, 2 * settings.episodes + MAX_UNUSABLE_SEEDS))
    for episode in range(settings.episodes):
        epsilon = settings.dqn.epsilon(episode)
        seed, state = env.reset_usable(seeds)
        total, cost, losses = 0.0, 0.0, []
        while True:
            action = agent.act(state, epsilon)
            step = env.step(action)
            agent.remember(state, action, step.reward, step.state, step.done, step.truncated)
            loss = agent.learn()
            if loss is not None:
                losses.append(loss)
            total += step.reward
            cost += step.cost
            state = step.state
            if step.done or step.truncated:
                break
        stats = EpisodeStats(
            episode=episode,
            seed=seed,
            rounds=len(env.proposers),
            reached_goal=step.done,
            final_accuracy=step.accuracy,
            episode_return=total,
            cost=cost,
            epsilon=epsilon,
            loss=float(np.mean(losses)) if losses else None,
        )
        history.append(stats)
        if on_episode is not None:
            on_episode(stats)
    info = PolicyInfo(config, env.cost, env_settings.goal, env_settings.cost_seed, projection, settings.dqn.shared)
    policy = SelectorPolicy.from_layers(agent.online.linear_layers(), info)
    return TrainingResult(policy, history, settings)
