"""The RL node selector at run time (Homogeneous Learning): public-ledger state and the ONNX policy.

Its training harness (simulated episodes, the DQN) lives above the runner, in
:mod:`colearn_chain.selector_training`.
"""
