"""The on-chain layer: connecting, compiling, and the typed client of the driver contract."""

from colearn_chain.chain import contract_errors, events
from colearn_chain.chain.client import CollectiveLearningClient
from colearn_chain.chain.connection import Chain, connect
from colearn_chain.chain.endpoint import RpcEndpoint
from colearn_chain.chain.signing import sign_vote, vote_digest
from colearn_chain.chain.types import (
    NO_DEADLINE,
    ZERO_ADDRESS,
    ZERO_HASH,
    Receipt,
    RoundInfo,
    RoundStatus,
    SignedVote,
    fixed_to_score,
    score_to_fixed,
)

__all__ = [
    "NO_DEADLINE",
    "ZERO_ADDRESS",
    "ZERO_HASH",
    "Chain",
    "CollectiveLearningClient",
    "Receipt",
    "RoundInfo",
    "RoundStatus",
    "RpcEndpoint",
    "SignedVote",
    "connect",
    "contract_errors",
    "events",
    "fixed_to_score",
    "score_to_fixed",
    "sign_vote",
    "vote_digest",
]
