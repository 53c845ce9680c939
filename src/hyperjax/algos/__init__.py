"""Learning algorithms: PPO pieces, RL2 and VariBAD task encoders."""
