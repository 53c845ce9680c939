"""reacher-goal and pusher-goal: shapes under vmap and jit, the success metric, held-out goals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.envs import make, make_meta_env
from hyperjax.envs.brax_task import in_test_bins
from hyperjax.errors import ConfigError

SIZES = {"reacher-goal": (8, 2, 2), "pusher-goal": (20, 7, 4)}  # obs, action, task
N_ENVS, N_STEPS = 4, 50


@pytest.mark.parametrize(
    "name",  # pusher's rollout takes 40 s to compile cold (its success test runs it in make test)
    ["reacher-goal", pytest.param("pusher-goal", marks=pytest.mark.slow)],
)
def test_vmapped_rollout_shapes_and_metrics(name):
    obs_size, act_size, task_size = SIZES[name]
    env = make(name)
    assert (env.observation_size, env.action_size, env.env.task_size) == SIZES[name]

    def run(key):
        start = jax.vmap(env.reset)(jax.random.split(key, N_ENVS))

        def body(state, k):
            action = jax.random.uniform(k, (N_ENVS, act_size), minval=-1.0, maxval=1.0)
            state = jax.vmap(env.step)(state, action)
            return state, (state.obs, state.reward, state.metrics)

        end, out = jax.lax.scan(body, start, jax.random.split(key, N_STEPS))
        return start, end, out

    start, end, (obs, reward, metrics) = jax.jit(run)(jax.random.PRNGKey(0))
    assert jax.tree.structure(start) == jax.tree.structure(end)
    assert "success" in start.metrics
    assert obs.shape == (N_STEPS, N_ENVS, obs_size)
    assert np.isfinite(obs).all() and np.isfinite(reward).all()
    assert np.isin(metrics["success"], [0.0, 1.0]).all()
    assert not np.asarray(end.info["terminated"]).any()  # goal tasks never terminate early


def _reacher_angles(goal: jnp.ndarray) -> jnp.ndarray:
    """Joint angles that put the fingertip (links 0.1 m and 0.11 m) on `goal`."""
    l1, l2 = 0.1, 0.11
    r2 = jnp.sum(goal**2)
    elbow = jnp.arccos((r2 - l1**2 - l2**2) / (2 * l1 * l2))
    shoulder = jnp.arctan2(goal[1], goal[0]) - jnp.arctan2(
        l2 * jnp.sin(elbow), l1 + l2 * jnp.cos(elbow)
    )
    return jnp.array([shoulder, elbow])


def test_reacher_success_at_goal_only():
    env = make_meta_env("reacher-goal")
    goal = jnp.array([0.1, 0.12])

    def step_from(arm_goal):
        # Arm at rest with its fingertip on `arm_goal`; the task's goal is `goal`.
        state = env.reset_to_task(jax.random.PRNGKey(0), goal)
        q = state.pipeline_state.q.at[:2].set(_reacher_angles(arm_goal))
        pipeline_state = env.brax_env.pipeline_init(q, jnp.zeros_like(state.pipeline_state.qd))
        state = state.replace(pipeline_state=pipeline_state)
        return env.step(state, jnp.zeros(env.action_size))

    state = jax.jit(jax.vmap(step_from))(jnp.stack([goal, -goal]))
    np.testing.assert_array_equal(state.metrics["success"], [1.0, 0.0])
    assert state.metrics["distance"][0] < 0.005 and state.metrics["distance"][1] > 0.25
    assert state.reward[0] > state.reward[1]


def test_pusher_success_at_goal_only():
    env = make_meta_env("pusher-goal")
    far = env.sample_task(jax.random.PRNGKey(0))
    at_goal = far.at[:2].set(far[2:])  # object starts on the goal

    def step_task(task):
        state = env.reset_to_task(jax.random.PRNGKey(1), task)
        return env.step(state, jnp.zeros(env.action_size))

    state = jax.jit(jax.vmap(step_task))(jnp.stack([at_goal, far]))
    np.testing.assert_array_equal(state.metrics["success"], [1.0, 0.0])
    assert state.metrics["distance"][0] < 1e-3 and state.metrics["distance"][1] >= 0.15 - 1e-3


def test_reacher_test_goals_disjoint_from_train():
    env = make_meta_env("reacher-goal")
    keys = jax.random.split(jax.random.PRNGKey(0), 512)
    for split, held_out in (("train", False), ("test", True)):
        goal = jax.vmap(lambda k, s=split: env.sample_task(k, s))(keys)
        radius = np.linalg.norm(goal, axis=-1)
        assert ((radius >= 0.05 - 1e-6) & (radius <= 0.2 + 1e-6)).all()
        angle = np.mod(np.arctan2(goal[:, 1], goal[:, 0]), 2 * np.pi) / (2 * np.pi)
        assert (np.asarray(in_test_bins(angle)) == held_out).all()


def test_pusher_test_goals_disjoint_from_train():
    env = make_meta_env("pusher-goal")
    keys = jax.random.split(jax.random.PRNGKey(0), 512)
    for split, held_out in (("train", False), ("test", True)):
        task = np.asarray(jax.vmap(lambda k, s=split: env.sample_task(k, s))(keys))
        obj, goal = task[:, :2], task[:, 2:]
        offset = goal - np.asarray(env.goal_center)
        assert (np.abs(offset) <= 0.1 + 1e-6).all()
        assert (np.asarray(in_test_bins((offset[:, 0] + 0.1) / 0.2)) == held_out).all()
        assert (np.linalg.norm(obj - goal, axis=-1) >= 0.15 - 1e-6).all()


@pytest.mark.parametrize("name", SIZES)
def test_bad_options_raise_config_error(name):
    with pytest.raises(ConfigError, match=r"env\.backend.*generalized"):
        make(name, backend="bullet")
    with pytest.raises(ConfigError, match=r"env\.success_radius"):
        make(name, success_radius=-0.1)
