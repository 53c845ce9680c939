"""Brax locomotion task distributions: shapes, finiteness, reward signs, trials, splits.

Each env is compiled once (reset + a 50-step scan of vmapped steps through the trial wrapper);
the compiled rollouts are cached per env for the whole module.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hyperjax.envs as envs
from hyperjax.envs.brax_task import N_BINS, in_test_bins
from hyperjax.errors import ConfigError

NAMES = ("cheetah-dir", "cheetah-vel", "ant-dir", "ant-goal", "humanoid-dir")
# ant-dir-2d shares ant-dir's physics and reward; it is checked without compiling a rollout.
ALL_NAMES = NAMES + ("ant-dir-2d",)
BATCH, STEPS = 4, 50
# cheetah-vel runs 5-step episodes so that 50 steps cover 10 trials (continuous tasks, so two
# trials almost surely differ); the others keep their documented horizon.
TRIAL_OVERRIDES = {"cheetah-vel": {"episode_length": 5}}
EXPECTED_SIZES = {  # (meta-env observation_size, action_size, task_size)
    "cheetah-dir": (20, 6, 1),  # reference obs: qpos[1:], qvel, torso xyz
    "cheetah-vel": (20, 6, 1),
    "ant-dir": (27, 8, 1),  # the task is the angle g in {-1, +1}
    "ant-dir-2d": (27, 8, 2),
    "ant-goal": (29, 8, 2),
    "humanoid-dir": (244, 17, 1),  # the task is the angle
}
# (horizon, episodes per trial): the reference's (jacooba/hyper config/mujoco/*; VariBAD's
# args_humanoid_dir_varibad.py for the humanoid).
EXPECTED_TRIALS = {name: (200, 1) for name in ALL_NAMES} | {"humanoid-dir": (200, 2)}


@functools.cache
def wrapped(name: str) -> envs.TrialWrapper:
    return envs.make(name, **TRIAL_OVERRIDES.get(name, {}))


@functools.cache
def rollout_fn(name: str):
    """jit(keys, tasks, use_task, push_vx, actions) -> (first state, per-step outputs).

    `use_task` (B,) replaces the sampled task by `tasks`; `push_vx` (B,) is added to the root's
    x velocity at the start, for scripted forward motion. Steps are vmapped over the batch.
    """
    env = wrapped(name)
    brax_env = env.env.brax_env

    def push(state, vx):
        ps = state.pipeline_state
        return state.replace(pipeline_state=brax_env.pipeline_init(ps.q, ps.qd.at[0].add(vx)))

    def run(keys, tasks, use_task, push_vx, actions):
        state = jax.vmap(env.reset)(keys)
        task = jnp.where(use_task[:, None], tasks, state.info["task"])
        state = state.replace(info={**state.info, "task": task})
        state = jax.vmap(push)(state, push_vx)

        def body(s, a):
            s = jax.vmap(env.step)(s, a)
            out = dict(
                obs=s.obs,
                reward=s.reward,
                task=s.info["task"],
                trial_end=s.info["trial_end"],
                terminated=s.info["terminated"],
                metrics=s.metrics,
            )
            return s, out

        _, outs = jax.lax.scan(body, state, jnp.swapaxes(actions, 0, 1))
        return state, outs

    return jax.jit(run)


@functools.cache
def random_rollout(name: str):
    env = wrapped(name)
    keys = jax.random.split(jax.random.PRNGKey(0), BATCH)
    tasks = jnp.zeros((BATCH, env.env.task_size))
    no = jnp.zeros((BATCH,), bool)
    actions = jax.random.uniform(
        jax.random.PRNGKey(1), (BATCH, STEPS, env.action_size), minval=-1, maxval=1
    )
    return rollout_fn(name)(keys, tasks, no, jnp.zeros(BATCH), actions)


# ant-goal and humanoid-dir take 30-40 s each to compile cold: `make test-slow`.
SLOW_BODIES = ("ant-goal", "humanoid-dir")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BODIES else n for n in NAMES]
)
def test_shapes_and_finite_rollout(name):
    env = wrapped(name)
    meta_obs_size, act_size, task_size = EXPECTED_SIZES[name]
    assert (env.env.observation_size, env.action_size, env.env.task_size) == EXPECTED_SIZES[name]
    assert (env.env.episode_length, env.env.episodes_per_trial) == EXPECTED_TRIALS[name]
    obs_size = meta_obs_size + int(env.env.episodes_per_trial > 1)  # + the episode flag
    assert env.observation_size == obs_size
    first, outs = random_rollout(name)
    assert first.obs.shape == (BATCH, obs_size)
    assert outs["obs"].shape == (STEPS, BATCH, obs_size)
    assert outs["task"].shape == (STEPS, BATCH, task_size)
    assert np.isfinite(np.asarray(outs["obs"])).all()
    assert np.isfinite(np.asarray(outs["reward"])).all()
    # A fresh random reset per env: different keys give different starts.
    assert not np.allclose(first.obs[0], first.obs[1])


@pytest.mark.parametrize("name", ALL_NAMES)
def test_reset_and_step_same_structure(name):
    meta = wrapped(name).env
    task = meta.sample_task(jax.random.PRNGKey(0))
    reset = jax.eval_shape(meta.reset_to_task, jax.random.PRNGKey(1), task)
    stepped = jax.eval_shape(meta.step, reset, jnp.zeros(meta.action_size))
    assert jax.tree.structure(reset) == jax.tree.structure(stepped)
    assert jax.tree.map(lambda x: (x.shape, x.dtype), reset) == jax.tree.map(
        lambda x: (x.shape, x.dtype), stepped
    )
    assert reset.info["task"].shape == (meta.task_size,)
    assert reset.obs.shape == (EXPECTED_SIZES[name][0],) == stepped.obs.shape


def test_cheetah_dir_reward_sign():
    """Same start (pushed forward) and zero actions: d=+1 is rewarded, d=-1 punished."""
    env = wrapped("cheetah-dir")
    key = jax.random.PRNGKey(3)
    keys = jnp.stack([key, key, key, key])
    tasks = jnp.array([[1.0], [-1.0], [1.0], [-1.0]])
    push = jnp.array([3.0, 3.0, 0.0, 0.0])
    actions = jnp.zeros((BATCH, STEPS, env.action_size))
    _, outs = rollout_fn("cheetah-dir")(keys, tasks, jnp.ones(BATCH, bool), push, actions)
    vx = np.asarray(outs["metrics"]["x_velocity"][0])
    reward = np.asarray(outs["reward"][0])
    assert vx[0] > 1.0 and vx[0] == pytest.approx(vx[1])  # same physics for both tasks
    assert reward[0] > 0 > reward[1]
    assert reward[0] == pytest.approx(-reward[1], rel=1e-5)  # zero action, no control cost
    # Pushing forward raises the forward task's return over the unpushed start.
    assert reward[0] > reward[2]


def test_cheetah_observation_has_torso_position():
    """The reference's half-cheetah obs ends with the torso position (x, y, z)."""
    env = wrapped("cheetah-dir")
    key = jax.random.PRNGKey(3)
    keys = jnp.stack([key] * BATCH)
    push = jnp.array([3.0, 0.0, 0.0, 0.0])
    actions = jnp.zeros((BATCH, STEPS, env.action_size))
    first, outs = rollout_fn("cheetah-dir")(
        keys, jnp.ones((BATCH, 1)), jnp.ones(BATCH, bool), push, actions
    )
    torso = np.asarray(first.pipeline_state.x.pos[:, 0])
    np.testing.assert_allclose(first.obs[:, 17:], torso, atol=1e-6)
    x = np.asarray(outs["obs"][:, :, 17])
    np.testing.assert_allclose(outs["obs"][:, :, 18], 0.0, atol=1e-6)  # planar: y stays 0
    # The x position moves by v_x * dt per step.
    dx = np.diff(x, axis=0)
    np.testing.assert_allclose(
        dx, np.asarray(outs["metrics"]["x_velocity"][1:]) * env.env.dt, rtol=1e-3, atol=1e-4
    )
    assert x[-1, 0] - x[0, 0] > 0.5 and x[-1, 0] > x[-1, 1]


