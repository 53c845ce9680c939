"""Meta-World's ML1 task classes on MJX against Meta-World's own CPU env (metaworld 3.1.1).

Observation and reward are checked on states recorded from Meta-World's env (kinematics and
reward only: the two models differ in collision geometry, not in bodies or joints); physics end
to end by Meta-World's scripted expert, which must succeed on our env as on theirs.
"""

from __future__ import annotations

import functools
import pickle
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from hyperjax import envs
from hyperjax.envs import meta_world as mw
from hyperjax.envs import meta_world_reference as reference
from hyperjax.envs import meta_world_tasks as ml10_tasks
from hyperjax.errors import ConfigError

OPTIONS = {"compiler_options": {"xla_cpu_use_fusion_emitters": False}}


@pytest.fixture(scope="module")
def env():
    return envs.make_meta_env("ml1")


@pytest.fixture(scope="module", params=list(ml10_tasks.TASKS))
def any_env(request):
    return envs.make_meta_env("ml1", task=request.param)


def test_task_sets_are_ml1s_own(env):
    import metaworld

    benchmark = metaworld.ML1("pick-place-v3", seed=0)
    for split, tasks in (("train", benchmark.train_tasks), ("test", benchmark.test_tasks)):
        expected = np.stack([pickle.loads(t.data)["rand_vec"] for t in tasks])
        np.testing.assert_allclose(env.tasks[split], expected, rtol=1e-6)
    assert env.tasks["train"].shape == env.tasks["test"].shape == (50, 6)
    assert not np.isin(env.tasks["test"][:, 3], env.tasks["train"][:, 3]).any()
    drawn = jax.vmap(lambda k: env.sample_task(k, "test"))(jax.random.split(jax.random.key(0), 64))
    rows = (np.asarray(drawn)[:, None, :] == env.tasks["test"][None]).all(-1)
    assert rows.any(1).all() and len(np.unique(rows.argmax(1))) > 20


def test_observation_and_reward_match_metaworld_on_its_states(any_env):
    """120 steps of the expert on Meta-World's env (pick-place: reach, grasp, lift, carry; the
    fixtures: reach, pull or push, done): our observation, reward and success computed from each
    recorded state equal Meta-World's."""
    # Train task 3, but for sweep-into, whose task 3 defeats the expert (the puck never reaches
    # the hole in 500 steps on Meta-World's env).
    env, split = any_env, "train"
    index = 2 if env.task_name == "sweep-into" else 3
    rec = reference.record(env, split, index, steps=120)
    task = jnp.asarray(env.tasks[split][index])

    @functools.partial(jax.jit, **OPTIONS)
    def replay(qpos, qvel, mocap, prev, action):
        start = env.start(task)

        def one(q, v, m, p, a):
            return env.outcome(env.at_state(q, v, m, task), p, a, start)

        return jax.vmap(one)(qpos, qvel, mocap, prev, action)

    prev = np.concatenate([rec["reset_obs"][:, :18], rec["obs"][:-1, :18]])
    obs, _, reward, metrics = replay(
        *(jnp.asarray(rec[k], jnp.float32) for k in ("qpos", "qvel", "mocap_pos")),
        jnp.asarray(prev, jnp.float32),
        jnp.asarray(rec["action"], jnp.float32),
    )
    np.testing.assert_allclose(obs[:, :36], rec["obs"][:, :36], atol=2e-5)
    np.testing.assert_allclose(reward, rec["reward"], rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(metrics["success"], rec["success"])
    # The recording covers the reward's branches: success and not, rewards over a wide range.
    assert rec["success"].any() and not rec["success"].all()
    assert rec["reward"].max() - rec["reward"].min() > 3.0


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(t, marks=[] if t == "pick-place" else pytest.mark.slow)
        for t in ml10_tasks.TASKS
    ],
)
def test_reset_matches_metaworlds(task):
    """The settled hand and the object at the task's start: Meta-World's first observation
    (pick-place in make test, the other 14 classes in make test-slow)."""
    env = envs.make_meta_env("ml1", task=task)
    _, ref_obs = reference.reference_env(env, "test", 7)
    reset = jax.jit(env.reset_to_task, **OPTIONS)
    state = reset(jax.random.key(0), jnp.asarray(env.tasks["test"][7]))
    # Hand and object positions agree to 1e-6 where Meta-World's reset ends in `mj_forward`;
    # where it does not (drawer-open, window-open, lever-pull) its first observation holds the
    # positions of the settle's last substep start, up to 1e-4 m behind ours. The pick-place
    # object's quaternion agrees to 2e-4 (it settles as a 16-sided prism here, a cylinder there).
    np.testing.assert_allclose(state.obs[:36], ref_obs[:36], atol=5e-4)
    stale = env.task_name in ("drawer-open", "window-open", "lever-pull")
    np.testing.assert_allclose(state.obs[:7], ref_obs[:7], atol=1e-4 if stale else 1e-5)
    assert (np.asarray(state.obs[36:]) == 0).all()  # ML1 hides the goal


