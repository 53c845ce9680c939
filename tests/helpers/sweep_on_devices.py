"""Run the sharding test's sweep in this process and save its final params and metrics.

XLA_FLAGS=--xla_force_host_platform_device_count=4 python sweep_on_devices.py out.npz
"""

import sys

import jax
import numpy as np

from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig
from hyperjax.sweep import GroupProgram, plan_runs

CFG = TrainConfig(
    env="bandit",
    policy=PolicyConfig(state_embed_dim=16, hidden=(16,), task_embed_dim=8),
    encoder=EncoderConfig(gru_dim=16),
    ppo=PPOConfig(num_envs=16, num_steps=20, minibatches=2),
    total_env_steps=16 * 20 * 3 * 2,
    updates_per_chunk=3,
)
RUNS = plan_runs(["hfi", "bias_hyperinit"], [0, 1], [1e-3])


def train() -> tuple[dict, dict, int]:
    """Final params and metrics (flattened, by tree path) and the devices the state lives on."""
    program = GroupProgram.build(CFG, "hypernet", RUNS)
    state = program.initial_state()
    for _ in range(CFG.num_chunks):
        state, metrics = program.run_chunk(state)
    devices = len(jax.tree.leaves(state.params)[0].sharding.device_set)
    params = {
        jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree.leaves_with_path(state.params)
    }
    return params, {k: np.asarray(v) for k, v in metrics.items()}, devices


if __name__ == "__main__":
    params, metrics, devices = train()
    np.savez(
        sys.argv[1],
        devices=devices,
        **{f"p{k}": v for k, v in params.items()},
        **{f"m{k}": v for k, v in metrics.items()},
    )