def test_ant_dir_tasks_are_the_authors_two_angles():
    """AntDir-v0 draws g in {-1, +1} and rewards velocity along (cos g, sin g), g in radians."""
    meta = wrapped("ant-dir").env
    keys = jax.random.split(jax.random.PRNGKey(6), 256)
    for split in ("train", "test"):
        g = np.asarray(jax.vmap(lambda k, s=split: meta.sample_task(k, s))(keys))
        assert g.shape == (256, 1) and set(np.unique(g).tolist()) == {-1.0, 1.0}
    np.testing.assert_allclose(meta.direction(jnp.array([1.0])), [np.cos(1.0), np.sin(1.0)])

    env = wrapped("ant-dir")
    key = jax.random.PRNGKey(4)
    keys = jnp.stack([key] * BATCH)
    tasks = jnp.array([[1.0], [-1.0], [1.0], [-1.0]])
    actions = jnp.zeros((BATCH, STEPS, env.action_size))
    _, outs = rollout_fn("ant-dir")(
        keys, tasks, jnp.ones(BATCH, bool), jnp.array([2.0, 2.0, 0.0, 0.0]), actions
    )
    m = {k: np.asarray(v[0]) for k, v in outs["metrics"].items()}
    g = np.asarray(tasks[:, 0])
    np.testing.assert_allclose(
        m["reward_task"], m["x_velocity"] * np.cos(g) + m["y_velocity"] * np.sin(g), rtol=1e-5
    )
    # Pushed along +x: both tasks see cos(1) of it; their y parts have opposite signs.
    assert m["x_velocity"][0] > 1.0 and m["reward_task"][0] > 0.5 and m["reward_task"][1] > 0.5
    # Reward = task - 0.5|a|^2 - contact cost + 1; zero actions, no contact forces on positional.
    np.testing.assert_allclose(m["reward_contact"], 0.0)
    np.testing.assert_allclose(np.asarray(outs["reward"][0]), m["reward_task"] + 1.0, rtol=1e-5)


