"""A FedFormer agent: SAC with the FedFormer critic, federated by sharing encoders, not policies.

Every agent keeps its own actor and Q-function, which never leave it. What it shares is its
(state, action) encoder: proposing trains its own agent for a set number of environment steps
(with the other agents' frozen encoders it currently holds) and contributes the trained
encoder; the ``fedformer`` strategy proposes the *set* of every agent's encoder. The weights an
agent votes on and accepts are that set (``encoders.<slot>.<param>``, slot = agent index):

- testing fine-tunes the agent's trained actor and critic for a few gradient steps from its
  replay buffer with its own Transformer attending to the candidate set (seeded by the
  proposal, so the vote is reproducible), and scores the actor by its mean return on its own
  seeded episodes; it approves iff that beats its current policy's return;
- accepting makes that policy current and the set's other encoders its frozen copies.

The agent's held-out score is its own actor's (there is no global policy to score).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import (
    ColearnModel,
    MachineLearningInterface,
    ModelFormat,
    ProposedWeights,
    Weights,
)
from colearn_chain.weights.codec import WeightsSpec
from colearn_chain.weights.export import export_torch_model
from learners.rl.agent_learner import AgentSettings, _digest, _seed_of
from learners.rl.environments import EnvVariant
from learners.rl.episodes import EpisodeSet
from learners.rl.fedformer_critic import FedFormerCritic, FedFormerPolicy, FedFormerSettings
from learners.rl.sac import DEFAULTS, SACAlgorithm
from learners.rl.sb3_io import load_parameters, parameters, silence
from learners.rl.scoring import PolicyScorer, torch_threads

__all__ = ["CONTRIBUTION_PREFIX", "SET_PREFIX", "FedFormerAgent", "FedFormerAgentSettings", "FedFormerAlgorithm"]

#: A contribution's names: ``encoder.<param>``; a proposal's: ``encoders.<slot>.<param>``.
CONTRIBUTION_PREFIX = "encoder."
SET_PREFIX = "encoders."


class FedFormerAlgorithm(SACAlgorithm):
    """SB3's SAC with :class:`~learners.rl.fedformer_critic.FedFormerPolicy` (MLP actor, FedFormer critic)."""

    name: ClassVar[str] = "fedformer-sac"

    def __init__(self, hyperparameters: Mapping[str, Any] | None, fedformer: FedFormerSettings) -> None:
        super().__init__(hyperparameters)
        self.fedformer = fedformer

    def build(self, env: gym.Env[Any, Any], seed: int) -> BaseAlgorithm:
        settings = {**DEFAULTS, **self.hyperparameters}
        policy_kwargs = {**settings.pop("policy_kwargs", {}), "fedformer": self.fedformer}
        return silence(
            SAC(FedFormerPolicy, env, seed=seed, device="cpu", verbose=0, policy_kwargs=policy_kwargs, **settings)
        )


@dataclass(frozen=True)
class FedFormerAgentSettings:
    """How a FedFormer agent adapts to a candidate encoder set before scoring it.

    Attributes
    ----------
    vote_gradient_steps
        SAC gradient steps from the replay buffer with the candidate set, before the vote's
        episodes (0: score the trained actor as it is).
    """

    vote_gradient_steps: int = 100

    def __post_init__(self) -> None:
        value = self.vote_gradient_steps
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ColearnValueError(f"vote_gradient_steps must be a non-negative integer, got {value!r}")


