"""Tests of colearn_chain.weights: the codec, safe loading, export and the content stores."""
