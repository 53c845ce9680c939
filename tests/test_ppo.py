"""PPO pieces against the authors' algorithms/ppo.py: the value loss, the advantage
normalisation, separate gradient clipping for RL2, and how a rollout is split into minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hyperjax.algos.ppo import (
    clip_gradients,
    clipped_losses,
    init_optimizer,
    make_optimizer,
    normalize_advantages,
    split_minibatches,
)
from hyperjax.config import PPOConfig


def _smooth_l1(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1.0 else abs(x) - 0.5


def test_value_loss_is_half_the_max_of_huber_and_clipped_huber():
    value = np.array([0.3, 2.0, -1.5, 0.0])
    old_value = np.array([0.0, 1.0, -1.0, 0.05])
    targets = np.array([1.0, 5.0, -1.2, 0.0])
    clip = 0.1
    expected = []
    for v, old, target in zip(value, old_value, targets, strict=True):
        clipped = old + min(max(v - old, -clip), clip)
        expected.append(0.5 * max(_smooth_l1(v - target), _smooth_l1(clipped - target)))
    zeros = jnp.zeros(4)
    losses = clipped_losses(zeros, zeros, zeros, value, old_value, targets, jnp.float32(clip))
    np.testing.assert_allclose(losses["value_loss"], np.mean(expected), rtol=1e-6)


def test_advantages_are_normalised_with_the_authors_epsilon():
    advantages = jnp.array([1.0, 1.0, 1.0, 1.0 + 1e-5])
    expected = (advantages - advantages.mean()) / (advantages.std() + 1e-5)
    np.testing.assert_allclose(normalize_advantages(advantages), expected, rtol=1e-6)


def test_separate_clipping_clips_each_module_on_its_own():
    grads = {"policy": {"w": jnp.full((4,), 3.0)}, "encoder": {"w": jnp.full((4,), 0.01)}}
    separate = clip_gradients(0.5, ("policy", "encoder"))
    clipped, _ = separate.update(grads, separate.init(grads))
    np.testing.assert_allclose(optax.global_norm(clipped["policy"]), 0.5, rtol=1e-6)
    np.testing.assert_allclose(clipped["encoder"]["w"], 0.01, rtol=1e-6)  # small: untouched
    joint = clip_gradients(0.5)
    clipped, _ = joint.update(grads, joint.init(grads))
    assert float(clipped["encoder"]["w"][0]) < 0.01 * 0.5  # scaled down with the policy's


def _rollout(num_steps: int, num_envs: int):
    # Every entry encodes its (t, env): 1000 t + env.
    ids = 1000.0 * jnp.arange(num_steps)[:, None] + jnp.arange(num_envs)[None, :]
    batch = {"obs": jnp.stack([ids, -ids], axis=-1), "id": ids}
    hidden0 = jnp.arange(num_envs, dtype=jnp.float32)[:, None] * jnp.ones((1, 3))
    return hidden0, batch, ids, ids + 0.5


@pytest.mark.parametrize("whole_sequences", [True, False])
def test_minibatches_cover_the_rollout_once(whole_sequences):
    num_steps, num_envs, minibatches = 6, 8, 4
    data = _rollout(num_steps, num_envs)
    hidden, batch, advantages, targets = split_minibatches(
        jax.random.key(0), data, minibatches, whole_sequences
    )
    ids = np.asarray(batch["id"]).reshape(minibatches, -1)
    assert sorted(ids.ravel().tolist()) == sorted(np.asarray(data[2]).ravel().tolist())
    np.testing.assert_array_equal(np.asarray(advantages).reshape(minibatches, -1), ids)
    np.testing.assert_array_equal(np.asarray(targets).reshape(minibatches, -1), ids + 0.5)
    np.testing.assert_array_equal(batch["obs"][..., 1], -batch["id"])
    envs_per_minibatch = [len(set((row % 1000).astype(int).tolist())) for row in ids]
    times_per_minibatch = [len(set((row // 1000).astype(int).tolist())) for row in ids]
    if whole_sequences:  # RL2: whole envs, every step of each, with its initial hidden state
        assert batch["id"].shape == (minibatches, num_steps, num_envs // minibatches)
        assert envs_per_minibatch == [num_envs // minibatches] * minibatches
        assert times_per_minibatch == [num_steps] * minibatches
        np.testing.assert_array_equal(hidden[:, :, 0], batch["id"][:, 0, :] % 1000)
    else:  # VariBAD / oracle: random (t, env) samples, mixing envs and times
        assert batch["id"].shape == (minibatches, num_steps * num_envs // minibatches)
        assert min(envs_per_minibatch) > num_envs // minibatches
        assert min(times_per_minibatch) > 1


def test_rl2_trains_the_encoder_with_its_own_adam_at_the_run_learning_rate():
    """Adam's first step moves every parameter by about its learning rate (m / sqrt(v) = sign(g)).
    The authors' RL2 trains the encoder with the VAE's Adam at `lr_policy` (H vae.py:61-65), so
    both modules move by the run's rate, each with its own Adam state and gradient clipping."""
    ppo = PPOConfig(lr=3e-4, max_grad_norm=0.5)
    params = {"policy": {"w": jnp.ones(3)}, "encoder": {"w": jnp.ones(3)}}
    grads = {"policy": {"w": jnp.full(3, 2.0)}, "encoder": {"w": jnp.full(3, -0.5)}}
    state = init_optimizer(ppo, params, jnp.float32(1e-4), separate_encoder=True)
    rates = optax.tree_utils.tree_get_all_with_path(state, "learning_rate")
    assert [float(rate) for _, rate in rates] == pytest.approx([1e-4, 1e-4])
    updates, _ = make_optimizer(ppo, separate_encoder=True).update(grads, state, params)
    np.testing.assert_allclose(updates["policy"]["w"], -1e-4, rtol=1e-3)
    np.testing.assert_allclose(updates["encoder"]["w"], 1e-4, rtol=1e-3)
