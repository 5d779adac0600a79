"""FedFormer's Q-function (Hebert et al. 2022) as a stable-baselines3 SAC critic.

Each agent has its own (state, action) encoder; its Q-function is a Transformer encoder over
the tokens ``[own embedding, embedding by other agent 1's encoder, ...]`` and a Q head on the
own token's output. The other agents' encoders are frozen copies received through the ledger
(no gradient reaches them): the agent attends to what the others learned, in its own context,
instead of averaging their weights. SAC's twin critics are two Transformers with two heads over
the same tokens (one own encoder: it is what the agent shares).

:class:`FedFormerCritic` subclasses SB3's ``ContinuousCritic`` and :class:`FedFormerPolicy`
SB3's ``SACPolicy``, so SB3's SAC (losses, targets, entropy tuning) trains it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy

from colearn_chain.errors import ColearnValueError

__all__ = ["FedFormerCritic", "FedFormerPolicy", "FedFormerSettings", "encoder_names"]


@dataclass(frozen=True)
class FedFormerSettings:
    """The Q-function's shape (paper defaults: 2 layers, 4 heads, 400 wide).

    Attributes
    ----------
    layers, heads, width
        Transformer encoder layers, attention heads and model width (also the encoders' width);
        ``width`` must be a multiple of ``heads``.
    others
        How many other agents' frozen encoders the critic holds (its tokens are ``1 + others``):
        the paper's ``from_saved``, capped by the number of other agents.
    """

    layers: int = 2
    heads: int = 4
    width: int = 400
    others: int = 0

    def __post_init__(self) -> None:
        for name in ("layers", "heads", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ColearnValueError(f"fedformer {name} must be a positive integer, got {value!r}")
        if isinstance(self.others, bool) or not isinstance(self.others, int) or self.others < 0:
            raise ColearnValueError(f"fedformer others (from_saved) must be a non-negative integer: {self.others!r}")
        if self.width % self.heads:
            raise ColearnValueError(f"fedformer width {self.width} is not a multiple of heads {self.heads}")


def _encoder(inputs: int, width: int) -> torch.nn.Sequential:
    """(state, action) -> an embedding of ``width`` (two layers, as the paper's MLP encoders)."""
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU()
    )


def encoder_names(module: torch.nn.Module) -> list[str]:
    """The state_dict names of an encoder module, in order (the shared blob's layout)."""
    return list(module.state_dict())


class FedFormerCritic(ContinuousCritic):
    """Twin FedFormer Q-functions: Transformers over [own token, frozen others' tokens], Q on the own token.

    Parameters
    ----------
    observation_space, action_space, features_extractor, features_dim, normalize_images,
    share_features_extractor
        As SB3's ``ContinuousCritic`` (the features are the flattened observation).
    fedformer
        Layers, heads, width and how many frozen encoders of other agents to hold.
    n_critics
        Twin Q-functions for SAC (2).
    """

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        fedformer: FedFormerSettings,
        activation_fn: type[torch.nn.Module] = torch.nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
    ) -> None:
        # n_critics=0: SB3 builds no MLP Q-networks; the Transformers below are the Q-networks.
        super().__init__(
            observation_space,
            action_space,
            net_arch,
            features_extractor,
            features_dim,
            activation_fn,
            normalize_images,
            n_critics=0,
            share_features_extractor=share_features_extractor,
        )
        self.n_critics = n_critics
        self.fedformer = fedformer
        inputs = features_dim + get_action_dim(action_space)
        self.encoder = _encoder(inputs, fedformer.width)
        self.others = torch.nn.ModuleList(_encoder(inputs, fedformer.width) for _ in range(fedformer.others))
        for frozen in self.others:
            frozen.requires_grad_(False)
        self.transformers = torch.nn.ModuleList()
        self.heads = torch.nn.ModuleList()
        for _ in range(n_critics):
            layer = torch.nn.TransformerEncoderLayer(
                d_model=fedformer.width,
                nhead=fedformer.heads,
                dim_feedforward=fedformer.width,
                dropout=0.0,
                batch_first=True,
            )
            self.transformers.append(
                torch.nn.TransformerEncoder(layer, num_layers=fedformer.layers, enable_nested_tensor=False)
            )
            self.heads.append(torch.nn.Linear(fedformer.width, 1))

    def requires_grad_(self, requires_grad: bool = True) -> FedFormerCritic:
        """As torch's, except that the other agents' encoders always stay frozen."""
        super().requires_grad_(requires_grad)
        for frozen in self.others:
            frozen.requires_grad_(False)
        return self

    def tokens(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(batch, 1 + others, width): the own embedding first, then each frozen encoder's."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        pair = torch.cat([features, actions], dim=1)
        own = self.encoder(pair)
        with torch.no_grad():
            theirs = [frozen(pair) for frozen in self.others]
        return torch.stack([own, *theirs], dim=1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tokens = self.tokens(obs, actions)
        return tuple(
            head(transformer(tokens)[:, 0]) for transformer, head in zip(self.transformers, self.heads, strict=True)
        )

    def q1_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(obs, actions)
        q: torch.Tensor = self.heads[0](self.transformers[0](tokens)[:, 0])
        return q

    def load_others(self, encoders: list[Mapping[str, np.ndarray]]) -> None:
        """Load the other agents' encoders (as many as this critic holds) into the frozen copies."""
        if len(encoders) != len(self.others):
            raise ColearnValueError(f"the critic holds {len(self.others)} other encoders, {len(encoders)} were given")
        for frozen, arrays in zip(self.others, encoders, strict=True):
            frozen.load_state_dict({k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()})


class FedFormerPolicy(SACPolicy):
    """SB3's SAC policy whose critic (and target critic) are :class:`FedFormerCritic`.

    ``policy_kwargs={"fedformer": FedFormerSettings(...), "net_arch": [...]}``: ``net_arch``
    shapes the actor, ``fedformer`` the critic.
    """

    def __init__(self, *args: Any, fedformer: FedFormerSettings | None = None, **kwargs: Any) -> None:
        # Set before SACPolicy.__init__, which builds the critics through make_critic.
        self.fedformer = fedformer or FedFormerSettings()
        super().__init__(*args, **kwargs)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> FedFormerCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return FedFormerCritic(**critic_kwargs, fedformer=self.fedformer).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "fedformer": self.fedformer}
