"""walker-params and hopper-params: shapes, per-trial resampling inside jit, and that each
backend's physics really sees the task (brax pipelines read different System fields)."""

import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.envs import make, make_meta_env
from hyperjax.envs.brax_task import in_test_bins
from hyperjax.errors import ConfigError

# name -> (observation size, action size, task size)
SIZES = {"walker-params": (17, 6, 39), "hopper-params": (11, 3, 22)}
N_ENVS, N_STEPS = 4, 50

# Quantity families whose scaling changes the trajectory, per (env, backend). On positional the
# assets neutralise inertia (walker) or mass and inertia (hopper) via spring_*_scale = 1.
ACTIVE = {
    ("walker-params", "generalized"): {"mass", "inertia", "damping", "friction"},
    ("hopper-params", "generalized"): {"mass", "inertia", "damping", "friction"},
    ("walker-params", "positional"): {"mass", "damping", "friction"},
    ("hopper-params", "positional"): {"damping", "friction"},
    ("walker-params", "mjx"): {"mass", "inertia", "damping", "friction"},
    ("walker-params", "mujoco"): {"mass", "inertia", "damping", "friction"},
    ("hopper-params", "mujoco"): {"mass", "inertia", "damping", "friction"},
}
# The System fields each backend reads for mass, inertia, damping, friction.
READS = {
    "generalized": ("link.inertia.mass", "link.inertia.i", "dof.damping", "geom_friction"),
    "positional": ("link.inertia.mass", "link.constraint_ang_damping", "geom_friction"),
    "mjx": ("body_mass", "body_inertia", "dof_damping", "geom_friction"),
    "mujoco": ("body_mass", "body_inertia", "dof_damping", "geom_friction"),
}


@pytest.mark.parametrize(
    "name",  # one body in make test; the hopper's rollout adds 17 s cold
    ["walker-params", pytest.param("hopper-params", marks=pytest.mark.slow)],
)
def test_vmapped_trials_resample_dynamics_inside_jit(name):
    """One jit: 4 envs, 50 random-action steps, episodes of 10 steps (2 per trial). The pipeline's
    mass matrix entry for the root x slide (= total mass) must follow the task of every step."""
    obs_size, act_size, task_size = SIZES[name]
    env = make(name, episode_length=10)  # default backend: generalized
    assert (env.observation_size, env.action_size) == (obs_size + 1, act_size)  # + episode flag
    assert env.env.task_size == task_size and env.episodes_per_trial == 2

    def run(key):
        state = jax.vmap(env.reset)(jax.random.split(key, N_ENVS))

        def body(state, k):
            action = jax.random.uniform(k, (N_ENVS, act_size), minval=-1.0, maxval=1.0)
            state = jax.vmap(env.step)(state, action)
            info = state.info
            out = (state.obs, state.reward, info["task"], info["trial_end"])
            return state, out + (state.pipeline_state.mass_mx[:, 0, 0],)

        return state, jax.lax.scan(body, state, jax.random.split(key, N_STEPS))[1]

    first, (obs, reward, task, trial_end, total_mass) = jax.jit(run)(jax.random.PRNGKey(0))
    assert obs.shape == (N_STEPS, N_ENVS, obs_size + 1)
    assert np.isfinite(obs).all() and np.isfinite(reward).all()
    assert set(first.metrics) == {
        "reward_forward",
        "reward_ctrl",
        "reward_healthy",
        "x_position",
        "x_velocity",
    }

    # The mass the pipeline used is the current task's, at every step.
    meta = env.unwrapped
    nominal = np.asarray(meta.sys.link.inertia.mass)
    u_mass = np.asarray(task[..., : len(nominal)])
    np.testing.assert_allclose(total_mass, (nominal * 1.5**u_mass).sum(-1), rtol=1e-4)

    # New task exactly at trial ends, so the dynamics differ across trials and not within.
    changed = np.any(task[1:] != task[:-1], axis=-1)
    np.testing.assert_array_equal(changed, trial_end[1:])
    assert trial_end.sum(0).min() >= 2
    for e in range(N_ENVS):
        assert len(np.unique(np.round(total_mass[:, e], 3))) >= 3


def _family_tasks(env) -> tuple[list[str], jnp.ndarray]:
    """Nominal task, one task per quantity family (that family's u = +-2, rest 0), two random."""
    names, tasks = ["nominal"], [jnp.zeros(env.task_size)]
    zeros = env.split_task(jnp.zeros(env.task_size))
    for family in zeros:
        # Friction is lowered, not raised: in 40 steps a hopper's foot never slips at nominal
        # friction, so more friction would change nothing even where the backend reads it.
        u = -2.0 if family == "friction" else 2.0
        parts = {k: v + u * (k == family) for k, v in zeros.items()}
        names.append(family)
        tasks.append(jnp.concatenate(list(parts.values())))
    for i in range(2):
        names.append(f"random{i}")
        tasks.append(env.sample_task(jax.random.PRNGKey(i)))
    return names, jnp.stack(tasks)