def test_expert_succeeds_as_on_metaworld(env):
    """Meta-World's scripted pick-place expert on 4 train tasks, 100 steps (it succeeds by about
    step 60 on Meta-World's env): it succeeds on ours on the same tasks, at about the same step.
    Two slots run the four tasks, so two tasks start in a slot refilled after a success."""
    ref = reference.reference_first_success(env, "train", 4, 100)
    ours = reference.port_first_success(env, env.tasks["train"][:4], 100, slots=2)
    assert np.isfinite(ref).all() and np.isfinite(ours).all(), (ref, ours)
    assert (ref > 20).all()  # a refilled slot that kept its old state would succeed at once
    np.testing.assert_allclose(ours, ref, atol=5)


def test_reference_runs_under_another_interpreter(env):
    """The expert's reference under another Python (`.venv-metaworld`: Meta-World on its own
    MuJoCo 3.3.0) runs as a script that imports no hyperjax; under this interpreter it finds
    the same first successes as in-process."""
    here = reference.reference_first_success(env, "test", 2, 80)
    there = reference.reference_first_success(env, "test", 2, 80, python=sys.executable)
    assert np.isfinite(here).all()
    np.testing.assert_array_equal(there, here)
    assert reference.mujoco_version_of(sys.executable) == mujoco.__version__


@pytest.mark.slow
def test_expert_success_rate_within_10_points(any_env):
    """Meta-World's expert on both envs, 200 steps (it succeeds by step 60-180), on 5 tasks of
    each split in one batch, for each of the 15 classes (compiling each scene's step dominates:
    about 1.5 minutes a class here). docs/fidelity.md has more tasks; `python -m
    hyperjax.envs.meta_world_reference` runs all 50 x 500 steps."""
    env, tasks, steps = any_env, 5, 200
    ref = {s: reference.reference_success(env, s, tasks, steps) for s in ("train", "test")}
    both = np.concatenate([env.tasks[s][:tasks] for s in ("train", "test")])
    split_success = np.split(np.isfinite(reference.port_first_success(env, both, steps)), 2)
    ours = dict(zip(("train", "test"), split_success, strict=True))
    # 10 points, the bound over 50 tasks, is less than one task of 5: allow one task.
    # (Basketball's train task 2: Meta-World's expert never scores in 500 steps, ours by 200.)
    allowed = max(0.10, 1.0 / tasks)
    for split in ("train", "test"):
        assert abs(ours[split].mean() - ref[split].mean()) <= allowed + 1e-9, (split, ours, ref)
        assert ref[split].mean() >= 0.8, (split, ref)


def test_trial_wrapper_runs_two_500_step_episodes(env):
    wrapped = envs.make("ml1")
    assert (wrapped.episode_length, wrapped.episodes_per_trial) == (500, 2)
    assert wrapped.observation_size == 40 and wrapped.action_size == 4
    names = {n: envs.make_meta_env(n).task_name for n in ("ml1", "ml1-reach", "ml1-door-open")}
    assert names == {"ml1": "pick-place", "ml1-reach": "reach", "ml1-door-open": "door-open"}
    # Every class of Meta-World's ML10 is ported and has a name a config can use; `ml1` is the
    # paper's pick-place.
    from metaworld.env_dict import ML10_V3

    ml10 = {split: [name.removesuffix("-v3") for name in ML10_V3[split]] for split in ML10_V3}
    assert (ml10["train"], ml10["test"]) == (
        list(ml10_tasks.ML10_TRAIN),
        list(ml10_tasks.ML10_TEST),
    )
    assert set(ml10_tasks.ML10_TRAIN + ml10_tasks.ML10_TEST) == set(ml10_tasks.TASKS)
    registered = {n.removeprefix("ml1-") for n in envs.names() if n.startswith("ml1-")}
    assert registered | {"pick-place"} == set(ml10_tasks.TASKS)
    with pytest.raises(ConfigError, match="env.task: unknown option for env 'ml1-reach'"):
        envs.make_meta_env("ml1-reach", task="push")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "hammer"}, "env.task: unknown value 'hammer'; allowed: reach, push, pick-place"),
        ({"task": "pick-plce"}, "env.task"),
        ({"max_contacts": 0}, "env.max_contacts"),
        ({"backend": "spring"}, "env.backend: unknown option"),
    ],
)
def test_bad_options_fail_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        envs.make_meta_env("ml1", **overrides)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["ml1", "ml10"])
def test_missing_metaworld_is_one_line(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "metaworld", None)
    with pytest.raises(ConfigError, match="metaworld") as caught:
        envs.make_meta_env(name)
    assert "\n" not in str(caught.value) and "make install" in str(caught.value)


