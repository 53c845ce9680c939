"""PPO: per-run coefficients as pytree leaves, the optimizer, the clipped loss, and one update's
epochs over a rollout (`make_ppo_update`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from hyperjax.config import PPOConfig
from hyperjax.nets import distributions

if TYPE_CHECKING:
    from hyperjax.agent import Agent


@flax.struct.dataclass
class PPOHParams:
    """Continuous PPO coefficients of one run. Every field is a leaf, so a sweep stacks them and
    vmaps one compiled program over the stack (the learning rate reaches Adam through
    `optax.inject_hyperparams`)."""

    lr: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array

    @classmethod
    def from_config(cls, ppo: PPOConfig, **overrides: float) -> PPOHParams:
        values = {name: getattr(ppo, name) for name in cls.__dataclass_fields__}
        values.update(overrides)
        return cls(**{k: jnp.asarray(v, jnp.float32) for k, v in values.items()})


def make_optimizer(ppo: PPOConfig, separate_encoder: bool = False) -> optax.GradientTransformation:
    """Global-norm clipping then Adam whose learning rate is a state leaf (set per run).

    `separate_encoder` (RL2): the parameters are {"policy", "encoder"}, trained as the authors'
    RL2 does: each module's gradient clipped to `max_grad_norm` on its own (H
    algorithms/ppo.py:181-183), the policy by its Adam, the encoder by the VAE's Adam, which
    with the decoder disabled runs at the policy's learning rate (H vae.py:61-65: `lr_policy`)
    with PyTorch's default epsilon. Both rates are the run's `hparams.lr`.
    """
    policy_adam = optax.inject_hyperparams(optax.adam)(learning_rate=ppo.lr, eps=ppo.adam_eps)
    if not separate_encoder:
        return optax.chain(clip_gradients(ppo.max_grad_norm), policy_adam)
    encoder_adam = optax.inject_hyperparams(optax.adam)(learning_rate=ppo.lr, eps=1e-8)
    modules = ("policy", "encoder")
    return optax.chain(
        clip_gradients(ppo.max_grad_norm, modules),
        optax.multi_transform(
            {"policy": policy_adam, "encoder": encoder_adam},
            lambda params: {name: name for name in params},
        ),
    )


def clip_gradients(
    max_norm: float, separately: tuple[str, ...] = ()
) -> optax.GradientTransformation:
    """Clip the global norm to `max_norm`; with module names, each module's norm on its own."""
    clip = optax.clip_by_global_norm(max_norm)
    if not separately:
        return clip
    return optax.multi_transform(
        {name: clip for name in separately}, lambda params: {name: name for name in params}
    )


def init_optimizer(
    ppo: PPOConfig, params, lr: jax.Array, separate_encoder: bool = False
) -> optax.OptState:
    """Optimizer state for `params` with this run's learning rate (every Adam of the chain)."""
    state = make_optimizer(ppo, separate_encoder).init(params)
    return optax.tree_utils.tree_set(state, learning_rate=jnp.asarray(lr, jnp.float32))


def normalize_advantages(advantages: jax.Array) -> jax.Array:
    # The authors' epsilon (algorithms/ppo.py: `(adv - mean) / (std + 1e-5)`).
    return (advantages - advantages.mean()) / (advantages.std() + 1e-5)


def clipped_losses(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    value: jax.Array,
    old_value: jax.Array,
    targets: jax.Array,
    clip_eps: jax.Array,
) -> dict[str, jax.Array]:
    """Clipped surrogate policy loss and clipped (Huber) value loss, plus diagnostics.

    The value loss is 0.5 * max(huber, clipped huber), averaged, before `vf_coef`: the authors'
    algorithms/ppo.py (use_huber_loss and use_clipped_value_loss; F.smooth_l1_loss with beta 1
    is optax's huber_loss with delta 1)."""
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(
        ratio * advantages, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantages
    )
    value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    value_loss = 0.5 * jnp.maximum(
        optax.huber_loss(value, targets), optax.huber_loss(value_clipped, targets)
    )
    return {
        "policy_loss": -surrogate.mean(),
        "value_loss": value_loss.mean(),
        # The low-variance KL estimator (ratio - 1) - log ratio, always >= 0.
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "clip_frac": (jnp.abs(ratio - 1) > clip_eps).mean(),
    }


