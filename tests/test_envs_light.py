"""The light navigation tasks: shapes under jit and vmap, rewards, splits, registry errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax import envs
from hyperjax.envs.navigation import GridWorld, PointRobot
from hyperjax.errors import ConfigError

LIGHT = ("grid-world", "point-robot")
NUM_ENVS = 4
NUM_STEPS = 50


def random_actions(env, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Random actions of the env's kind; continuous ones overshoot so clipping is exercised."""
    if env.discrete:
        return jax.random.randint(key, shape, 0, env.action_size, dtype=jnp.int32)
    return jax.random.uniform(key, (*shape, env.action_size), minval=-1.0, maxval=1.0)


@pytest.mark.parametrize("name", LIGHT)
def test_vmapped_jitted_rollout(name: str):
    env = envs.make(name)
    reset = jax.jit(jax.vmap(env.reset))
    state = reset(jax.random.split(jax.random.key(0), NUM_ENVS))
    # k > 1 for both reference configs, so the episode flag is part of obs.
    assert env.observation_size == env.unwrapped.observation_size + 1 == 3
    assert state.obs.shape == (NUM_ENVS, env.observation_size)
    assert state.info["task"].shape == (NUM_ENVS, env.task_size)
    assert state.done.shape == (NUM_ENVS,)

    @jax.jit
    def rollout(state, key):
        actions = random_actions(env, key, (NUM_STEPS, NUM_ENVS))

        def one_step(state, action):
            state = jax.vmap(env.step)(state, action)
            return state, (state.obs, state.reward, state.metrics["success"])

        return jax.lax.scan(one_step, state, actions)

    state, (obs, reward, success) = rollout(state, jax.random.key(1))
    assert obs.shape == (NUM_STEPS, NUM_ENVS, env.observation_size)
    assert obs.dtype == jnp.float32
    assert reward.shape == success.shape == (NUM_STEPS, NUM_ENVS)
    for x in (obs, reward, success, state.info["final_obs"]):
        assert np.isfinite(np.asarray(x)).all()
    assert set(np.unique(np.asarray(success))) <= {0.0, 1.0}


def test_action_shapes():
    grid, point = envs.make("grid-world"), envs.make("point-robot")
    assert grid.discrete and grid.action_size == 5
    assert not point.discrete and point.action_size == 2
    assert (grid.episode_length, grid.episodes_per_trial) == (15, 4)
    assert (point.episode_length, point.episodes_per_trial) == (100, 5)
    assert grid.task_size == point.task_size == 2


# Actions of the grid world.
STAY, UP, RIGHT, DOWN, LEFT = range(5)


def grid_path(env: GridWorld, goal: tuple[int, int], actions: list[int]):
    """Positions and rewards of a scripted action sequence from the start cell."""
    state = env.reset_to_task(jax.random.key(0), jnp.array(goal, jnp.float32))
    assert state.obs.tolist() == [0.0, 0.0]
    step = jax.jit(env.step)
    positions, rewards, successes = [], [], []
    for a in actions:
        state = step(state, jnp.int32(a))
        positions.append(tuple(int(v) for v in state.obs))
        rewards.append(float(state.reward))
        successes.append(float(state.metrics["success"]))
    return positions, rewards, successes


def test_grid_world_optimal_path_rewards():
    env = GridWorld()
    positions, rewards, successes = grid_path(env, (2, 1), [RIGHT, UP, RIGHT, STAY, STAY, LEFT])
    assert positions == [(1, 0), (1, 1), (2, 1), (2, 1), (2, 1), (1, 1)]
    # +1 on arrival and on every step spent on the goal (VariBAD convention), -0.1 elsewhere.
    np.testing.assert_allclose(rewards, [-0.1, -0.1, 1.0, 1.0, 1.0, -0.1], rtol=1e-6)
    assert successes == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]


