"""Recurrent task encoder: (previous action, previous reward, state) -> GRU -> task latent.

Used as RL2's memory (trained by the PPO loss) and as VariBAD's posterior network. The input
embeddings of a whole sequence are computed in one batched call (`embed`); only the GRU recurrence
runs step by step (`recur`), which is the cheap way to unroll it inside a loss.

Initialisation as the authors' code (jacooba/hyper): the embeddings are `FeatureExtractor`s
(`utils/helpers.py`), i.e. relu(nn.Linear) with PyTorch's default init, W and b ~ U(+-1/sqrt(fan
in)); an embedding of width 0 is dropped. The GRU is `nn.GRU` re-initialised by
`Aggregator.init_rnn` (`models/aggregator.py`): every weight matrix orthogonal as PyTorch stacks it
(gates r, z, n in one (3H, fan_in) matrix), every bias 0. The readout to the latent is an
nn.Linear with the default init (`fc_after_agg`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax.config import EncoderConfig
from hyperjax.nets.inits import orthogonal, torch_linear_bias, torch_linear_default


class TorchDense(nn.Module):
    """A linear layer initialised as PyTorch's nn.Linear: W, b ~ U(+-1/sqrt(fan_in))."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        kernel = self.param("kernel", torch_linear_default(), (fan_in, self.features))
        bias = self.param("bias", torch_linear_bias(fan_in), (self.features,))
        return x @ kernel + bias


class TorchGRUCell(nn.Module):
    """PyTorch's GRU cell, with the reference's init: orthogonal stacked weights, zero biases.

    Kernels are stored input-major (fan_in, 3H), gates in PyTorch's order (r, z, n):
      r = sigmoid(x W_ir + b_ir + h W_hr + b_hr), z likewise,
      n = tanh(x W_in + b_in + r * (h W_hn + b_hn)),  h' = (1 - z) n + z h.
    An orthogonal (fan_in, 3H) draw is the transpose of PyTorch's orthogonal (3H, fan_in) one.
    """

    features: int

    @nn.compact
    def __call__(self, hidden: jax.Array, x: jax.Array) -> jax.Array:
        h = self.features
        w_i = self.param("input_kernel", orthogonal(1.0), (x.shape[-1], 3 * h))
        w_h = self.param("hidden_kernel", orthogonal(1.0), (h, 3 * h))
        b_i = self.param("input_bias", nn.initializers.zeros, (3 * h,))
        b_h = self.param("hidden_bias", nn.initializers.zeros, (3 * h,))
        gi = x @ w_i + b_i
        gh = hidden @ w_h + b_h
        r = jax.nn.sigmoid(gi[..., :h] + gh[..., :h])
        z = jax.nn.sigmoid(gi[..., h : 2 * h] + gh[..., h : 2 * h])
        n = jnp.tanh(gi[..., 2 * h :] + r * gh[..., 2 * h :])
        return (1.0 - z) * n + z * hidden


class TrajectoryEncoder(nn.Module):
    """Embeds transitions, updates a GRU, and reads out `out_dim` features per step."""

    cfg: EncoderConfig
    out_dim: int

    def setup(self) -> None:
        cfg = self.cfg
        self.action_embed = TorchDense(cfg.action_embed_dim) if cfg.action_embed_dim else None
        self.reward_embed = TorchDense(cfg.reward_embed_dim) if cfg.reward_embed_dim else None
        self.state_embed = TorchDense(cfg.state_embed_dim) if cfg.state_embed_dim else None
        self.gru = TorchGRUCell(cfg.gru_dim)
        self.readout = TorchDense(self.out_dim)

    def embed(self, prev_action: jax.Array, prev_reward: jax.Array, obs: jax.Array) -> jax.Array:
        """Per-step GRU inputs, any leading dims: (..., A), (...,), (..., S) -> (..., E)."""
        parts = []
        if self.action_embed is not None:
            parts.append(nn.relu(self.action_embed(prev_action)))
        if self.reward_embed is not None:
            parts.append(nn.relu(self.reward_embed(prev_reward[..., None])))
        if self.state_embed is not None:
            parts.append(nn.relu(self.state_embed(obs)))
        return jnp.concatenate(parts, axis=-1)

    def recur(self, hidden: jax.Array, x: jax.Array, start: jax.Array) -> jax.Array:
        """One GRU step; the hidden state is zeroed where a trial starts."""
        hidden = jnp.where(start[..., None], 0.0, hidden)
        return self.gru(hidden, x)

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
