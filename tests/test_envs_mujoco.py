"""The "mujoco" backend: the authors' gym models on MJX against MuJoCo's own `mj_step`.

For each task, the same initial state and actions are stepped by the env (MJX) and by the
`mujoco` package on the CPU; qpos/qvel must agree, and our reward and observation code must give
the same values from both trajectories. These run in float64 (`jax.enable_x64`), where MJX and
MuJoCo agree to ~1e-12 until contacts make the dynamics chaotic; a float32 check states what
training sees. An independent numpy transcription of each authors' reward checks one transition.
"""

from __future__ import annotations

import csv
import dataclasses
import json

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from hyperjax import envs
from hyperjax.envs import mujoco_models
from hyperjax.errors import ConfigError

# (task, env steps, qpos/qvel tolerance) in float64. Horizons end before chaos amplifies
# round-off: with random actions the cheetah's 1e-15 differences grow to 1e-6 by step 50.
PARITY = [
    ("cheetah-dir", 25, 1e-8),
    # The other bodies take 35-60 s each to compile cold: `make test-slow`.
    pytest.param("walker-params", 50, 1e-8, marks=pytest.mark.slow),
    pytest.param("hopper-params", 50, 1e-8, marks=pytest.mark.slow),
    pytest.param("humanoid-dir", 10, 1e-8, marks=pytest.mark.slow),
]


def _cpu_model(env, task) -> mujoco.MjModel:
    """MuJoCo's model of `env` with the task's physical parameters (dynamics tasks)."""
    model = mujoco_models.load_mj_model(mujoco_models.MODELS[env.mujoco_model])
    if hasattr(env, "system"):
        sys = env.system(task)
        for field in ("body_mass", "body_inertia", "dof_damping", "geom_friction"):
            getattr(model, field)[:] = np.asarray(getattr(sys, field))
    return model


def _physics(env, task):
    return env.system(task) if hasattr(env, "system") else env.brax_env.sys


def _transition(env, prev, cur, ctrl, task):
    """Our reward code on two pipeline states: (reward, observation)."""
    if hasattr(env, "transition"):
        return env.transition(prev, cur, ctrl)[0], env._obs(cur)
    return env.task_step(prev, cur, ctrl, task)[0], env.observe(cur, ctrl)


@dataclasses.dataclass
class Step:
    """One env step taken by both simulators: MuJoCo's model and its data before and after the
    step, the env's (MJX) state after it, the action and the control both applied."""

    model: mujoco.MjModel
    before: mujoco.MjData
    after: mujoco.MjData
    state: object
    action: np.ndarray
    ctrl: np.ndarray


def mujoco_steps(env, task, n_steps, reset_key=0, action_seed=0, edit=None, mjx_step=False):
    """Steps MuJoCo's CPU `mj_step` from the env's reset state with random actions; with
    `mjx_step` the env (MJX) takes the same actions alongside. `edit` changes both models first.
    Yields a `Step` each (its `state` is None without `mjx_step`)."""
    model = _cpu_model(env, task)
    if edit is not None:
        edit(model)
        env.brax_env.sys = mujoco_models.mjcf.load_model(model)
    state = jax.jit(env.reset_to_task)(jax.random.PRNGKey(reset_key), task)
    step = jax.jit(env.step) if mjx_step else None
    data = mujoco.MjData(model)
    data.qpos[:] = np.asarray(state.pipeline_state.qpos)
    data.qvel[:] = np.asarray(state.pipeline_state.qvel)
    mujoco.mj_forward(model, data)
    frame_skip = mujoco_models.MODELS[env.mujoco_model].frame_skip
    to_ctrl = getattr(env, "to_ctrl", lambda a: a)
    actions = np.random.default_rng(action_seed).uniform(-1, 1, (n_steps, env.action_size))
    for action in actions:
        before = mujoco.MjData(model)
        mujoco.mj_copyData(before, model, data)
        ctrl = np.asarray(to_ctrl(jnp.asarray(action)))
        data.ctrl[:] = ctrl
        for _ in range(frame_skip):
            mujoco.mj_step(model, data)
        state = step(state, jnp.asarray(action)) if mjx_step else None
        yield Step(model, before, data, state, action, ctrl)


def paired_steps(env, task, n_steps, reset_key=0, action_seed=0, edit=None):
    """`mujoco_steps` with the env (MJX) stepping alongside."""
    return mujoco_steps(env, task, n_steps, reset_key, action_seed, edit, mjx_step=True)


def _mujoco_states(env, task, s: Step):
    """MuJoCo's states before and after `s` as pipeline states, for our reward code."""
    sys = _physics(env, task)  # after `edit` replaced it
    before = mujoco_models.data_from_mujoco(sys, s.model, s.before)
    return before, mujoco_models.data_from_mujoco(sys, s.model, s.after)


