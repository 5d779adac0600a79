"""``colearn-chain selector``: train, and serve on a deployment, the RL node selector."""
