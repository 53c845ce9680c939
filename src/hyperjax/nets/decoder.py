"""VariBAD's decoders: from a latent task sample and a transition to its reward (and next state).

Inputs are embedded (relu Dense) and concatenated with the latent, then a relu MLP predicts the
target. Any leading dims broadcast, so one call decodes every (posterior sample, timestep) pair.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax.config import VAEConfig


class TransitionDecoder(nn.Module):
    """A relu MLP over [z, embed(s), embed(a)] and, if given, embed(s')."""

    cfg: VAEConfig
    out_dim: int

    @nn.compact
    def __call__(
        self, z: jax.Array, obs: jax.Array, action: jax.Array, next_obs: jax.Array | None = None
    ) -> jax.Array:
        cfg = self.cfg
        lead = jnp.broadcast_shapes(z.shape[:-1], obs.shape[:-1], action.shape[:-1])

        def embed(x: jax.Array, width: int, name: str) -> jax.Array:
            y = nn.relu(nn.Dense(width, name=name)(x))
            return jnp.broadcast_to(y, lead + (width,))

        parts = [
            jnp.broadcast_to(z, lead + z.shape[-1:]),
            embed(obs, cfg.state_embed_dim, "state_embed"),
            embed(action, cfg.action_embed_dim, "action_embed"),
        ]
        if next_obs is not None:
            parts.append(embed(next_obs, cfg.state_embed_dim, "next_state_embed"))
        h = jnp.concatenate(parts, axis=-1)
        for i, width in enumerate(cfg.decoder_hidden):
            h = nn.relu(nn.Dense(width, name=f"hidden_{i}")(h))
        return nn.Dense(self.out_dim, name="out")(h)


class VAEDecoders(nn.Module):
    """The reward decoder, and the next-state decoder if `cfg.decode_state`."""

    cfg: VAEConfig
    obs_dim: int

    @nn.compact
    def __call__(self, z, obs, action, next_obs) -> dict[str, jax.Array]:
        reward = TransitionDecoder(self.cfg, 1, name="reward")(z, obs, action, next_obs)
        out = {"reward": reward[..., 0]}
        if self.cfg.decode_state:  # predicts s' from (z, s, a): it must not see s'
            out["next_obs"] = TransitionDecoder(self.cfg, self.obs_dim, name="state")(
                z, obs, action
            )
        return out
