"""PPO pieces: per-run coefficients as pytree leaves, the optimizer, and the clipped loss."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax

from hyperjax.config import PPOConfig


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
