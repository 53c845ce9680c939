"""One Brax environment as a one-task distribution.

For checking the learner against a trusted one: `halfcheetah` is Brax's own `halfcheetah` env
(its reward, observation, reset and time step) with a constant task, so our training loop and
`brax.training.agents.ppo.train` see exactly the same MDP (benchmarks/ppo_parity.py). The task
vector is a single 0: the oracle input carries nothing, and there is nothing to infer.
"""

from __future__ import annotations

import brax.envs
import jax
import jax.numpy as jnp
from brax.envs.base import State

from hyperjax.envs.base import SPLITS, MetaEnv
from hyperjax.envs.brax_task import BRAX_BACKENDS, DEFAULT_BACKEND
from hyperjax.errors import check_choice


class BraxSingleTask(MetaEnv):
    """A Brax env with one task; episodes of 1000 steps, as Brax's training default."""

    brax_name = ""
    episode_length = 1000

    def __init__(self, backend: str = DEFAULT_BACKEND):
        check_choice("env.backend", backend, BRAX_BACKENDS)
        self._backend = backend
        self._env = brax.envs.get_environment(self.brax_name, backend=backend)

    @property
    def brax_env(self) -> brax.envs.Env:
        return self._env

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        check_choice("split", split, SPLITS)
        return jnp.zeros((1,), jnp.float32)

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        state = self._env.reset(rng)
        return state.replace(info={**state.info, "task": jnp.asarray(task, jnp.float32)})

    def step(self, state: State, action: jax.Array) -> State:
        # Brax envs that never terminate (halfcheetah) leave `done` as they got it, which here is
        # the trial wrapper's flag of the previous step: start each step from "not done".
        return self._env.step(state.replace(done=jnp.zeros_like(state.done)), action)

    @property
    def observation_size(self) -> int:
        return int(self._env.observation_size)

    @property
    def action_size(self) -> int:
        return int(self._env.action_size)


class HalfCheetah(BraxSingleTask):
    """Brax's `halfcheetah`: reward forward velocity - 0.1|a|^2, obs 17, never terminates."""

    brax_name = "halfcheetah"
