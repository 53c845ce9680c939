"""VariBAD's decoders, as the authors' `models/decoder.py` (jacooba/hyper) builds them.

Every layer is an nn.Linear with PyTorch's default init (`TorchDense`); inputs are embedded by
relu(Linear) (`FeatureExtractor`; width 0 drops the input), hidden layers are relu, the output
is linear. Any leading dims broadcast, so one call decodes every (posterior sample, timestep) pair.

- reward, "transition" (`RewardDecoder`, multi_head=False): [z, e_s(s'), e_a(a), e_s(s)] -> MLP
  `decoder_hidden` -> r. One state embedding e_s serves s' and s (the reference's single
  `state_encoder`), in the reference's concatenation order.
- reward, "multihead" (`RewardDecoder`, multi_head=True, grid world): z -> MLP `decoder_hidden`
  -> one output per grid cell; the prediction for a transition is the output at the cell of s'.
  The cell of an observation is x * size + y (the reference's `GridNavi.task_to_id`, row-major
  over (x, y)), read from the first two entries of our grid-world observation (x, y[, flag]).
- state (`StateTransitionDecoder`): [z, e_s(s), e_a(a)] -> MLP `state_decoder_hidden` -> s'.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax.config import TrainConfig, VAEConfig
from hyperjax.errors import ConfigError
from hyperjax.nets.encoder import TorchDense


def grid_cell_index(obs: jax.Array, size: int) -> jax.Array:
    """The cell id x * size + y of grid-world observations (..., >= 2) whose first two entries
    are the integer cell coordinates (x, y); as the reference's `task_to_id`."""
    xy = jnp.clip(obs[..., :2].astype(jnp.int32), 0, size - 1)
    return xy[..., 0] * size + xy[..., 1]


def grid_size_for(cfg: TrainConfig) -> int:
    """The side of the grid world whose every cell a multi-head reward decoder predicts."""
    from hyperjax import envs  # late import: envs pulls in Brax

    size = getattr(envs.make(cfg.env, **cfg.env_overrides()), "size", None)
    if cfg.env != "grid-world" or not isinstance(size, int):
        raise ConfigError(
            f"vae.reward_decoder: 'multihead' needs env 'grid-world' (one head per cell), got "
            f"env {cfg.env!r}; allowed otherwise: transition"
        )
    return size


def _optional_dense(width: int, name: str) -> nn.Module | None:
    """A decoder input embedding, or None where its width is 0 (that input is dropped)."""
    return TorchDense(width, name=name) if width else None


def _embed(layer: nn.Module | None, x: jax.Array, lead: tuple[int, ...]) -> list[jax.Array]:
    if layer is None:
        return []
    y = nn.relu(layer(x))
    return [jnp.broadcast_to(y, lead + y.shape[-1:])]


def _mlp(h: jax.Array, hidden: tuple[int, ...], out_dim: int, prefix: str) -> jax.Array:
    for i, width in enumerate(hidden):
        h = nn.relu(TorchDense(width, name=f"{prefix}hidden_{i}")(h))
    return TorchDense(out_dim, name=f"{prefix}out")(h)


class RewardDecoder(nn.Module):
    """r(z, s, a, s'): one output per transition ("transition") or per grid cell ("multihead")."""

    cfg: VAEConfig
    grid_size: int | None = None  # needed by "multihead"

    @nn.compact
    def __call__(self, z, obs, action, next_obs) -> jax.Array:
        cfg = self.cfg
        if cfg.reward_decoder == "multihead":
            logits = _mlp(z, cfg.decoder_hidden, self.grid_size**2, "")
            cell = grid_cell_index(next_obs, self.grid_size)
            lead = jnp.broadcast_shapes(logits.shape[:-1], cell.shape)
            logits = jnp.broadcast_to(logits, lead + logits.shape[-1:])
            cell = jnp.broadcast_to(cell, lead)
            return jnp.take_along_axis(logits, cell[..., None], axis=-1)[..., 0]
        lead = jnp.broadcast_shapes(
            z.shape[:-1], obs.shape[:-1], action.shape[:-1], next_obs.shape[:-1]
        )
        state_embed = _optional_dense(cfg.state_embed_dim, "state_embed")
        action_embed = _optional_dense(cfg.action_embed_dim, "action_embed")
        parts = [jnp.broadcast_to(z, lead + z.shape[-1:])]
        parts += _embed(state_embed, next_obs, lead)
        parts += _embed(action_embed, action, lead)
        parts += _embed(state_embed, obs, lead)
        return _mlp(jnp.concatenate(parts, axis=-1), cfg.decoder_hidden, 1, "")[..., 0]


class StateDecoder(nn.Module):
    """s'(z, s, a): predicts the next observation; it never sees s'."""

    cfg: VAEConfig
    obs_dim: int

    @nn.compact
    def __call__(self, z, obs, action) -> jax.Array:
        cfg = self.cfg
        lead = jnp.broadcast_shapes(z.shape[:-1], obs.shape[:-1], action.shape[:-1])
        state_embed = _optional_dense(cfg.state_embed_dim, "state_embed")
        action_embed = _optional_dense(cfg.action_embed_dim, "action_embed")
        parts = [jnp.broadcast_to(z, lead + z.shape[-1:])]
        parts += _embed(state_embed, obs, lead)
        parts += _embed(action_embed, action, lead)
        h = jnp.concatenate(parts, axis=-1)
        return _mlp(h, cfg.state_decoder_hidden, self.obs_dim, "")


class VAEDecoders(nn.Module):
    """The reward decoder if `cfg.decode_reward`, the next-state decoder if `cfg.decode_state`.

    Returns {"reward": (...,) [, "next_obs": (..., obs_dim)]}; "reward" is a logit when
    `cfg.reward_loss == "bernoulli"`.
    """

    cfg: VAEConfig
    obs_dim: int
    grid_size: int | None = None

    @nn.compact
    def __call__(self, z, obs, action, next_obs) -> dict[str, jax.Array]:
        out = {}
        if self.cfg.decode_reward:
            out["reward"] = RewardDecoder(self.cfg, self.grid_size, name="reward")(
                z, obs, action, next_obs
            )
        if self.cfg.decode_state:
            out["next_obs"] = StateDecoder(self.cfg, self.obs_dim, name="state")(z, obs, action)
        return out
