"""The RL node selector (Homogeneous Learning): public-ledger state, DQN, simulated episodes, ONNX policy."""
