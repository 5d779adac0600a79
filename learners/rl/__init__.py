"""Reinforcement-learning learners: stable-baselines3 agents in Gymnasium environments as MLI learners.

An agent (PPO, as DeRL federates; SAC for continuous control) is wrapped as a
:class:`~colearn_chain.interface.MachineLearningInterface` learner: proposing continues training
the global policy on the learner's own environment variant, testing scores a policy by its mean
return over seeded episodes, and the weights are the policy's parameters as named arrays, so they
travel as the same ONNX weights blobs as a classifier's and every aggregator applies.
"""