def test_training_program_compiles_without_fusion_emitters():
    """The Meta-World scene's programs compile with XLA:CPU's fusion emitters off (1,000x
    faster kinematics); other envs keep XLA's defaults."""
    if jax.default_backend() == "cpu":
        assert envs.compiler_options("ml1") == OPTIONS["compiler_options"]
    assert envs.compiler_options("cheetah-dir") is None


@pytest.mark.slow
def test_physics_matches_mujoco_but_for_the_welds_jdot_term():
    """MJX against MuJoCo 3.17's `mj_step` on the same (modified) scene, float64, the hand
    driven through its mocap weld for 10 frames. Without the weld they agree to rounding; with
    it they drift by about 4e-5 rad a frame: MuJoCo 3.17 (not 3.3, which Meta-World pins, nor
    MJX) subtracts J'v from weld and connect constraint references (`mj_referenceConstraint`),
    so the gap is MuJoCo's newer term, not the port (docs/fidelity.md, Meta-World)."""
    import mujoco
    from mujoco import mjx

    spec = ml10_tasks.TASKS["pick-place"]
    settled = mw.settle_hand(mw.sawyer_model(spec.xml), np.asarray(spec.hand_init_pos))
    errors = {}
    with jax.enable_x64(True):
        for weld in (False, True):
            model = mw.sawyer_model(spec.xml)
            if not weld:
                model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_EQUALITY
            data = mujoco.MjData(model)
            for field in ("qpos", "qvel", "mocap_pos", "mocap_quat"):
                getattr(data, field)[:] = getattr(settled, field)
            mujoco.mj_forward(model, data)
            sys, state = mjx.put_model(model), mjx.put_data(model, data)
            step = jax.jit(lambda d, sys=sys: mjx.step(sys, d), **OPTIONS)
            worst = []
            for _ in range(10):
                data.mocap_pos[0] += 0.01 * np.array([0.5, 0.3, -0.4])
                data.ctrl[:] = [-1.0, 1.0]
                state = state.replace(
                    mocap_pos=jnp.asarray(data.mocap_pos), ctrl=jnp.asarray(data.ctrl)
                )
                for _ in range(mw.FRAME_SKIP):
                    mujoco.mj_step(model, data)
                    state = step(state)
                worst.append(np.abs(np.asarray(state.qpos)[:9] - data.qpos[:9]).max())
            errors[weld] = np.array(worst)
    assert errors[False].max() < 1e-12
    assert 1e-6 < errors[True][0] < 1e-4 and errors[True].max() < 1e-3


# --- ML10: ten training classes in one batch, five held-out test classes ---


def test_ml10_tasks_are_ml10s_own_one_split_per_class():
    metaworld = mw.require_metaworld()  # with its MuJoCo 3.17 weld fix
    benchmark = metaworld.ML10(seed=0)
    family = envs.make_meta_env("ml10")
    for name, split, tasks in (
        ("push", "train", benchmark.train_tasks),
        ("drawer-open", "test", benchmark.test_tasks),
    ):
        expected = [pickle.loads(t.data)["rand_vec"] for t in tasks if t.env_name == f"{name}-v3"]
        scene = family.scene(name)
        assert list(scene.tasks) == [split]  # a training class has no test tasks, and back
        np.testing.assert_allclose(scene.tasks[split], np.stack(expected), rtol=1e-6)
        assert scene.end_on_success  # the authors' ML10 ends an episode at its first success
    # One numpy stream runs through ML10's classes: push's tasks are not ML1's.
    assert not np.allclose(
        family.scene("push").tasks["train"], mw.ml1_task_vectors("push", 0)["train"]
    )
    with pytest.raises(ConfigError, match="env.split: 'push' is an ML10 train class, without test"):
        family.scene("push").sample_task(jax.random.key(0), "test")


