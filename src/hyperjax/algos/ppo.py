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


def make_optimizer(ppo: PPOConfig) -> optax.GradientTransformation:
    """Global-norm clipping then Adam whose learning rate is a state leaf (set per run)."""
    return optax.chain(
        optax.clip_by_global_norm(ppo.max_grad_norm),
        optax.inject_hyperparams(optax.adam)(learning_rate=ppo.lr, eps=ppo.adam_eps),
    )


def init_optimizer(ppo: PPOConfig, params, lr: jax.Array) -> optax.OptState:
    """Optimizer state for `params` with this run's learning rate."""
    state = make_optimizer(ppo).init(params)
    clip_state, adam_state = state
    hyperparams = dict(adam_state.hyperparams, learning_rate=jnp.asarray(lr, jnp.float32))
    return (clip_state, adam_state._replace(hyperparams=hyperparams))


def normalize_advantages(advantages: jax.Array) -> jax.Array:
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def clipped_losses(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    value: jax.Array,
    old_value: jax.Array,
    targets: jax.Array,
    clip_eps: jax.Array,
) -> dict[str, jax.Array]:
    """Clipped surrogate policy loss and clipped (Huber) value loss, plus diagnostics."""
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(
        ratio * advantages, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantages
    )
    value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    value_loss = jnp.maximum(
        optax.huber_loss(value, targets), optax.huber_loss(value_clipped, targets)
    )
    return {
        "policy_loss": -surrogate.mean(),
        "value_loss": value_loss.mean(),
        # The low-variance KL estimator (ratio - 1) - log ratio, always >= 0.
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "clip_frac": (jnp.abs(ratio - 1) > clip_eps).mean(),
    }
