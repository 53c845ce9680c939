"""A two-armed bandit meta-task: the probe for a working RL2 memory.

Each episode is one pull; a trial is `episodes_per_trial` pulls of the same task. The task is which
arm pays 1 (the other pays 0), drawn uniformly. Any task-agnostic policy earns 0.5 per episode in
expectation; an agent that remembers the first pull's outcome earns 1 on every later episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.base import State

from hyperjax.envs.base import MetaEnv
from hyperjax.errors import check_choice


class TwoArmedBandit(MetaEnv):
    episode_length = 1
    episodes_per_trial = 5
    discrete = True

    @property
    def observation_size(self) -> int:
        return 1  # a constant: there is nothing to see, only to remember

    @property
    def action_size(self) -> int:
        return 2

    @property
    def task_size(self) -> int:
        return 2  # one-hot of the paying arm

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        check_choice("split", split, ("train", "test"))  # one distribution serves both
        return jax.nn.one_hot(jax.random.bernoulli(rng).astype(jnp.int32), 2)

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        zero = jnp.zeros(())
        return State(
            pipeline_state=jnp.zeros(()),
            obs=jnp.ones((1,)),
            reward=zero,
            done=zero,
            metrics={"success": zero},
            info={"task": task},
        )

    def step(self, state: State, action: jax.Array) -> State:
        reward = state.info["task"][action]
        # A pull is a whole episode that ends by itself (terminated, not cut by a time limit):
        # nothing follows it to bootstrap from, and time-limit handling must not touch it.
        return state.replace(reward=reward, done=jnp.ones(()), metrics={"success": reward})
