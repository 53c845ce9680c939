"""The meta-RL environment interface and the trial wrapper.

A `MetaEnv` is a Brax `Env` whose reset takes a task: a flat float vector drawn by `sample_task`
and kept in `state.info["task"]`, so vmapping over envs vmaps over tasks. `TrialWrapper` is the one
place that knows trial semantics: k episodes of one task, a fresh random reset for each episode,
a new task only at trial start, and the end-of-step flags the learner needs kept apart.
"""

from __future__ import annotations

import abc

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State, Wrapper

from hyperjax.errors import check_choice, check_positive

SPLITS = ("train", "test")


class MetaEnv(Env):
    """A distribution of tasks over one environment.

    Subclasses set `episode_length`, `episodes_per_trial` (defaults of the task family) and
    implement `task_size`, `sample_task`, `reset_to_task`, `step`, `observation_size`,
    `action_size`. `step` reports only true terminations in `state.done` (time limits are the
    trial wrapper's job) and must not read `state.obs` (the wrapper may append a flag to it).
    For discrete envs (`discrete = True`) the action is an int32 scalar and `action_size` is the
    number of actions. `reset_to_task` and `step` return states with the same pytree structure.
    `state.metrics` may hold per-step `success` (1.0 when the task is solved at that step).
    """

    episode_length: int = 200
    episodes_per_trial: int = 1
    discrete: bool = False

    @property
    @abc.abstractmethod
    def task_size(self) -> int:
        """Length of the task vector (the oracle policy's task input)."""

    @abc.abstractmethod
    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        """Draw a task vector of shape (task_size,) from the train or held-out test split."""

    @abc.abstractmethod
    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        """Start an episode of `task` from a random initial state; sets info['task']."""

    def reset(self, rng: jax.Array) -> State:
        task_key, reset_key = jax.random.split(rng)
        return self.reset_to_task(reset_key, self.sample_task(task_key))

    @property
    def backend(self) -> str:
        return "jax"


