"""A small, seeded DQN: Q-network, target network, replay buffer and epsilon schedule.

Homogeneous Learning's selector was a DQN without a target network; this one has one (and
double-DQN targets by default), so the bootstrapped targets do not chase the network being
trained. Every random draw (initial weights, exploration, replay sampling) comes from the
agent's seed.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from colearn_chain.errors import ColearnValueError


@dataclass(frozen=True)
class DQNSettings:
    """The DQN's hyperparameters; the defaults are Homogeneous Learning's where it gives them.

    Attributes
    ----------
    shared
        Score every learner with one network over its row of the state (True, the default),
        or map the whole flattened state to one Q-value per learner (False: the paper's
        architecture). The shared network learns from every transition how to value each
        learner's features, which suits the few thousand transitions an episode budget gives.
    hidden
        Hidden layer widths (the paper's flat network: 500 and 200; see :meth:`paper`).
    replay_size
        Replay buffer capacity (the paper: 50,000).
    batch_size
        Transitions per gradient step (the paper: 128).
    gamma
        Discount (the paper: 0.9).
    lr
        Adam's learning rate.
    epsilon_start, epsilon_decay, epsilon_min
        Exploration: ``max(epsilon_min, epsilon_start * exp(-epsilon_decay * episode))``
        (the paper: from 1, decaying by exp(-0.02) per episode).
    target_sync
        Gradient steps between copies of the online network into the target network.
    updates_per_step
        Gradient steps per environment step (steps are costly, gradient steps cheap).
    double
        Double-DQN targets: the online network picks the next action, the target network values it.
    n_step
        Bootstrap after this many steps, with their discounted rewards (1: one-step DQN).
    """

    shared: bool = True
    hidden: tuple[int, ...] = (64, 64)
    replay_size: int = 50_000
    batch_size: int = 128
    gamma: float = 0.9
    lr: float = 1e-3
    epsilon_start: float = 1.0
    epsilon_decay: float = 0.02
    epsilon_min: float = 0.0
    target_sync: int = 100
    updates_per_step: int = 4
    double: bool = True
    n_step: int = 1

    def __post_init__(self) -> None:
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise ColearnValueError(f"hidden layer widths must be positive, got {self.hidden}")
        if self.replay_size < 1 or self.batch_size < 1 or self.target_sync < 1 or self.updates_per_step < 0:
            raise ColearnValueError("replay_size, batch_size and target_sync must be >= 1, updates_per_step >= 0")
        if not 0.0 <= self.gamma < 1.0:
            raise ColearnValueError(f"gamma must be in [0, 1), got {self.gamma}")
        if not 0.0 <= self.epsilon_min <= self.epsilon_start <= 1.0 or self.epsilon_decay < 0:
            raise ColearnValueError("need 0 <= epsilon_min <= epsilon_start <= 1 and epsilon_decay >= 0")
        if self.n_step < 1:
            raise ColearnValueError(f"n_step must be at least 1, got {self.n_step}")
        if not self.lr > 0:
            raise ColearnValueError(f"lr must be positive, got {self.lr}")

    @classmethod
    def paper(cls) -> DQNSettings:
        """Homogeneous Learning's network: the flattened state through 500 and 200 units."""
        return cls(shared=False, hidden=(500, 200))

    @classmethod
    def named(cls, network: str) -> DQNSettings:
        """``"shared"`` (the default settings) or ``"paper"`` (:meth:`paper`)."""
        if network == "shared":
            return cls()
        if network == "paper":
            return cls.paper()
        raise ColearnValueError(f"unknown network {network!r}: choose shared or paper")

    def epsilon(self, episode: int) -> float:
        """The exploration rate of episode ``episode`` (0-based)."""
        return max(self.epsilon_min, self.epsilon_start * math.exp(-self.epsilon_decay * episode))


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the setting.

    For a network this small, thread coordination costs more than it saves (measured about
    15x slower with two threads on a 2-core machine busy with the learners).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class QNetwork(nn.Module):
    """From a state ``(batch, learners, features)`` to one Q-value per learner ``(batch, learners)``.

    Linear layers with ReLU between them, applied either to each learner's row with shared
    weights (``shared``: the last layer has one output), or to the flattened state (the last
    layer has one output per learner).
    """

    def __init__(self, learners: int, features: int, hidden: tuple[int, ...], shared: bool = True) -> None:
        super().__init__()
        self.learners, self.features, self.shared = learners, features, shared
        widths = [features, *hidden, 1] if shared else [learners * features, *hidden, learners]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """Q-values, shape ``(batch, learners)``."""
        if self.shared:
            out: torch.Tensor = self.layers(state).squeeze(-1)
        else:
            out = self.layers(state.flatten(start_dim=1))
        return out

    def linear_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each Linear layer's (weight ``(out, in)``, bias) as numpy arrays, for ONNX export."""
        return [
            (m.weight.detach().cpu().numpy().copy(), m.bias.detach().cpu().numpy().copy())
            for m in self.layers
            if isinstance(m, nn.Linear)
        ]


class ReplayBuffer:
    """A fixed-capacity ring of transitions, sampled uniformly with the agent's generator."""

    def __init__(self, capacity: int, state_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.rng = rng
        self.states = np.zeros((capacity, *state_shape), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.next_states = np.zeros((capacity, *state_shape), dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(
        self, state: np.ndarray, action: int, reward: float, next_state: np.ndarray, done: bool, discount: float
    ) -> None:
        """Store one transition, overwriting the oldest once full.

        ``reward`` is the (discounted) reward up to ``next_state`` and ``discount`` the factor
        of the value bootstrapped there; ``done`` means a true terminal state (the goal
        reached), with no bootstrapping; an episode cut at its horizon is not done.
        """
        i = self._next
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.dones[i], self.discounts[i] = next_state, float(done), discount
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """A batch (with replacement when the buffer is smaller than the batch)."""
        idx = self.rng.integers(0, self._size, size=batch_size)
        return tuple(
            torch.from_numpy(a[idx])
            for a in (self.states, self.actions, self.rewards, self.next_states, self.dones, self.discounts)
        )


class DQNAgent:
    """The learner of the selector: acts epsilon-greedily, remembers, and learns from replay.

    Parameters
    ----------
    learners, features
        The state's shape: one row of ``features`` per learner (the learners are the actions).
    settings
        The hyperparameters.
    seed
        Seeds the initial weights, exploration and replay sampling.
    """

    def __init__(self, learners: int, features: int, settings: DQNSettings | None = None, seed: int = 0) -> None:
        if features < 1 or learners < 1:
            raise ColearnValueError(f"a DQN needs learners and features, got {learners} and {features}")
        self.settings = settings or DQNSettings()
        self.actions = learners
        shared = self.settings.shared
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed % 2**63)
            self.online = QNetwork(learners, features, self.settings.hidden, shared)
        self.target = QNetwork(learners, features, self.settings.hidden, shared)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=self.settings.lr)
        self.rng = np.random.default_rng([seed % 2**63, 0xD09])
        self.replay = ReplayBuffer(
            self.settings.replay_size, (learners, features), np.random.default_rng([seed % 2**63, 0x4E9])
        )
        self.gradient_steps = 0
        self._pending: deque[tuple[np.ndarray, int, float]] = deque()

    def q_values(self, state: np.ndarray) -> np.ndarray:
        """The online network's Q-values for one state."""
        with torch.no_grad():
            q: np.ndarray = self.online(torch.from_numpy(np.asarray(state, dtype=np.float32)[None]))[0].numpy()
        return q

    def act(self, state: np.ndarray, epsilon: float) -> int:
        """A uniformly random learner with probability ``epsilon``, else the greedy one."""
        if self.rng.random() < epsilon:
            return int(self.rng.integers(self.actions))
        return int(np.argmax(self.q_values(state)))

    def remember(
        self,
        state: np.ndarray,
        action: int,
        reward: float,
        next_state: np.ndarray,
        done: bool,
        truncated: bool = False,
    ) -> None:
        """Record one step; n-step transitions go to the replay buffer as they complete.

        ``done``: the goal was reached (nothing is bootstrapped past it); ``truncated``: the
        episode was cut (the pending steps bootstrap from ``next_state``). Either ends the
        episode's pending steps.
        """
        self._pending.append((np.asarray(state, dtype=np.float32), action, reward))
        if len(self._pending) == self.settings.n_step:
            self._emit(next_state, done)
        if done or truncated:
            while self._pending:
                self._emit(next_state, done)

    def _emit(self, next_state: np.ndarray, done: bool) -> None:
        """Store the oldest pending step with its discounted rewards up to ``next_state``."""
        gamma = self.settings.gamma
        state, action, _ = self._pending[0]
        ret = sum(gamma**k * r for k, (_, _, r) in enumerate(self._pending))
        self.replay.add(state, action, float(ret), next_state, done, gamma ** len(self._pending))
        self._pending.popleft()

    def learn(self) -> float | None:
        """``updates_per_step`` gradient steps on replayed batches; the mean Huber loss.

        Returns None until the buffer holds one batch.
        """
        settings = self.settings
        if len(self.replay) < settings.batch_size or settings.updates_per_step == 0:
            return None
        losses = []
        with one_torch_thread():
            for _ in range(settings.updates_per_step):
                losses.append(self._update())
        return float(np.mean(losses))

    def _update(self) -> float:
        """One gradient step on a replayed batch; the target network is synced on schedule."""
        settings = self.settings
        states, actions, rewards, next_states, dones, discounts = self.replay.sample(settings.batch_size)
        with torch.no_grad():
            next_target = self.target(next_states)
            if settings.double:
                best = self.online(next_states).argmax(dim=1, keepdim=True)
                next_value = next_target.gather(1, best).squeeze(1)
            else:
                next_value = next_target.max(dim=1).values
            target = rewards + discounts * (1.0 - dones) * next_value
        predicted = self.online(states).gather(1, actions[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(predicted, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.online.parameters(), 10.0)
        self.optimizer.step()
        self.gradient_steps += 1
        if self.gradient_steps % settings.target_sync == 0:
            self.target.load_state_dict(self.online.state_dict())
        return float(loss.detach())
