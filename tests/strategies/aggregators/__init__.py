"""Tests of the aggregators, one file per aggregator (mirroring colearn_chain/strategies/aggregators/)."""
