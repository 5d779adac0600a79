"""Tests of the aggregating strategies, their maths and their manifests."""
