"""TrialWrapper semantics: task per trial, episode and trial boundaries, flags, resets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import State

from hyperjax import envs
from hyperjax.envs.base import MetaEnv, TrialWrapper
from hyperjax.errors import ConfigError


class CountingEnv(MetaEnv):
    """A fake task family: obs = (steps taken, random start value); terminates when action > 0.

    The task is one uniform number (test split: shifted by 10), the start value is drawn at every
    reset, so the obs tells which episode and which reset a step belongs to.
    """

    episode_length = 3
    episodes_per_trial = 2

    @property
    def task_size(self) -> int:
        return 1

    @property
    def observation_size(self) -> int:
        return 2

    @property
    def action_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return jax.random.uniform(rng, (1,)) + (10.0 if split == "test" else 0.0)

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        t, start = jnp.zeros((), jnp.int32), jax.random.uniform(rng)
        return State(
            pipeline_state={"t": t, "start": start},
            obs=jnp.stack([t.astype(jnp.float32), start]),
            reward=jnp.zeros(()),
            done=jnp.zeros(()),
            metrics={"success": jnp.zeros(())},
            info={"task": task},
        )

    def step(self, state: State, action: jax.Array) -> State:
        t = state.pipeline_state["t"] + 1
        start = state.pipeline_state["start"]
        return state.replace(
            pipeline_state={"t": t, "start": start},
            obs=jnp.stack([t.astype(jnp.float32), start]),
            reward=jnp.ones(()),
            done=(action[0] > 0).astype(jnp.float32),
        )


class MutatingEnv(CountingEnv):
    """Writes into `state.info` in place, as some Brax envs do."""

    def step(self, state: State, action: jax.Array) -> State:
        state.info["episode_index"] = jnp.int32(7)
        state.info["step_in_episode"] = jnp.int32(7)
        return super().step(state, action)


def run(env: TrialWrapper, actions: jax.Array, seed: int = 0) -> tuple[State, State]:
    """Reset, then step through `actions` (time first) in one jitted scan.

    Returns the reset state and the per-step states stacked over time."""

    @jax.jit
    def go(key, actions):
        first = env.reset(key)

        def body(state, action):
            state = env.step(state, action)
            return state, state

        return first, jax.lax.scan(body, first, actions)[1]

    return go(jax.random.key(seed), actions)


def np_(x) -> np.ndarray:
    return np.asarray(x)


def fake_actions(pattern: list[int]) -> jax.Array:
    return jnp.asarray(pattern, jnp.float32)[:, None]


def test_boundaries_without_termination():
    env = TrialWrapper(CountingEnv())  # 3 steps x 2 episodes
    first, states = run(env, fake_actions([0] * 18))
    n = np.arange(1, 19)  # steps taken after each step
    info = states.info
    assert int(first.info["episode_index"]) == int(first.info["step_in_episode"]) == 0
    np.testing.assert_array_equal(info["episode_end"], n % 3 == 0)
    np.testing.assert_array_equal(info["truncated"], n % 3 == 0)
    np.testing.assert_array_equal(info["terminated"], False)
    np.testing.assert_array_equal(info["trial_end"], n % 6 == 0)
    np.testing.assert_array_equal(info["episode_index"], (n // 3) % 2)
    np.testing.assert_array_equal(info["step_in_episode"], n % 3)
    assert states.done.dtype == jnp.float32
    np.testing.assert_array_equal(states.done, np_(info["trial_end"]).astype(np.float32))
    assert float(first.done) == 0.0


def test_terminated_is_not_truncated():
    env = TrialWrapper(CountingEnv())
    # idx 1: early termination; idx 4: time limit; idx 7: termination on the time-limit step;
    # idx 8: termination one step into the trial's last episode.
    _, states = run(env, fake_actions([0, 1, 0, 0, 0, 0, 0, 1, 1]))
    info = {k: np_(v) for k, v in states.info.items() if k not in ("rng", "task")}
    np.testing.assert_array_equal(np.flatnonzero(info["terminated"]), [1, 7, 8])
    np.testing.assert_array_equal(np.flatnonzero(info["truncated"]), [4])
    np.testing.assert_array_equal(np.flatnonzero(info["episode_end"]), [1, 4, 7, 8])
    np.testing.assert_array_equal(np.flatnonzero(info["trial_end"]), [4, 8])
    np.testing.assert_array_equal(np.flatnonzero(states.done), [4, 8])
    np.testing.assert_array_equal(info["episode_index"], [0, 1, 1, 1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(info["step_in_episode"], [1, 0, 1, 2, 0, 1, 2, 0, 0])
    # The step count of the ended episode survives in final_obs, not in obs.
    np.testing.assert_array_equal(info["final_obs"][[1, 4, 7, 8], 0], [2, 3, 3, 1])
    np.testing.assert_array_equal(np_(states.obs)[[1, 4, 7, 8], 0], 0)


def test_episode_index_counts_to_k():
    env = TrialWrapper(CountingEnv(), episode_length=2, episodes_per_trial=4)
    _, states = run(env, fake_actions([0] * 16))
    # Index of the episode each returned obs belongs to: 0,1,2,3 then a new trial.
    np.testing.assert_array_equal(states.info["episode_index"], [0, 1, 1, 2, 2, 3, 3, 0] * 2)
    np.testing.assert_array_equal(np.flatnonzero(states.done), [7, 15])


def test_episode_flag_only_with_several_episodes():
    single = TrialWrapper(CountingEnv(), episodes_per_trial=1)
    first, states = run(single, fake_actions([0] * 6))
    assert single.observation_size == 2
    assert first.obs.shape == (2,) and states.obs.shape == (6, 2)
    assert states.info["final_obs"].shape == (6, 2)
    # With k = 1 every episode end is a trial end.
    np.testing.assert_array_equal(states.info["trial_end"], states.info["episode_end"])

    multi = TrialWrapper(CountingEnv(), episode_length=2, episodes_per_trial=3)
    first, states = run(multi, fake_actions([0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]))
    assert multi.observation_size == 3 and states.obs.shape == (14, 3)
    assert float(first.obs[-1]) == 0.0
    flag = np_(states.obs)[:, -1]
    info = states.info
    # 1 exactly on the first obs of episodes 2..k of a trial; 0 at every trial start.
    new_episode_in_trial = np_(info["episode_end"]) & ~np_(info["trial_end"])
    np.testing.assert_array_equal(flag, new_episode_in_trial.astype(np.float32))
    np.testing.assert_array_equal(
        flag == 1, (np_(info["step_in_episode"]) == 0) & (np_(info["episode_index"]) > 0)
    )
    np.testing.assert_array_equal(np.flatnonzero(flag), [1, 2, 6, 8, 12])
    np.testing.assert_array_equal(np.flatnonzero(info["trial_end"]), [4, 10])
    np.testing.assert_array_equal(np_(info["final_obs"])[:, -1], 0.0)


def test_final_obs_is_the_pre_reset_obs():
    env = TrialWrapper(CountingEnv())
    first, states = run(env, fake_actions([0] * 12))
    obs, final = np_(states.obs), np_(states.info["final_obs"])
    ended = np_(states.info["episode_end"])
    # Off the boundaries final_obs is the obs; on them it is the last obs of the ended episode.
    np.testing.assert_array_equal(final[~ended], obs[~ended])
    previous = np.concatenate([np_(first.obs)[None], obs[:-1]])
    np.testing.assert_array_equal(final[ended, 0], 3.0)
    np.testing.assert_array_equal(final[ended, 1], previous[ended, 1])  # same start value
    assert not np.any(obs[ended, 1] == final[ended, 1])  # the new episode has a new start
    np.testing.assert_array_equal(obs[ended, 0], 0.0)


def test_fresh_random_start_for_every_episode():
    env = TrialWrapper(CountingEnv(), episode_length=2, episodes_per_trial=4)
    first, states = run(env, fake_actions([0] * 24))
    ended = np_(states.info["episode_end"])
    starts = np.concatenate([np_(first.obs)[None, 1], np_(states.obs)[ended, 1]])
    assert len(starts) == 13
    assert len(set(starts.tolist())) == 13  # every reset draws a new start, none is replayed
    # Within an episode the start value is carried, so it changes only at the boundaries.
    values = np.concatenate([np_(first.obs)[None, 1], np_(states.obs)[:, 1]])
    np.testing.assert_array_equal(np.flatnonzero(np.diff(values) != 0), np.flatnonzero(ended))


def test_point_robot_episodes_start_apart():
    env = envs.make("point-robot", episode_length=5, episodes_per_trial=3)
    actions = jax.random.uniform(jax.random.key(3), (30, 2), minval=-0.1, maxval=0.1)
    first, states = run(env, actions)
    ended = np_(states.info["episode_end"])
    starts = np.concatenate([np_(first.obs)[None, :2], np_(states.obs)[ended, :2]])
    assert starts.shape == (7, 2)
    assert len({tuple(s) for s in starts.tolist()}) == 7
    assert np.abs(starts).max() <= env.unwrapped.start_noise


@pytest.mark.parametrize("name", ["point-robot", "grid-world"])
def test_task_constant_within_trial_and_resampled_across(name: str):
    env = envs.make(name, episode_length=4, episodes_per_trial=3)  # trials of 12 steps
    num_envs, num_trials = 4, 6
    keys = jax.random.split(jax.random.key(0), num_envs)
    if env.discrete:
        actions = jax.random.randint(keys[0], (12 * num_trials, num_envs), 0, 5)
    else:
        actions = jax.random.uniform(keys[0], (12 * num_trials, num_envs, 2), minval=-1, maxval=1)

    @jax.jit
    def go(keys, actions):
        first = jax.vmap(env.reset)(keys)
        body = lambda s, a: (jax.vmap(env.step)(s, a),) * 2
        return first, jax.lax.scan(body, first, actions)[1]

    first, states = go(keys, actions)
    tasks = np.concatenate([np_(first.info["task"])[None], np_(states.info["task"])])
    assert tasks.shape == (12 * num_trials + 1, num_envs, 2)
    trial_end = np_(states.info["trial_end"])
    np.testing.assert_array_equal(np.flatnonzero(trial_end[:, 0]), np.arange(11, 72, 12))
    per_trial = tasks[:-1].reshape(num_trials, 12, num_envs, 2)
    # Constant over each trial's 12 steps (the obs of step 12 already belongs to the next trial).
    np.testing.assert_array_equal(per_trial, np.broadcast_to(per_trial[:, :1], per_trial.shape))
    # The task changes only where a trial ends.
    changed = np.any(tasks[1:] != tasks[:-1], axis=-1)
    assert not np.any(changed & ~trial_end)
    if name == "point-robot":  # continuous goals: a resampled task is a new task
        np.testing.assert_array_equal(changed, trial_end)
        assert len({tuple(t) for t in per_trial[:, 0].reshape(-1, 2).tolist()}) == num_trials * 4
    else:  # 19 train goals: over 24 trials the draws cannot all repeat one goal
        assert len({tuple(t) for t in per_trial[:, 0].reshape(-1, 2).tolist()}) > 1


def test_vmapped_envs_keep_their_own_boundaries():
    env = TrialWrapper(CountingEnv())
    # Env 0 never terminates, env 1 terminates at every step.
    actions = jnp.stack([jnp.zeros((12, 1)), jnp.ones((12, 1))], axis=1)

    @jax.jit
    def go(keys, actions):
        first = jax.vmap(env.reset)(keys)
        body = lambda s, a: (jax.vmap(env.step)(s, a),) * 2
        return jax.lax.scan(body, first, actions)[1]

    states = go(jax.random.split(jax.random.key(0), 2), actions)
    trial_end = np_(states.info["trial_end"])
    np.testing.assert_array_equal(np.flatnonzero(trial_end[:, 0]), [5, 11])
    np.testing.assert_array_equal(np.flatnonzero(trial_end[:, 1]), [1, 3, 5, 7, 9, 11])
    np.testing.assert_array_equal(states.info["terminated"][:, 1], True)
    np.testing.assert_array_equal(states.info["truncated"][:, 1], False)


def test_inner_env_writing_info_in_place_does_not_break_counters():
    _, states = run(TrialWrapper(MutatingEnv()), fake_actions([0] * 6))
    np.testing.assert_array_equal(states.info["step_in_episode"], [1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(states.info["episode_index"], [0, 0, 1, 1, 1, 0])


def test_split_reaches_task_sampling():
    first, states = run(TrialWrapper(CountingEnv(), split="test"), fake_actions([0] * 12))
    assert float(first.info["task"][0]) >= 10.0
    assert np_(states.info["task"]).min() >= 10.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "val"}, "split"),
        ({"episode_length": 0}, "episode_length"),
        ({"episodes_per_trial": -1}, "episodes_per_trial"),
    ],
)
def test_bad_wrapper_arguments(kwargs: dict, field: str):
    with pytest.raises(ConfigError, match=field):
        TrialWrapper(CountingEnv(), **kwargs)
