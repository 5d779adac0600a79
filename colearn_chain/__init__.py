"""colearn-chain: collective learning driven by a Solidity contract on an auditable ledger."""

__version__ = "0.1.0"