def test_ant_dir_contact_cost_on_mjx():
    """mjx: 0.5e-3 * sum(clip(cfrc_ext, -1, 1)^2), nonzero once the feet touch the ground."""
    meta = envs.make_meta_env("ant-dir", backend="mjx")
    assert meta.has_contact_forces and meta.dt == pytest.approx(0.05)

    @jax.jit
    def run(key):
        state = meta.reset_to_task(key, jnp.array([1.0]))

        def body(s, _):
            s = meta.step(s, jnp.zeros(meta.action_size))
            return s, (s.metrics["reward_contact"], meta.contact_forces(s.pipeline_state))

        return jax.lax.scan(body, state, None, 10)[1]

    reward_contact, forces = run(jax.random.PRNGKey(0))
    expected = 0.5e-3 * np.sum(np.square(np.clip(np.asarray(forces), -1, 1)), axis=(1, 2))
    np.testing.assert_allclose(-np.asarray(reward_contact), expected, rtol=1e-5)
    assert expected[-1] > 1e-3
    assert expected.max() <= 0.5e-3 * forces.shape[1] * 6
    positional = wrapped("ant-dir").env
    assert not positional.has_contact_forces


def test_humanoid_dir_reward_and_trial():
    """VariBAD's humanoid: task = angle, reward 1.25 * COM velocity . (cos a, sin a) - ctrl + 5,
    trials of 2 episodes of 200 steps."""
    env = wrapped("humanoid-dir")
    assert env.episodes_per_trial == 2 and env.episode_length == 200
    assert env.env.dt == pytest.approx(0.015)
    _, outs = random_rollout("humanoid-dir")
    task = np.asarray(outs["task"][..., 0])
    assert np.all((task >= 0) & (task < 2 * np.pi))
    m = {k: np.asarray(v) for k, v in outs["metrics"].items()}
    # At a trial end the returned task is already the next trial's; the metrics are the step's.
    same = ~np.asarray(outs["trial_end"])
    direction = np.cos(task) * m["x_velocity"] + np.sin(task) * m["y_velocity"]
    np.testing.assert_allclose(m["reward_task"][same], 1.25 * direction[same], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m["reward_impact"], 0.0)
    np.testing.assert_allclose(
        np.asarray(outs["reward"]), m["reward_task"] + m["reward_ctrl"] + 5.0, rtol=1e-5, atol=1e-5
    )


