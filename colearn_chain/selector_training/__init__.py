"""Training the RL selector: simulated episodes (the runner, in memory), the DQN, training curves.

This sits above the runner (it plays real rounds through :class:`~colearn_chain.experiment.Experiment`);
what a trained policy needs at run time (its state, its ONNX policy) stays in
:mod:`colearn_chain.strategies.rl`.
"""