class TrialWrapper(Wrapper):
    """Runs trials of `episodes_per_trial` episodes of `episode_length` steps on one task.

    Per step, `state.info` holds (all scalars per env):
      terminated    the episode truly ended (no bootstrap from the final state)
      truncated     the episode hit its time limit (not terminated)
      episode_end   terminated or truncated; the returned obs is already the next episode's first
      trial_end     the last episode of the trial ended; the returned obs belongs to a new task
      final_obs     the observation the step produced before any reset (for bootstrapping)
      episode_index index within the trial of the episode the returned obs belongs to
      step_in_episode steps taken so far in that episode
      task          the current task vector
    `state.done` is `trial_end` as float32 (Brax convention: the learner's episode is the trial).
    With more than one episode per trial, a 0/1 "episode just ended" flag is appended to obs: 1
    exactly on the first obs of episodes 2..k of a trial. The first obs of a trial has flag 0,
    whether it comes from `reset` or from the automatic reset at a trial end, so that a policy
    sees the same input at every trial start (memory is reset there anyway).
    """

    def __init__(
        self,
        env: MetaEnv,
        episode_length: int | None = None,
        episodes_per_trial: int | None = None,
        split: str = "train",
    ):
        super().__init__(env)
        # `is None`, not `or`: an explicit 0 must reach the check below, not become the default.
        self.episode_length = int(env.episode_length if episode_length is None else episode_length)
        self.episodes_per_trial = int(
            env.episodes_per_trial if episodes_per_trial is None else episodes_per_trial
        )
        check_positive("episode_length", self.episode_length)
        check_positive("episodes_per_trial", self.episodes_per_trial)
        check_choice("split", split, SPLITS)
        self.split = split

    @property
    def has_episode_flag(self) -> bool:
        return self.episodes_per_trial > 1

    @property
    def observation_size(self) -> int:
        return self.env.observation_size + int(self.has_episode_flag)

    @property
    def trial_length(self) -> int:
        """Steps in a trial when no episode terminates early."""
        return self.episode_length * self.episodes_per_trial

    # --- a batch of envs: what the trainer and evaluation call (`Mixture` splits its batch) ---

    def check_batch(self, field: str, size: int) -> None:
        """Any positive batch size fits one task distribution."""
        check_positive(field, size)

    def reset_batch(self, keys: jax.Array) -> State:
        """One trial start per key (leading axis: the batch)."""
        return jax.vmap(self.reset)(keys)

    def step_batch(self, state: State, action: jax.Array) -> State:
        return jax.vmap(self.step)(state, action)

    def _with_flag(self, obs: jax.Array, flag: jax.Array) -> jax.Array:
        if not self.has_episode_flag:
            return obs
        return jnp.concatenate([obs, flag.astype(obs.dtype)[None]], axis=-1)

    def _strip_flag(self, obs: jax.Array) -> jax.Array:
        return obs[..., :-1] if self.has_episode_flag else obs

    def reset(self, rng: jax.Array) -> State:
        rng, task_key, reset_key = jax.random.split(rng, 3)
        task = self.env.sample_task(task_key, self.split)
        state = self.env.reset_to_task(reset_key, task)
        false = jnp.zeros((), bool)
        obs = self._with_flag(state.obs, false)
        info = dict(state.info)
        info.update(
            rng=rng,
            task=task,
            step_in_episode=jnp.zeros((), jnp.int32),
            episode_index=jnp.zeros((), jnp.int32),
            terminated=false,
            truncated=false,
            episode_end=false,
            trial_end=false,
            final_obs=obs,
        )
        return state.replace(obs=obs, done=jnp.zeros(()), info=info)

    def step(self, state: State, action: jax.Array) -> State:
        info = state.info
        # A copy of info, so an inner env that updates `state.info` in place cannot change the
        # wrapper's view of its own keys.
        inner = state.replace(obs=self._strip_flag(state.obs), info=dict(info))
        stepped = self.env.step(inner, action)

        steps = info["step_in_episode"] + 1
        terminated = stepped.done > 0
        truncated = (steps >= self.episode_length) & ~terminated
        episode_end = terminated | truncated
        trial_end = episode_end & (info["episode_index"] == self.episodes_per_trial - 1)

        # A fresh random start for every episode; a new task only when the trial ends.
        rng, task_key, reset_key = jax.random.split(info["rng"], 3)
        task = jnp.where(trial_end, self.env.sample_task(task_key, self.split), info["task"])
        fresh = self.env.reset_to_task(reset_key, task)

        def pick(fresh_leaf, stepped_leaf):
            out = jnp.where(episode_end, fresh_leaf, stepped_leaf)
            # Keep the stepped dtype: a scan carry must not change type between steps.
            dtype = jnp.asarray(stepped_leaf).dtype
            return out if out.dtype == dtype else out.astype(dtype)

        pipeline_state = jax.tree.map(pick, fresh.pipeline_state, stepped.pipeline_state)
        inner_info = jax.tree.map(
            pick,
            {k: fresh.info[k] for k in fresh.info},
            {k: stepped.info[k] for k in fresh.info},
        )
        final_obs = self._with_flag(stepped.obs, jnp.zeros((), bool))
        obs = self._with_flag(pick(fresh.obs, stepped.obs), episode_end & ~trial_end)
        episode_index = jnp.where(
            trial_end, 0, info["episode_index"] + episode_end.astype(jnp.int32)
        )
        new_info = {**info, **inner_info}
        new_info.update(
            rng=rng,
            task=task,
            step_in_episode=jnp.where(episode_end, 0, steps).astype(jnp.int32),
            episode_index=episode_index.astype(jnp.int32),
            terminated=terminated,
            truncated=truncated,
            episode_end=episode_end,
            trial_end=trial_end,
            final_obs=final_obs,
        )
        return stepped.replace(
            pipeline_state=pipeline_state,
            obs=obs,
            done=trial_end.astype(jnp.float32),
            info=new_info,
        )
