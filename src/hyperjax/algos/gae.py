"""Generalised advantage estimation with meta-RL trial semantics.

The learner's episode is the *trial* (k episodes of one task). Inside a trial an episode end is an
ordinary transition: the next observation is the next episode's first, the hidden state carries
on, and so does the return. The end of a trial cuts the recursion; there the bootstrap value is 0
after a true termination and, with `bootstrap_values`, V(final observation) after a time-limit
truncation. The authors' code treats time limits another way (`PPOConfig.time_limit_gae`):
no bootstrap, but every step that hit an episode's time limit gets advantage 0, value target
V(s), and cuts the recursion (`zero_at`; H algorithms/online_storage.py:178-186).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bootstrap_values(
    next_values: jax.Array,
    final_values: jax.Array,
    trial_end: jax.Array,
    truncated: jax.Array,
    bootstrap_truncation: bool = True,
) -> jax.Array:
    """The value to bootstrap from after each step, shape (T, ...).

    next_values: V of the observation the next step starts from (for steps that end a trial this
      belongs to a new task and is not used). final_values: V of the pre-reset final observation.
    """
    at_trial_end = jnp.where(truncated & bootstrap_truncation, final_values, 0.0)
    return jnp.where(trial_end, at_trial_end, next_values)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    bootstrap: jax.Array,
    trial_end: jax.Array,
    gamma: float | jax.Array,
    lam: float | jax.Array,
    zero_at: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets, all arrays time-major (T, ...).

    bootstrap[t] is the value after step t (see `bootstrap_values`); trial_end[t] cuts the
    recursion between t and t+1. zero_at[t] (the authors' bad_masks) sets step t's advantage to
    0, and so its target to values[t], which also cuts the recursion before t.
    """
    deltas = rewards + gamma * bootstrap - values
    continues = 1.0 - trial_end.astype(rewards.dtype)
    keeps = jnp.ones_like(deltas) if zero_at is None else 1.0 - zero_at.astype(deltas.dtype)

    def backward(next_advantage, step):
        delta, cont, keep = step
        advantage = (delta + gamma * lam * cont * next_advantage) * keep
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, continues, keeps), reverse=True
    )
    return advantages, advantages + values