def test_grid_world_walls_clip():
    env = GridWorld()
    positions, rewards, _ = grid_path(env, (4, 4), [LEFT, DOWN] + [UP] * 6 + [RIGHT] * 6)
    assert positions[:2] == [(0, 0), (0, 0)]  # bottom-left corner: left and down are walls
    assert positions[2:8] == [(0, 1), (0, 2), (0, 3), (0, 4), (0, 4), (0, 4)]
    assert positions[8:] == [(1, 4), (2, 4), (3, 4), (4, 4), (4, 4), (4, 4)]
    np.testing.assert_allclose(rewards, [-0.1] * 11 + [1.0] * 3, rtol=1e-6)


def test_grid_world_size_override():
    env = envs.make("grid-world", size=3)
    positions, _, _ = grid_path(env.unwrapped, (2, 2), [UP] * 4)
    assert positions[-1] == (0, 2)


def test_point_robot_reward_only_within_radius():
    env = PointRobot(start_noise=0.0)
    goal = jnp.array([0.0, 1.0])
    state = env.reset_to_task(jax.random.key(0), goal)
    step = jax.jit(env.step)
    distances, rewards = [], []
    for _ in range(13):
        state = step(state, jnp.array([0.0, 5.0]))  # clipped to a 0.1 move
        distances.append(float(jnp.linalg.norm(state.obs - goal)))
        rewards.append(float(state.reward))
        assert float(state.metrics["success"]) == rewards[-1]
    np.testing.assert_allclose(state.obs, [0.0, 1.3], atol=1e-5)
    # Positions 0.1 .. 1.3 along the axis; 0.8 and 1.2 lie on the radius, 0.9 .. 1.1 inside.
    assert rewards[:7] == [0.0] * 7 and rewards[8:11] == [1.0] * 3 and rewards[12] == 0.0
    for d, r in zip(distances, rewards, strict=True):
        if abs(d - 0.2) > 1e-4:  # leave the boundary to float rounding
            assert r == float(d < 0.2)


def test_point_robot_random_start_and_clipped_actions():
    env = PointRobot()
    goal = env.sample_task(jax.random.key(0))
    starts = jax.vmap(lambda k: env.reset_to_task(k, goal).obs)(
        jax.random.split(jax.random.key(1), 8)
    )
    assert np.abs(np.asarray(starts)).max() <= env.start_noise
    assert len({tuple(s) for s in np.asarray(starts).tolist()}) == 8
    state = env.reset_to_task(jax.random.key(2), goal)
    moved = env.step(state, jnp.array([-3.0, 0.04]))
    np.testing.assert_allclose(moved.obs - state.obs, [-0.1, 0.04], atol=1e-6)


# The reference GridNavi goal set on 5x5 (jacooba/hyper environments/navigation/gridworld.py:68-76):
# every cell but the 3x3 block around the start (0, 0).
REFERENCE_GOALS = {(x, y) for x in range(5) for y in range(5)} - {(0, 0), (0, 1), (1, 0), (1, 1)}
ANTI_DIAGONAL = {(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)}


def _sampled_goals(env: GridWorld, split: str, n: int = 1000) -> set[tuple[int, int]]:
    keys = jax.random.split(jax.random.key(0), n)
    goals = np.asarray(jax.jit(jax.vmap(lambda k: env.sample_task(k, split)))(keys))
    return {tuple(int(v) for v in g) for g in goals}


def test_grid_world_goals_are_the_reference_21_in_both_splits():
    """Default protocol as the reference: no held-out goals, both splits draw all 21 goals."""
    env = GridWorld()
    assert len(REFERENCE_GOALS) == 21
    for split in ("train", "test"):
        assert {tuple(int(v) for v in g) for g in env.goals(split)} == REFERENCE_GOALS
        assert _sampled_goals(env, split) == REFERENCE_GOALS


def test_grid_world_test_goals_hold_cells_out():
    env = GridWorld(test_goals=tuple(ANTI_DIAGONAL))
    train, test = _sampled_goals(env, "train"), _sampled_goals(env, "test")
    assert test == ANTI_DIAGONAL and not train & test
    assert train | test == REFERENCE_GOALS


