"""Recurrent task encoder: (previous action, previous reward, state) -> GRU -> task latent.

Used as RL2's memory (trained by the PPO loss) and as VariBAD's posterior network. The input
embeddings of a whole sequence are computed in one batched call (`embed`); only the GRU recurrence
runs step by step (`recur`), which is the cheap way to unroll it inside a loss.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax.config import EncoderConfig


class TrajectoryEncoder(nn.Module):
    """Embeds transitions, updates a GRU, and reads out `out_dim` features per step."""

    cfg: EncoderConfig
    out_dim: int

    def setup(self) -> None:
        self.action_embed = nn.Dense(self.cfg.action_embed_dim)
        self.reward_embed = nn.Dense(self.cfg.reward_embed_dim)
        self.state_embed = nn.Dense(self.cfg.state_embed_dim)
        self.gru = nn.GRUCell(self.cfg.gru_dim)
        self.readout = nn.Dense(self.out_dim)

    def embed(self, prev_action: jax.Array, prev_reward: jax.Array, obs: jax.Array) -> jax.Array:
        """Per-step GRU inputs, any leading dims: (..., A), (...,), (..., S) -> (..., E)."""
        return jnp.concatenate(
            [
                nn.relu(self.action_embed(prev_action)),
                nn.relu(self.reward_embed(prev_reward[..., None])),
                nn.relu(self.state_embed(obs)),
            ],
            axis=-1,
        )

    def recur(self, hidden: jax.Array, x: jax.Array, start: jax.Array) -> jax.Array:
        """One GRU step; the hidden state is zeroed where a trial starts."""
        hidden = jnp.where(start[..., None], 0.0, hidden)
        hidden, _ = self.gru(hidden, x)
        return hidden

    def read(self, hidden: jax.Array) -> jax.Array:
        return self.readout(hidden)

    def __call__(self, hidden, prev_action, prev_reward, obs, start):
        """One full step (used for initialisation and in the rollout)."""
        hidden = self.recur(hidden, self.embed(prev_action, prev_reward, obs), start)
        return hidden, self.read(hidden)


def unroll_encoder(
    encoder: TrajectoryEncoder,
    params,
    hidden: jax.Array,
    prev_action: jax.Array,
    prev_reward: jax.Array,
    obs: jax.Array,
    start: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Time-major sequences (T, B, ...) from initial hidden (B, H) -> hiddens, outputs (T, B, .)."""
    xs = encoder.apply(params, prev_action, prev_reward, obs, method=TrajectoryEncoder.embed)

    def step(h, inputs):
        x, s = inputs
        h = encoder.apply(params, h, x, s, method=TrajectoryEncoder.recur)
        return h, h

    _, hiddens = jax.lax.scan(step, hidden, (xs, start))
    return hiddens, encoder.apply(params, hiddens, method=TrajectoryEncoder.read)
