"""The single-task `halfcheetah`: exactly Brax's env, so PPO parity compares learners only."""

from __future__ import annotations

import brax.envs
import jax
import jax.numpy as jnp
import numpy as np

from hyperjax import envs


def test_halfcheetah_is_brax_halfcheetah_with_a_constant_task():
    meta = envs.make_meta_env("halfcheetah")
    brax_env = brax.envs.get_environment("halfcheetah", backend="positional")
    assert (meta.observation_size, meta.action_size, meta.task_size) == (17, 6, 1)
    assert envs.make("halfcheetah").episode_length == 1000  # Brax's training default
    for split in ("train", "test"):
        np.testing.assert_array_equal(meta.sample_task(jax.random.PRNGKey(3), split), [0.0])

    actions = jnp.sin(jnp.arange(5)[:, None] + jnp.arange(6)[None, :])

    def both(key):
        ours = meta.reset_to_task(key, meta.sample_task(key))
        theirs = brax_env.reset(key)

        def body(carry, action):
            ours, theirs = carry
            ours, theirs = meta.step(ours, action), brax_env.step(theirs, action)
            return (ours, theirs), (ours.obs, theirs.obs, ours.reward, theirs.reward)

        return jax.lax.scan(body, (ours, theirs), actions)[1]

    obs, brax_obs, reward, brax_reward = jax.jit(both)(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(obs, brax_obs)
    np.testing.assert_array_equal(reward, brax_reward)
    assert np.abs(np.asarray(reward)).max() > 0


def test_halfcheetah_episodes_end_only_at_the_time_limit():
    """Brax's halfcheetah never sets `done`; the wrapper's flag of the previous step must not
    leak into the next one (it did: every step after the first time limit ended an episode)."""
    env = envs.make("halfcheetah", episode_length=50)
    state = env.reset(jax.random.PRNGKey(0))

    def body(state, key):
        state = env.step(state, jax.random.normal(key, (6,)))
        return state, state.info["episode_end"]

    ends = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.PRNGKey(1), 120)))
    _, episode_end = ends(state)
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(episode_end)), [49, 99])
