"""A meta-RL agent: task inference (what the policy's z input is) plus an actor-critic policy.

Task inference modes:
  rl2      z_t = Linear(GRU(embed(a_{t-1}, r_{t-1}, s_t))); the PPO loss trains the GRU.
  varibad  the same network's readout is the posterior (mu_t, logvar_t) of a latent task,
           trained as a VAE with reward (and state) decoders; the policy reads it with the
           gradient stopped (the RL loss never trains the encoder).
  oracle   z_t = the true task vector (the multi-task upper bound); no memory.
The hidden state is zeroed exactly at trial starts (the `start` flag), nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from hyperjax.config import TrainConfig
from hyperjax.envs.base import TrialWrapper
from hyperjax.nets.decoder import VAEDecoders, grid_size_for
from hyperjax.nets.encoder import TrajectoryEncoder, unroll_encoder
from hyperjax.nets.policy import PolicyOutput, init_policy_params, make_policy


@dataclass(frozen=True)
class Agent:
    cfg: TrainConfig
    obs_dim: int
    action_dim: int
    discrete: bool
    task_dim: int

    @classmethod
    def for_env(cls, cfg: TrainConfig, env: TrialWrapper) -> Agent:
        return cls(
            cfg=cfg,
            obs_dim=env.observation_size,
            action_dim=env.action_size,
            discrete=env.discrete,
            task_dim=env.task_size,
        )

    # ---- shapes -------------------------------------------------------------------------------
    @property
    def uses_memory(self) -> bool:
        return self.cfg.algo != "oracle"

    @property
    def z_dim(self) -> int:
        return 2 * self.cfg.encoder.latent_dim if self.uses_memory else self.task_dim

    @property
    def hidden_dim(self) -> int:
        # The oracle keeps a 1-wide dummy so every agent's carry has the same structure.
        return self.cfg.encoder.gru_dim if self.uses_memory else 1

    @property
    def encoder(self) -> TrajectoryEncoder:
        return TrajectoryEncoder(self.cfg.encoder, out_dim=self.z_dim)

    @property
    def decoders(self) -> VAEDecoders:
        vae = self.cfg.vae
        grid_size = None
        if vae.decode_reward and vae.reward_decoder == "multihead":
            grid_size = grid_size_for(self.cfg)
        return VAEDecoders(vae, obs_dim=self.obs_dim, grid_size=grid_size)

    @property
    def policy(self):
        return make_policy(self.cfg.policy, self.action_dim, self.discrete)

    # ---- parameters ---------------------------------------------------------------------------
    def init(self, key: jax.Array, scheme: str) -> dict:
        """Initial parameters of one run: the encoder (scheme-independent) and the policy."""
        encoder_key, policy_key = jax.random.split(key)
        params = {
            "policy": init_policy_params(
                self.cfg.policy,
                scheme,
                policy_key,
                self.obs_dim,
                self.z_dim,
                self.action_dim,
                self.discrete,
            )
        }
        if self.uses_memory:
            dummy = (
                jnp.zeros((1, self.hidden_dim)),
                jnp.zeros((1, self.action_dim)),
                jnp.zeros((1,)),
                jnp.zeros((1, self.obs_dim)),
                jnp.ones((1,), bool),
            )
            params["encoder"] = self.encoder.init(encoder_key, *dummy)
        if self.cfg.algo == "varibad":
            # Every decoder layer is a PyTorch-default nn.Linear (hyper models/decoder.py).
            latent = jnp.zeros((1, self.cfg.encoder.latent_dim))
            obs, action = jnp.zeros((1, self.obs_dim)), jnp.zeros((1, self.action_dim))
            decoder_key = jax.random.fold_in(encoder_key, 1)
            params["decoder"] = self.decoders.init(decoder_key, latent, obs, action, obs)
        return params

    # ---- forward ------------------------------------------------------------------------------
    def action_features(self, action: jax.Array) -> jax.Array:
        """How the previous action enters the encoder: one-hot if discrete."""
        if self.discrete:
            return jax.nn.one_hot(action, self.action_dim)
        return action.astype(jnp.float32)

    def encode_step(self, params, hidden, prev_action, prev_reward, obs, start, task):
        """One step of task inference for a batch -> (hidden, z)."""
        if not self.uses_memory:
            return hidden, task
        hidden, z = self.encoder.apply(
            params["encoder"], hidden, prev_action, prev_reward, obs, start
        )
        if self.cfg.algo == "varibad":
            z = jax.lax.stop_gradient(z)  # the policy's loss must not train the posterior
        return hidden, z

    def encode_sequence(self, params, hidden, prev_action, prev_reward, obs, start, task):
        """Task inference over time-major sequences (T, B, ...) -> z (T, B, z_dim)."""
        if not self.uses_memory:
            return task
        _, z = unroll_encoder(
            self.encoder, params["encoder"], hidden, prev_action, prev_reward, obs, start
        )
        return z

    def posterior_sequence(
        self, encoder_params, prev_action, prev_reward, obs, start, return_hidden: bool = False
    ):
        """VariBAD's posterior over time-major sequences from a zero memory -> (mu, logvar), or
        with `return_hidden` the memory after every step (T, B, H) as well: (hiddens, (mu,
        logvar))."""
        hidden = jnp.zeros(obs.shape[1:-1] + (self.hidden_dim,))
        hiddens, out = unroll_encoder(
            self.encoder, encoder_params, hidden, prev_action, prev_reward, obs, start
        )
        posterior = tuple(jnp.split(out, 2, axis=-1))
        return (hiddens, posterior) if return_hidden else posterior

    def act(self, params, obs: jax.Array, z: jax.Array) -> PolicyOutput:
        return self.policy.apply(params["policy"], obs, z)