def run_pair(name: str, n_steps: int, seed: int = 0, edit=None):
    """Errors between MJX and MuJoCo over `n_steps` random actions: max |qpos|, |qvel|,
    |reward|, |obs| differences per step (arrays of length n_steps)."""
    env = envs.make_meta_env(name, backend="mujoco")
    task = env.sample_task(jax.random.PRNGKey(seed + 1))
    errors = {"qpos": [], "qvel": [], "reward": [], "obs": []}
    for s in paired_steps(env, task, n_steps, seed, seed, edit):
        reward, obs = _transition(env, *_mujoco_states(env, task, s), jnp.asarray(s.ctrl), task)
        ps = s.state.pipeline_state
        errors["qpos"].append(np.abs(np.asarray(ps.qpos) - s.after.qpos).max())
        errors["qvel"].append(np.abs(np.asarray(ps.qvel) - s.after.qvel).max())
        errors["reward"].append(abs(float(s.state.reward) - float(reward)))
        errors["obs"].append(np.abs(np.asarray(s.state.obs) - np.asarray(obs)).max())
    return {k: np.asarray(v) for k, v in errors.items()}


@pytest.mark.parametrize(("name", "n_steps", "tol"), PARITY)
def test_mjx_steps_like_mujoco(name, n_steps, tol):
    with jax.enable_x64(True):
        errors = run_pair(name, n_steps)
    for key, err in errors.items():
        print(name, key, f"{err.max():.2e}")
    assert errors["qpos"].max() < tol
    assert errors["qvel"].max() < tol * 100  # velocities are differences of positions / dt
    assert errors["obs"].max() < tol * 100
    assert errors["reward"].max() < 1e-5  # the env returns float32 rewards


def _elliptic(model: mujoco.MjModel) -> None:
    model.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC


@pytest.mark.slow  # 1.5 minutes cold
def test_ant_matches_mujoco_with_isotropic_friction():
    """The ant lands on its diagonal legs by step 5. With the XML's pyramidal friction cone MJX
    and MuJoCo then part (MJX's capsule-plane contact frame follows the world axes, MuJoCo's the
    capsule, so the pyramid is rotated 45 degrees); with the rotation-invariant elliptic cone on
    both, everything else (model, frame skip, reset, reward, contact cost) matches."""
    with jax.enable_x64(True):
        errors = run_pair("ant-dir", 15, edit=_elliptic)
        pyramid = run_pair("ant-dir", 8)
    assert errors["qpos"].max() < 1e-5
    assert errors["reward"].max() < 1e-3
    assert errors["obs"].max() < 1e-3
    # Pyramidal: equal in the air, apart once the feet touch the ground.
    assert pyramid["qpos"][:3].max() < 1e-10
    assert pyramid["qpos"][-1] > 1e-4


def test_float32_parity_over_ten_steps():
    """What training runs: float32 MJX against float64 MuJoCo, 10 env steps of the cheetah."""
    errors = run_pair("cheetah-vel", 10)
    assert errors["qpos"].max() < 1e-4
    assert errors["reward"].max() < 1e-3


def _numpy_reward(name, model, before, after, action, task) -> float:
    """The authors' rewards, transcribed from their env classes (file:line in docs/fidelity.md)."""
    dt = model.opt.timestep * mujoco_models.MODELS[ENV_MODEL[name]].frame_skip
    if name in ("cheetah-dir", "cheetah-vel"):  # H half_cheetah_{dir,vel}.py step()
        v = (after.qpos[0] - before.qpos[0]) / dt
        task_reward = task[0] * v if name == "cheetah-dir" else -abs(v - task[0])
        return task_reward - 0.5 * 1e-1 * np.sum(np.square(action))
    if name == "ant-dir":  # H ant_dir.py step(), cfrc_ext as MuJoCo 1.50 filled it
        torso = model.body("torso").id
        velocity = (after.xpos[torso] - before.xpos[torso])[:2] / dt
        forward = velocity @ np.array([np.cos(task[0]), np.sin(task[0])])
        mujoco.mj_rnePostConstraint(model, after)
        contact = 0.5 * 1e-3 * np.sum(np.square(np.clip(after.cfrc_ext, -1, 1)))
        return forward - 0.5 * np.sum(np.square(action)) - contact + 1.0
    if name == "humanoid-dir":  # V humanoid_dir.py step(); cfrc_ext is 0 under MuJoCo 2.0

        def mass_center(data):
            return (model.body_mass[:, None] * data.xipos).sum(0) / model.body_mass.sum()

        direction = np.array([np.cos(task[0]), np.sin(task[0])])
        delta = (mass_center(after) - mass_center(before))[:2]
        lin_vel = 0.25 * direction @ delta / model.opt.timestep
        return lin_vel - 0.1 * np.sum(np.square(after.ctrl)) + 5.0
    # walker-params, hopper-params: H rand_param_envs/{walker2d,hopper}_rand_params.py _step()
    return (after.qpos[0] - before.qpos[0]) / dt + 1.0 - 1e-3 * np.sum(np.square(action))


ENV_MODEL = {
    "cheetah-dir": "half_cheetah",
    "cheetah-vel": "half_cheetah",
    "ant-dir": "ant",
    "humanoid-dir": "humanoid",
    "walker-params": "walker2d",
    "hopper-params": "hopper",
}