class FedFormerAgent(MachineLearningInterface):
    """A FedFormer SAC agent on its own environment variant, sharing its encoder through the ledger.

    Parameters
    ----------
    algorithm
        SAC with the FedFormer critic (its settings give layers, heads, width, frozen encoders).
    variant
        This agent's environment: it trains and votes here only.
    settings, fedformer_settings
        Training budget and scoring episodes; the vote's fine-tuning.
    seed
        The experiment's seed: every agent of a seed starts from the same policy and encoder.
    learner_seed
        This agent's own seed (training randomness, its episodes' seeds).
    slot, agents
        This agent's index among ``agents``: its encoder's slot in the shared set.
    name
        For messages.
    """

    minimise_criterion = False
    score_name = "mean return"

    def __init__(
        self,
        algorithm: FedFormerAlgorithm,
        variant: EnvVariant,
        settings: AgentSettings,
        fedformer_settings: FedFormerAgentSettings,
        seed: int,
        learner_seed: int,
        slot: int,
        agents: int,
        name: str,
    ) -> None:
        if not 0 <= slot < agents:
            raise ColearnValueError(f"{name}: slot {slot} is not one of {agents} agents")
        self.algorithm = algorithm
        self.variant = variant
        self.settings = settings
        self.fedformer_settings = fedformer_settings
        self.learner_seed = learner_seed
        self.slot = slot
        self.agents = agents
        self.name = name
        kept = algorithm.fedformer.others
        if kept > agents - 1:
            raise ColearnValueError(f"{name}: the critic keeps {kept} other encoders but there are {agents - 1} others")
        #: The slots whose encoders this agent attends to (the next ones after its own, in turn).
        self.attended = [(slot + step) % agents for step in range(1, kept + 1)]
        env = variant.make()
        with torch.random.fork_rng(devices=[]):
            self.model: BaseAlgorithm = algorithm.build(env, seed)
        self.action_space = env.action_space
        self._observation_shape = tuple(env.observation_space.shape or ())
        self._policy = parameters(self.model.policy)
        own = self._own_encoder(self._policy)
        #: The accepted encoder set: at first every slot holds the seed's initial encoder.
        self._encoders = {f"{SET_PREFIX}{s}.{k}": v.copy() for s in range(agents) for k, v in own.items()}
        self._trained: dict[str, np.ndarray] | None = None
        self._candidates: dict[bytes, dict[str, np.ndarray]] = {}
        self.scorer = PolicyScorer(algorithm, self.model.policy, self.action_space, name, settings.num_threads)
        self.vote_set = EpisodeSet([variant], settings.vote_episodes, seed=learner_seed * 1_009)
        self.test_set = EpisodeSet([variant], settings.test_episodes, seed=learner_seed * 1_009 + 500)
        self._current_vote_score: float | None = None
        self.environment_steps = 0

    # ------------------------------------------------------------ layouts
    @property
    def critic(self) -> FedFormerCritic:
        critic = self.model.policy.critic
        assert isinstance(critic, FedFormerCritic)
        return critic

    @staticmethod
    def _own_encoder(policy: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        prefix = "critic.encoder."
        return {k[len(prefix) :]: np.asarray(v) for k, v in policy.items() if k.startswith(prefix)}

    def encoder_spec(self) -> WeightsSpec:
        """The layout every contribution (one agent's encoder, ``encoder.<param>``) must have."""
        own = self._own_encoder(self._policy)
        return WeightsSpec.from_weights({CONTRIBUTION_PREFIX + k: v for k, v in own.items()})

    def encoder_slots(self) -> int:
        """How many encoders a proposal's set holds (one per agent)."""
        return self.agents

    def _set_arrays(self, weights: Weights) -> dict[str, np.ndarray]:
        """The encoder set in ``weights``, checked name by name and shape by shape against this agent's."""
        held = weights.weights
        if not isinstance(held, Mapping):
            raise ColearnValueError(f"{self.name}: expected an encoder set of named arrays, got {type(held).__name__}")
        arrays = {str(k): np.asarray(v) for k, v in held.items()}
        missing = sorted(set(self._encoders) - set(arrays))
        extra = sorted(set(arrays) - set(self._encoders))
        if missing or extra:
            raise ColearnValueError(
                f"{self.name}: not an encoder set of {self.agents} agents "
                f"(missing {missing[:3]}, unexpected {extra[:3]})"
            )
        for key, array in arrays.items():
            if array.shape != self._encoders[key].shape:
                raise ColearnValueError(
                    f"{self.name}: encoder tensor {key} has shape {array.shape}, this agent's is "
                    f"{self._encoders[key].shape}"
                )
        return arrays

    def _slot(self, arrays: Mapping[str, np.ndarray], slot: int) -> dict[str, np.ndarray]:
        prefix = f"{SET_PREFIX}{slot}."
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    def _with_others(self, policy: Mapping[str, np.ndarray], encoders: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """``policy`` with its critics' frozen encoders replaced by the attended slots of ``encoders``."""
        result = {k: np.array(v, copy=True) for k, v in policy.items()}
        for position, slot in enumerate(self.attended):
            for name, value in self._slot(encoders, slot).items():
                for critic in ("critic", "critic_target"):
                    result[f"{critic}.others.{position}.{name}"] = np.array(value, copy=True)
        return result

    # ------------------------------------------------------------ training state
    def _training_state(self) -> dict[str, Any]:
        """What SAC's updates change besides the policy (optimizers, entropy coefficient), to restore."""
        model: Any = self.model
        state: dict[str, Any] = {
            "actor": copy.deepcopy(model.actor.optimizer.state_dict()),
            "critic": copy.deepcopy(model.critic.optimizer.state_dict()),
            "updates": model._n_updates,
        }
        if getattr(model, "log_ent_coef", None) is not None:
            state["log_ent_coef"] = model.log_ent_coef.detach().clone()
            state["ent_coef"] = copy.deepcopy(model.ent_coef_optimizer.state_dict())
        return state

    def _restore(self, state: Mapping[str, Any]) -> None:
        model: Any = self.model
        model.actor.optimizer.load_state_dict(state["actor"])
        model.critic.optimizer.load_state_dict(state["critic"])
        model._n_updates = state["updates"]
        if "log_ent_coef" in state:
            with torch.no_grad():
                model.log_ent_coef.copy_(state["log_ent_coef"])
            model.ent_coef_optimizer.load_state_dict(state["ent_coef"])

    def _adapted(self, encoders: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The trained policy fine-tuned with ``encoders`` attended to (training state left as it was)."""
        base = self._with_others(self._trained if self._trained is not None else self._policy, encoders)
        steps = self.fedformer_settings.vote_gradient_steps
        model: Any = self.model
        if steps == 0 or model.replay_buffer is None or model.replay_buffer.size() < model.batch_size:
            return base
        seed = _seed_of(self.learner_seed, _digest(encoders))
        saved = self._training_state()
        with torch_threads(self.settings.num_threads), torch.random.fork_rng(devices=[]):
            load_parameters(self.model.policy, base, self.name)
            self.model.set_random_seed(seed)
            model.policy.set_training_mode(True)
            model.train(gradient_steps=steps, batch_size=model.batch_size)
            model.policy.set_training_mode(False)
            adapted = parameters(self.model.policy)
        self._restore(saved)
        return adapted

    # ------------------------------------------------------------ scores
    def score(self, policy: Mapping[str, np.ndarray], episodes: EpisodeSet) -> float:
        """Mean return of ``policy``'s deterministic actor over ``episodes``."""
        return self.scorer.score(policy, episodes)

    def heldout_score(self, episodes: EpisodeSet) -> float:
        """The current policy's mean return on episodes no agent votes on (the run's evaluation)."""
        return self.score(self._policy, episodes)

    @property
    def current_vote_score(self) -> float:
        if self._current_vote_score is None:
            self._current_vote_score = self.score(self._policy, self.vote_set)
        return self._current_vote_score

    def train_sample_count(self) -> int:
        return self.settings.steps_per_proposal

    # ---------------------------------------------------------- the interface
    def mli_propose_weights(self) -> Weights:
        """Train this agent (its own policy, the frozen encoders it holds) and contribute its encoder.

        Training continues from the last trained policy even when its set was rejected (the
        agent's own experience is never thrown away); only an accepted set changes the current
        policy that votes and the run's evaluation score.
        """
        start = self._trained if self._trained is not None else self._policy
        seed = _seed_of(self.learner_seed, _digest(start))
        with torch_threads(self.settings.num_threads), torch.random.fork_rng(devices=[]):
            load_parameters(self.model.policy, start, self.name)
            self.model.set_random_seed(seed)
            before = self.model.num_timesteps
            try:
                self.model.learn(total_timesteps=self.settings.steps_per_proposal, reset_num_timesteps=False)
            except (ValueError, RuntimeError) as exc:
                raise ColearnRuntimeError(f"{self.name}: training failed: {type(exc).__name__}: {exc}") from exc
            self._trained = parameters(self.model.policy)
            self.environment_steps += int(self.model.num_timesteps - before)
        self._candidates.clear()
        return Weights(weights={CONTRIBUTION_PREFIX + k: v for k, v in self._own_encoder(self._trained).items()})

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Adapt to the candidate encoder set, score by own mean return, approve iff it beats the current policy."""
        encoders = self._set_arrays(weights)
        candidate = self._adapted(encoders)
        self._candidates[_digest(encoders)] = candidate
        vote_score = self.score(candidate, self.vote_set)
        test_score = self.score(candidate, self.test_set)
        return ProposedWeights(
            weights=weights, vote_score=vote_score, test_score=test_score, vote=vote_score > self.current_vote_score
        )

    def mli_accept_weights(self, weights: Weights) -> None:
        """Attend to the accepted set from now on, with the policy adapted to it as the current one."""
        encoders = self._set_arrays(weights)
        candidate = self._candidates.get(_digest(encoders))
        if candidate is None:
            candidate = self._adapted(encoders)
        self.scorer.load(candidate)  # refuses another architecture
        self._policy = candidate
        self._encoders = {k: np.array(v, copy=True) for k, v in encoders.items()}
        self._trained = None
        self._candidates.clear()
        self._current_vote_score = None

    def mli_get_current_weights(self) -> Weights:
        """A copy of the accepted encoder set (what proposals are decoded against)."""
        return Weights(weights={k: v.copy() for k, v in self._encoders.items()})

    def mli_get_current_model(self) -> ColearnModel:
        """This agent's current actor as ONNX: a batch of observations in, actions out."""
        actor = self.scorer.load(self._policy)
        example = torch.zeros((1, *self._observation_shape), dtype=torch.float32)
        return ColearnModel(model_format=ModelFormat.ONNX, model=export_torch_model(actor, example))