def make_ppo_update(
    agent: Agent, ppo: PPOConfig, optimizer: optax.GradientTransformation, recurrent: bool
) -> Callable[..., tuple[Any, Any, dict]]:
    """`update(params, opt_state, hparams, data, epoch_keys) -> (params, opt_state, aux)`: PPO's
    `epochs` passes over one rollout, each over `minibatches` minibatches (`split_minibatches`).

    data = (hidden0 (E, H), batch, advantages, targets), the batch a time-major (T, E, ...)
    train.Transition. recurrent (RL2): the loss back-propagates through the memory, recomputed
    over each minibatch's whole sequences from hidden0; otherwise it reads the rollout's z.
    aux holds each minibatch's losses, entropy, approx-KL and gradient norm (epochs, minibatches).
    """

    def loss_fn(params, hparams: PPOHParams, hidden0, batch, advantages, targets):
        if recurrent:  # back-propagate through the memory: recompute the sequence
            z = agent.encode_sequence(
                params,
                hidden0,
                batch.prev_action,
                batch.prev_reward,
                batch.encoder_obs,
                batch.start,
                batch.task,
            )
        else:  # varibad (gradient stopped) and oracle: the inputs the rollout used
            z = batch.z
        out = agent.act(params, batch.obs, z)
        log_prob = distributions.log_prob(out, batch.action, agent.discrete)
        entropy = distributions.entropy(out, agent.discrete).mean()
        losses = clipped_losses(
            log_prob, batch.log_prob, advantages, out.value, batch.value, targets, hparams.clip_eps
        )
        total = (
            losses["policy_loss"]
            + hparams.vf_coef * losses["value_loss"]
            - hparams.ent_coef * entropy
        )
        return total, dict(losses, entropy=entropy)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update_minibatch(carry, minibatch):
        params, opt_state, hparams = carry
        hidden0, batch, advantages, targets = minibatch
        (loss, aux), grads = grad_fn(params, hparams, hidden0, batch, advantages, targets)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        aux = dict(aux, loss=loss, grad_norm=optax.global_norm(grads))
        return (params, opt_state, hparams), aux

    def update_epoch(carry, key):
        params, opt_state, hparams, data = carry
        minibatches = split_minibatches(key, data, ppo.minibatches, whole_sequences=recurrent)
        (params, opt_state, hparams), aux = jax.lax.scan(
            update_minibatch, (params, opt_state, hparams), minibatches
        )
        return (params, opt_state, hparams, data), aux

    def update(params, opt_state, hparams: PPOHParams, data, epoch_keys: jax.Array):
        (params, opt_state, _, _), aux = jax.lax.scan(
            update_epoch, (params, opt_state, hparams, data), epoch_keys
        )
        return params, opt_state, aux

    return update


def split_minibatches(key: jax.Array, data, minibatches: int, whole_sequences: bool):
    """Split one rollout's (hidden0 (E, H), batch, advantages, targets), time-major (T, E, ...),
    into `minibatches` minibatches stacked on a new leading axis.

    whole_sequences (RL2): minibatches split the envs, each keeping whole time sequences for the
    recurrent loss. Otherwise (VariBAD, oracle: the policy input needs no recomputation), random
    (t, env) samples of the flattened rollout, as the authors' `feed_forward_generator`
    (algorithms/online_storage.py); the hidden states are then unused and returned as zeros.
    """
    hidden0, batch, advantages, targets = data
    num_steps, num_envs = advantages.shape
    if whole_sequences:
        order = jax.random.permutation(key, num_envs).reshape(minibatches, -1)
        by_env = lambda x: jnp.swapaxes(x[:, order], 0, 1)  # noqa: E731
        return hidden0[order], jax.tree.map(by_env, batch), by_env(advantages), by_env(targets)
    size = num_steps * num_envs
    order = jax.random.permutation(key, size).reshape(minibatches, -1)
    by_sample = lambda x: x.reshape((size,) + x.shape[2:])[order]  # noqa: E731
    hidden = jnp.zeros((minibatches,) + hidden0.shape[1:], hidden0.dtype)
    return hidden, jax.tree.map(by_sample, batch), by_sample(advantages), by_sample(targets)