def test_grid_world_cell_index_of_observations():
    """The cell index is the reference's task_to_id (size * x + y), from obs with the flag."""
    env = envs.make("grid-world")
    grid = env.unwrapped
    assert grid.num_cells == 25
    state = env.reset(jax.random.key(0))
    assert state.obs.tolist() == [0.0, 0.0, 0.0]  # (x, y, episode flag), unnormalised
    state = env.step(state, jnp.int32(RIGHT))
    state = env.step(state, jnp.int32(UP))
    state = env.step(state, jnp.int32(UP))
    assert state.obs[:2].tolist() == [1.0, 2.0]
    assert int(grid.cell_index(state.obs)) == 7
    xy = jnp.array([[x, y] for x in range(5) for y in range(5)], jnp.float32)
    np.testing.assert_array_equal(grid.cell_index(xy), np.arange(25))


def test_point_robot_splits_disjoint():
    env = PointRobot()
    keys = jax.random.split(jax.random.key(0), 2000)
    sectors = {}
    for split in ("train", "test"):
        goals = jax.vmap(lambda k, s=split: env.sample_task(k, s))(keys)
        np.testing.assert_allclose(jnp.linalg.norm(goals, axis=-1), 1.0, rtol=1e-5)
        angles = jnp.arctan2(goals[:, 1], goals[:, 0])
        assert float(angles.min()) >= -1e-6 and float(angles.max()) <= np.pi + 1e-6
        sectors[split] = set(np.asarray(env.sector_of(angles)).tolist())
        assert sectors[split] == set(env.sectors(split).tolist())
    assert not sectors["train"] & sectors["test"]
    assert sectors["test"] == {2, 5}
    assert sectors["train"] | sectors["test"] == set(range(8))


def test_trial_wrapper_uses_test_split():
    env = envs.make("grid-world", split="test")
    tasks = jax.vmap(lambda k: env.reset(k).info["task"])(jax.random.split(jax.random.key(0), 64))
    assert {tuple(t) for t in np.asarray(tasks).astype(int).tolist()} <= REFERENCE_GOALS
    held_out = envs.make("grid-world", split="test", test_goals=((2, 2), (4, 4)))
    tasks = jax.vmap(lambda k: held_out.reset(k).info["task"])(
        jax.random.split(jax.random.key(0), 64)
    )
    assert {tuple(t) for t in np.asarray(tasks).astype(int).tolist()} == {(2, 2), (4, 4)}


@pytest.mark.parametrize("cls", [GridWorld, PointRobot])
def test_unknown_split_is_config_error(cls):
    with pytest.raises(ConfigError, match=r"split.*'val'.*train, test"):
        cls().sample_task(jax.random.key(0), "val")


def test_registry_unknown_env_lists_names():
    with pytest.raises(ConfigError) as err:
        envs.make("grid-wrld")
    message = str(err.value)
    assert message.startswith("env:") and "'grid-wrld'" in message
    for name in LIGHT:
        assert name in message


def test_registry_unknown_override_lists_options():
    with pytest.raises(ConfigError) as err:
        envs.make("grid-world", goal_radius=0.3)
    message = str(err.value)
    assert "env.goal_radius" in message
    for option in ("size", "test_goals", "episode_length", "episodes_per_trial", "split"):
        assert option in message
    with pytest.raises(ConfigError, match=r"env.split.*'val'"):
        envs.make("point-robot", split="val")


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("grid-world", {"size": 2}, "env.size"),
        ("grid-world", {"test_goals": ((0, 0),)}, "env.test_goals"),
        ("grid-world", {"test_goals": ((1, 1),)}, "env.test_goals"),  # next to the start
        ("grid-world", {"test_goals": ((5, 1),)}, "env.test_goals"),
        ("point-robot", {"goal_radius": 0.0}, "env.goal_radius"),
        ("point-robot", {"max_action": -1.0}, "env.max_action"),
        ("point-robot", {"start_noise": -0.1}, "env.start_noise"),
        ("point-robot", {"test_sectors": (8,)}, "env.test_sectors"),
        ("point-robot", {"test_sectors": ()}, "env.test_sectors"),
        ("point-robot", {"episode_length": 0}, "episode_length"),
    ],
)
def test_bad_override_values_name_the_field(name: str, overrides: dict, field: str):
    with pytest.raises(ConfigError, match=field):
        envs.make(name, **overrides)