def test_ml10_splits_a_batch_over_its_classes():
    train, test = envs.make("ml10"), envs.make("ml10", split="test")
    assert tuple(train.members) == ml10_tasks.ML10_TRAIN
    assert tuple(test.members) == ml10_tasks.ML10_TEST
    # Both splits' families share one build of a class's scene (a sweep makes three).
    assert envs.make_meta_env("ml10").scene("push") is train.members["push"].env
    assert envs.make_meta_env("ml10", end_on_success=False).scene("push").end_on_success is False
    # A policy trained on the train mixture reads test trials of the same shape.
    for mixture in (train, test):
        assert (mixture.observation_size, mixture.action_size, mixture.task_size) == (40, 4, 21)
        assert (mixture.episode_length, mixture.episodes_per_trial) == (500, 2)
    with pytest.raises(
        ConfigError, match="ppo.num_envs: 8 envs do not split evenly over ML10's 10"
    ):
        train.check_batch("ppo.num_envs", 8)
    test.check_batch("eval_trials", 10)
    assert envs.compiler_options("ml10") == OPTIONS["compiler_options"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"train_classes": ["reach", "door-close"]},
            "env.train_classes: 'door-close' is an ML10 test class, not one to train on; "
            "allowed: reach, push, pick-place",
        ),
        ({"test_classes": ["reach"]}, "env.test_classes: 'reach' is an ML10 training class"),
        (
            {"train_classes": ["hammer"]},
            "env.train_classes: unknown value 'hammer'; allowed: reach",
        ),
        ({"train_classes": ["reach", "reach"]}, "env.train_classes: a class appears twice"),
        ({"train_classes": []}, "env.train_classes: a non-empty list"),
        ({"task": "reach"}, "env.task: unknown option for env 'ml10'"),
    ],
)
def test_ml10_bad_classes_fail_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        envs.make_meta_env("ml10", **overrides)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_ml10_episode_ends_at_its_first_success():
    """Meta-World's experts on two of ML10's classes in one batch (2 envs each): every step's
    `terminated` is exactly its `success` (the authors' ML10 ends an episode there), the next
    episode starts fresh, and each expert succeeds. Compiling the two scenes: about 2 minutes."""
    mixture = envs.make("ml10", train_classes=["reach", "push"], episode_length=200)
    reset = jax.jit(mixture.reset_batch, **OPTIONS)
    step = jax.jit(mixture.step_batch, **OPTIONS)
    state = reset(jax.random.split(jax.random.key(0), 4))
    experts = [reference.expert(name) for name in ("reach", "reach", "push", "push")]
    ends = np.zeros(4, int)
    for _ in range(200):
        goals = np.concatenate([np.asarray(p.info["start"].target) for p in state.pipeline_state])
        obs = np.array(state.obs)[:, :39]
        obs[:, -3:] = goals
        action = np.stack([e.get_action(o) for e, o in zip(experts, obs, strict=True)])
        before = np.asarray(state.info["episode_index"])
        state = step(state, jnp.asarray(action, jnp.float32))
        terminated = np.asarray(state.info["terminated"])
        np.testing.assert_array_equal(terminated, np.asarray(state.metrics["success"]) > 0)
        after = np.asarray(state.info["episode_index"])
        np.testing.assert_array_equal(after, np.where(terminated, (before + 1) % 2, before))
        ends += terminated
    assert (ends >= 1).all(), ends


@pytest.mark.slow
def test_ml10_trains_and_evaluates_on_held_out_classes(monkeypatch):
    """The training program on ML10 (narrowed to one training class and one test class, so
    that two scenes compile, about 5 minutes here): a VariBAD run trains through two PPO
    updates and is evaluated on the training class and on the held-out one."""
    from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig, VAEConfig
    from hyperjax.envs.meta_world_ml10 import MetaWorldML10
    from hyperjax.sweep import plan_runs, run_sweep

    narrowed = MetaWorldML10(train_classes=["reach"], test_classes=["drawer-open"])
    monkeypatch.setattr(envs, "make_meta_env", lambda name, **kw: narrowed)
    cfg = TrainConfig(
        env="ml10",
        algo="varibad",
        episode_length=20,
        policy=PolicyConfig(state_embed_dim=16, hidden=(16,), task_embed_dim=8),
        encoder=EncoderConfig(gru_dim=16, latent_dim=4),
        ppo=PPOConfig(num_envs=2, num_steps=40, minibatches=2, epochs=1),
        vae=VAEConfig(buffer_trials=20, batch_trials=4, precollect_steps=0, decode_state=True),
        total_env_steps=2 * 40 * 2,
        updates_per_chunk=2,
    )
    evaluated = []
    runs = plan_runs(["bias_hyperinit"], [0], [3e-4])
    result = run_sweep(
        cfg, runs, progress=False, eval_every=1, eval_trials=2, on_eval_rows=evaluated.extend
    )
    (row,) = result.rows
    assert np.isfinite(row["trial_return"]) and row["trial_return"] > 0  # reach pays every step
    assert {r["split"] for r in evaluated} == {"train", "test"}
    for r in evaluated:
        assert np.isfinite(r["trial_return"]) and 0.0 <= r["success_0"] <= 1.0