def test_task_constant_within_trial_and_resampled_across():
    """cheetah-vel with 5-step episodes: the task changes exactly at trial ends."""
    _, outs = random_rollout("cheetah-vel")
    task = np.asarray(outs["task"][..., 0])  # (STEPS, BATCH): task of the returned obs
    trial_end = np.asarray(outs["trial_end"])
    assert trial_end.sum(0).tolist() == [STEPS // 5] * BATCH
    changed = task[1:] != task[:-1]
    np.testing.assert_array_equal(changed, trial_end[1:])
    assert np.all((task >= 0) & (task < 3))


def _fractions(name: str, split: str, n: int = 512) -> np.ndarray:
    """The 1-D task parameter in [0, 1) each split is defined on."""
    meta = wrapped(name).env
    keys = jax.random.split(jax.random.PRNGKey(5), n)
    tasks = np.asarray(jax.vmap(lambda k: meta.sample_task(k, split))(keys))
    if name == "cheetah-vel":
        return tasks[:, 0] / 3.0
    if name == "humanoid-dir":
        return tasks[:, 0] / (2 * np.pi)
    angle = np.arctan2(tasks[:, 1], tasks[:, 0]) % (2 * np.pi)
    return angle / (2 * np.pi)


@pytest.mark.parametrize("name", ["cheetah-vel", "ant-dir-2d", "ant-goal", "humanoid-dir"])
def test_splits_disjoint(name):
    train, test = _fractions(name, "train"), _fractions(name, "test")
    assert not np.asarray(in_test_bins(train)).any()
    assert np.asarray(in_test_bins(test)).all()
    # Both splits span the range rather than one end of it.
    assert len(np.unique(np.floor(test * N_BINS))) == 3
    assert len(np.unique(np.floor(train * N_BINS))) == N_BINS - 3


def test_ant_goal_in_disc_and_cheetah_dir_both_directions():
    meta = wrapped("ant-goal").env
    keys = jax.random.split(jax.random.PRNGKey(6), 512)
    goals = np.asarray(jax.vmap(meta.sample_task)(keys))
    radius = np.linalg.norm(goals, axis=1)
    assert radius.max() <= 3.0 and np.median(radius) > 1.5  # area-uniform: median 3/sqrt(2)
    cheetah = wrapped("cheetah-dir").env
    for split in ("train", "test"):
        d = np.asarray(jax.vmap(lambda k, s=split: cheetah.sample_task(k, s))(keys))
        assert set(np.unique(d).tolist()) == {-1.0, 1.0}


def test_config_errors():
    with pytest.raises(ConfigError, match="backend.*positional"):
        envs.make("cheetah-dir", backend="physx")
    with pytest.raises(ConfigError, match="ctrl_cost_weight"):
        envs.make("ant-dir", ctrl_cost_weight=-1.0)
    with pytest.raises(ConfigError, match="contact_cost_weight"):
        envs.make("ant-dir-2d", contact_cost_weight=-1.0)
    with pytest.raises(ConfigError, match="impact_cost_weight.*mjx"):
        envs.make("humanoid-dir", impact_cost_weight=5e-7)
    with pytest.raises(ConfigError, match="split"):
        wrapped("cheetah-vel").env.sample_task(jax.random.PRNGKey(0), "validation")
    with pytest.raises(ConfigError, match="split"):
        wrapped("cheetah-dir").env.sample_task(jax.random.PRNGKey(0), "val")
