"""Action distributions read from a `PolicyOutput`.

Gaussian (continuous): diagonal, mean = `mean_or_logits`, std = exp(`log_std`), actions
(..., action_dim) float. Categorical (discrete): logits = `mean_or_logits`, actions (...,) int32.
Log-probabilities and entropies are per sample, shape (...,).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from hyperjax.nets.policy import PolicyOutput

_HALF_LOG_2PI_E = 0.5 * (1.0 + jnp.log(2.0 * jnp.pi))  # entropy of N(0, 1)


def sample(out: PolicyOutput, key: jax.Array, discrete: bool) -> jax.Array:
    """One action per sample."""
    if discrete:
        return jax.random.categorical(key, out.mean_or_logits, axis=-1).astype(jnp.int32)
    noise = jax.random.normal(key, out.mean_or_logits.shape, out.mean_or_logits.dtype)
    return out.mean_or_logits + jnp.exp(out.log_std) * noise


def log_prob(out: PolicyOutput, actions: jax.Array, discrete: bool) -> jax.Array:
    """log pi(actions), summed over action dimensions for the Gaussian."""
    if discrete:
        log_probs = jax.nn.log_softmax(out.mean_or_logits, axis=-1)
        # A one-hot product (not take_along_axis) broadcasts actions against the logits' batch.
        return jnp.sum(jax.nn.one_hot(actions, log_probs.shape[-1]) * log_probs, axis=-1)
    per_dim = norm.logpdf(actions, loc=out.mean_or_logits, scale=jnp.exp(out.log_std))
    return per_dim.sum(axis=-1)


def entropy(out: PolicyOutput, discrete: bool) -> jax.Array:
    """Entropy of pi(. | obs, z) per sample."""
    if discrete:
        log_probs = jax.nn.log_softmax(out.mean_or_logits, axis=-1)
        return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    per_sample = jnp.sum(_HALF_LOG_2PI_E + out.log_std)
    return jnp.broadcast_to(per_sample, out.mean_or_logits.shape[:-1])


def mode(out: PolicyOutput, discrete: bool) -> jax.Array:
    """The most likely action (for evaluation)."""
    if discrete:
        return jnp.argmax(out.mean_or_logits, axis=-1).astype(jnp.int32)
    return out.mean_or_logits