@pytest.mark.parametrize(
    "name, backend",
    [
        ("walker-params", "positional"),
        ("hopper-params", "positional"),
        # 15-50 s each to compile cold: `make test-slow`.
        pytest.param("walker-params", "generalized", marks=pytest.mark.slow),
        pytest.param("hopper-params", "generalized", marks=pytest.mark.slow),
        pytest.param("hopper-params", "mujoco", marks=pytest.mark.slow),
        pytest.param("walker-params", "mjx", marks=pytest.mark.slow),
        pytest.param("walker-params", "mujoco", marks=pytest.mark.slow),
    ],
)
def test_tasks_change_trajectories_per_backend(name, backend):
    """Same start state, same actions: two tasks give different trajectories; and exactly the
    documented quantity families act on each backend (one jit per env and backend)."""
    env = make_meta_env(name, backend=backend)
    names, tasks = _family_tasks(env)

    # The fields this backend reads differ between two random tasks' systems.
    sys_a, sys_b = env.system(tasks[-2]), env.system(tasks[-1])
    for field in READS[backend]:
        get = operator.attrgetter(field)
        assert not np.allclose(get(sys_a), get(sys_b)), field

    steps = 40
    actions = jnp.sin(0.3 * jnp.arange(steps)[:, None] + jnp.arange(env.action_size))

    def rollout(task):
        state = env.reset_to_task(jax.random.PRNGKey(7), task)

        def body(state, action):
            state = env.step(state, action)
            return state, state.obs

        return state.obs, jax.lax.scan(body, state, actions)[1]

    start, obs = jax.jit(jax.vmap(rollout))(tasks)
    np.testing.assert_array_equal(start[0], start[-1])  # same start state for every task
    assert np.isfinite(obs).all()
    diff = {n: float(np.abs(obs[i] - obs[0]).max()) for i, n in enumerate(names)}
    assert np.abs(obs[-1] - obs[-2]).max() > 1e-2, diff
    for family in ("mass", "inertia", "damping", "friction"):
        if family in ACTIVE[(name, backend)]:
            assert diff[family] > 1e-3, (family, diff)
        else:
            assert diff[family] < 1e-6, (family, diff)


@pytest.mark.parametrize("name", SIZES)
def test_reference_timing(name):
    """The reference's rand-param envs: frame_skip 4 on a 0.004 s timestep, dt = 0.016 s
    (jacooba/hyper rand_param_envs/base.py:73 and the XMLs' <option timestep="0.004">)."""
    env = make_meta_env(name)
    assert float(env.sys.opt.timestep) == pytest.approx(0.004)
    assert env._n_frames == 4 and env.dt == pytest.approx(0.016)
    assert (env.episode_length, env.episodes_per_trial) == (200, 2)


def test_walker_reward_is_the_references():
    """reward = (x_after - x_before) / dt + 1 - 1e-3 |a|^2 on every step."""
    env = make_meta_env("walker-params")
    actions = 0.8 * jnp.sin(0.5 * jnp.arange(8)[:, None] + jnp.arange(env.action_size))

    def rollout(key):
        state = env.reset_to_task(key, env.sample_task(key))

        def body(state, action):
            new = env.step(state, action)
            return new, (new.reward, new.metrics["x_position"] - state.metrics["x_position"])

        return jax.lax.scan(body, state, actions)[1]

    reward, dx = jax.jit(rollout)(jax.random.PRNGKey(3))
    ctrl = 1e-3 * np.sum(np.square(np.asarray(actions)), axis=-1)
    np.testing.assert_allclose(reward, np.asarray(dx) / 0.016 + 1.0 - ctrl, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", SIZES)
def test_splits_are_disjoint_per_entry(name):
    env = make_meta_env(name)
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    for split, held_out in (("train", False), ("test", True)):
        u = jax.vmap(lambda k, s=split: env.sample_task(k, s))(keys)
        assert u.shape == (64, SIZES[name][2])
        assert (np.abs(u) <= 3.0).all()
        assert (np.asarray(in_test_bins((u + 3.0) / 6.0)) == held_out).all()


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match=r"env\.backend.*positional"):
        make("walker-params", backend="warp")
    with pytest.raises(ConfigError, match=r"env\.log_scale_limit"):
        make("hopper-params", log_scale_limit=0.0)
    with pytest.raises(ConfigError, match=r"env\.colour"):
        make("hopper-params", colour="red")
