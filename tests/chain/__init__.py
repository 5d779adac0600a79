"""Tests of the chain layer: the contract, its Python client and the protocol reference model."""
