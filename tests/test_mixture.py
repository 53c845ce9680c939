"""Mixture: one batch split over several task distributions (what ML10 trains on)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import TINY_BANDIT

from hyperjax import envs
from hyperjax.envs.bandit import TwoArmedBandit
from hyperjax.envs.base import TrialWrapper
from hyperjax.envs.mixture import Mixture
from hyperjax.errors import ConfigError
from hyperjax.sweep import plan_runs, run_sweep


class SwappedBandit(TwoArmedBandit):
    """The other class of the test family: the task is the paying arm's index (1 number, not a
    one-hot) and it pays 2, so each env's class shows in its task, reward and success."""

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return jax.random.bernoulli(rng).astype(jnp.float32)[None]

    def step(self, state, action):
        paid = (action == state.info["task"][0].astype(jnp.int32)).astype(jnp.float32)
        return state.replace(reward=2.0 * paid, done=jnp.ones(()), metrics={"success": paid})


class BanditFamily:
    """Two bandit classes, batch split between them (as `MetaWorldML10`'s `trials`)."""

    def trials(self, episode_length=None, episodes_per_trial=None, split="train") -> Mixture:
        members = {
            name: TrialWrapper(env, episode_length, episodes_per_trial, split)
            for name, env in (("plain", TwoArmedBandit()), ("swapped", SwappedBandit()))
        }
        return Mixture(members, ("plain", "swapped"), task_width=2, family="bandits")


def test_each_sub_batch_steps_as_its_class_alone_and_the_learner_sees_one_batch():
    mixture = BanditFamily().trials()
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    state = mixture.reset_batch(keys)
    assert state.obs.shape == (6, 2)  # 1 + the episode flag
    np.testing.assert_array_equal(state.info["member"], [0, 0, 0, 1, 1, 1])
    plain, swapped = state.pipeline_state
    # Tasks: one-hot class, then the class's own task zero-padded to the widest (2).
    task = np.asarray(state.info["task"])
    np.testing.assert_array_equal(task[:3, :2], [[1, 0]] * 3)
    np.testing.assert_array_equal(task[:3, 2:], plain.info["task"])
    np.testing.assert_array_equal(task[3:, :2], [[0, 1]] * 3)
    np.testing.assert_array_equal(task[3:, 2:3], swapped.info["task"])
    np.testing.assert_array_equal(task[3:, 3], 0.0)

    action = jnp.array([0, 1, 1, 0, 1, 1])
    stepped = mixture.step_batch(state, action)
    alone = mixture.members["plain"].step_batch(plain, action[:3])
    np.testing.assert_array_equal(stepped.reward[:3], alone.reward)
    arm = np.asarray(swapped.info["task"][:, 0]).astype(int)
    np.testing.assert_array_equal(stepped.reward[3:], 2.0 * (arm == np.asarray(action[3:])))
    np.testing.assert_array_equal(stepped.metrics["success"][3:], arm == np.asarray(action[3:]))
    for key in ("episode_end", "trial_end", "episode_index", "final_obs"):
        assert stepped.info[key].shape[0] == 6
    assert bool(stepped.info["episode_end"].all())  # a pull is an episode
    assert mixture.task_size == 4 and mixture.observation_size == 2


def test_a_batch_that_does_not_split_over_the_classes_is_refused():
    mixture = BanditFamily().trials()
    with pytest.raises(ConfigError, match=r"ppo.num_envs: 5 envs .* allowed: a multiple of 2"):
        mixture.check_batch("ppo.num_envs", 5)
    with pytest.raises(ConfigError, match="batch: 3 envs"):
        mixture.reset_batch(jax.random.split(jax.random.PRNGKey(0), 3))


def test_classes_that_disagree_on_the_trial_shape_are_refused():
    members = {
        "two": TrialWrapper(TwoArmedBandit(), episodes_per_trial=2),
        "one": TrialWrapper(TwoArmedBandit(), episodes_per_trial=1),
    }
    with pytest.raises(ConfigError, match="'one' has observation_size 1, the others 2"):
        Mixture(members, ("two", "one"), task_width=2)


def test_rl2_learns_both_classes_of_a_mixture(monkeypatch):
    """The trainer runs on a mixture as on one distribution: RL2 learns to remember the paying
    arm in both bandit classes (task-agnostic pulls earn 0.5 on the plain class, 1.0 on the
    swapped one; remembering earns 1 and 2 after pull one, 1.5 on average). Measured on 4
    seeds (2-core x86 CPU, make test's XLA flags): later pulls 1.32-1.49, median 1.48; the
    first 0.73-0.78."""
    make_meta_env = envs.make_meta_env
    monkeypatch.setattr(
        envs,
        "make_meta_env",
        lambda name, **kw: BanditFamily() if name == "bandit" else make_meta_env(name, **kw),
    )
    runs = plan_runs(["bias_hyperinit"], [0, 1, 2, 3], [3e-3])
    result = run_sweep(TINY_BANDIT, runs, progress=False)
    laters = []
    for run in runs:
        final = [r for r in result.rows if r["run"] == run.name][-1]
        laters.append(np.mean([final[f"episode_return_{i}"] for i in range(1, 5)]))
        assert 0.55 < final["episode_return_0"] < 0.95, final  # pull one: 0.75 in expectation
    assert min(laters) > 1.0 and np.median(laters) > 1.3, laters  # task-agnostic: 0.75