@pytest.mark.parametrize(
    "name",  # humanoid's reset and reward take 17 s to compile cold: `make test-slow`
    [pytest.param(n, marks=pytest.mark.slow) if n == "humanoid-dir" else n for n in ENV_MODEL],
)
def test_reward_matches_numpy_transcription(name):
    """The rewards of 12 random-action transitions (the ant's feet touch the ground on some):
    our reward code on MuJoCo's states against the authors' formula (numpy) on the same states.
    MuJoCo steps alone: that MJX's steps give these states is test_mjx_steps_like_mujoco's job,
    and compiling MJX's float64 step cost 40-55 s a body here."""
    # The ant lands on its diagonal legs: see test_ant_matches_mujoco_with_isotropic_friction.
    edit = _elliptic if name == "ant-dir" else None
    with jax.enable_x64(True):
        env = envs.make_meta_env(name, backend="mujoco")
        assert env.mujoco_model == ENV_MODEL[name]
        task = np.asarray(env.sample_task(jax.random.PRNGKey(3)))
        reward_of = jax.jit(lambda prev, cur, ctrl: _transition(env, prev, cur, ctrl, task)[0])
        rewards, expected, contact = [], [], []
        for s in mujoco_steps(env, task, 12, reset_key=4, action_seed=5, edit=edit):
            rewards.append(float(reward_of(*_mujoco_states(env, task, s), jnp.asarray(s.ctrl))))
            expected.append(_numpy_reward(name, s.model, s.before, s.after, s.action, task))
            if name == "ant-dir":
                cost = 0.5 * 1e-3 * np.sum(np.square(np.clip(s.after.cfrc_ext, -1, 1)))
                contact.append(float(cost))  # cfrc_ext as _numpy_reward filled it
    np.testing.assert_allclose(rewards, expected, rtol=1e-5, atol=1e-5)
    if name == "ant-dir":
        assert max(contact) > 1e-3  # 100x atol: the contact cost was part of what matched


@pytest.mark.parametrize(
    ("name", "obs_size", "task_size"),
    [
        ("cheetah-dir", 20, 1),
        ("ant-dir", 27, 1),
        ("humanoid-dir", 376, 1),
        ("walker-params", 17, 43),
        ("hopper-params", 11, 25),
    ],
)
def test_reference_sizes_and_timing(name, obs_size, task_size):
    """Observation sizes of the authors' env classes, and their dt (frame_skip x timestep)."""
    env = envs.make_meta_env(name, backend="mujoco")
    assert env.observation_size == obs_size
    assert env.task_size == task_size
    expected_dt = {"humanoid-dir": 0.015, "walker-params": 0.016, "hopper-params": 0.016}
    assert env.dt == pytest.approx(expected_dt.get(name, 0.05))


def test_bad_backend_inputs_give_one_line_errors(monkeypatch):
    with pytest.raises(ConfigError, match=r"env\.backend: unknown value 'warp'; allowed: .*mujoco"):
        envs.make_meta_env("cheetah-dir", backend="warp")
    for name in ("reacher-goal", "ant-goal"):
        with pytest.raises(
            ConfigError, match=r"env\.backend: 'mujoco' .* has none; allowed: positional"
        ):
            envs.make_meta_env(name, backend="mujoco")
    monkeypatch.setitem(
        mujoco_models.MODELS,
        "half_cheetah",
        mujoco_models.ModelSpec("no_such.xml", 5, 0.1, "normal"),
    )
    with pytest.raises(
        ConfigError, match=r"env\.backend: 'mujoco' needs gymnasium's model asset 'no_such.xml'"
    ):
        envs.make_meta_env("cheetah-dir", backend="mujoco")


@pytest.mark.slow  # compiles training on an MJX body: 50 s cold
def test_cli_trains_on_the_mujoco_backend(tmp_path):
    """`--train.backend mujoco` from the CLI: an oracle run on the authors' cheetah model, with
    the backend recorded in the run's config."""
    from hyperjax import cli

    argv = ["sweep", "--env", "cheetah-dir", "--algo", "oracle", "--train.backend", "mujoco"]
    argv += ["--inits", "bias_hyperinit", "--seeds", "0", "--name", "mj"]
    argv += ["--runs-dir", str(tmp_path), "--no-progress", "--train.total-env-steps", "160"]
    argv += ["--train.updates-per-chunk", "1", "--train.ppo.num-envs", "4"]
    argv += ["--train.ppo.num-steps", "20", "--train.ppo.minibatches", "2"]
    argv += ["--train.episode-length", "10"]  # trials end inside a chunk
    argv += ["--train.policy.state-embed-dim", "16", "--train.policy.hidden", "16"]
    assert cli.main(argv) == 0
    config = json.loads((tmp_path / "mj" / "config.json").read_text())
    assert config["spec"]["train"]["backend"] == "mujoco"
    rows = list(csv.DictReader((tmp_path / "mj" / "metrics.csv").open()))
    assert len(rows) == 2 and all(np.isfinite(float(r["trial_return"])) for r in rows)
