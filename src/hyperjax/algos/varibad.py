"""VariBAD (Zintgraf et al., 2020): a trial buffer in the training state, and the ELBO.

Trial buffer. A FIFO of `capacity` trial slots, each `trial_length` steps long, kept inside the
jitted training state. Every env writes its current trial straight into a slot it was given at
the trial's start (one small scatter per step, no copies); when the trial ends the slot is marked
complete with its length and the env takes the next slot in FIFO order, which overwrites the
oldest trial. Sampling draws only complete slots, so a VAE update never sees a half-written
trial. Per step a slot stores what the encoder and the decoders need: the observation s_t (as
the policy saw it, normalised), the action a_t (one-hot if discrete), the reward r_t and the
next observation s_{t+1} before any reset.

ELBO. For each sampled trial the encoder runs over the whole trial from a zero memory, giving the
posterior q_t = N(mu_t, exp(logvar_t)) after the inputs (a_{t-1}, r_{t-1}, s_t). For
`elbo_steps` sampled t, z ~ q_t decodes the rewards of `decode_steps` sampled timesteps of the
*whole* trial (past and future). KL(q_t || q_{t-1}) with q_{-1} = N(0, I), over every step.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax

from hyperjax.config import VAEConfig


class TrialBuffer(flax.struct.PyTreeNode):
    obs: jax.Array  # (C, L, S)
    action: jax.Array  # (C, L, A)
    reward: jax.Array  # (C, L)
    next_obs: jax.Array  # (C, L, S)
    length: jax.Array  # (C,) int32, steps of a complete trial (0 while being written)
    complete: jax.Array  # (C,) bool
    slot: jax.Array  # (E,) int32, the slot each env writes its current trial into
    position: jax.Array  # (E,) int32, the step within the current trial
    next_slot: jax.Array  # () int32, the next slot to hand out (mod C)
    trials_done: jax.Array  # () int32, trials completed so far

    @property
    def capacity(self) -> int:
        return self.reward.shape[0]


def buffer_init(
    capacity: int, num_envs: int, trial_length: int, obs_dim: int, action_dim: int
) -> TrialBuffer:
    """An empty buffer; envs 0..E-1 write their first trials into slots 0..E-1."""
    c, length = capacity, trial_length
    return TrialBuffer(
        obs=jnp.zeros((c, length, obs_dim)),
        action=jnp.zeros((c, length, action_dim)),
        reward=jnp.zeros((c, length)),
        next_obs=jnp.zeros((c, length, obs_dim)),
        length=jnp.zeros((c,), jnp.int32),
        complete=jnp.zeros((c,), bool),
        slot=jnp.arange(num_envs, dtype=jnp.int32),
        position=jnp.zeros((num_envs,), jnp.int32),
        next_slot=jnp.asarray(num_envs % c, jnp.int32),
        trials_done=jnp.zeros((), jnp.int32),
    )


def buffer_add_step(
    buffer: TrialBuffer,
    obs: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    next_obs: jax.Array,
    trial_end: jax.Array,
) -> TrialBuffer:
    """Write one step of every env (leading dim E); close and re-slot envs whose trial ended."""
    slot, pos = buffer.slot, buffer.position
    buffer = buffer.replace(
        obs=buffer.obs.at[slot, pos].set(obs),
        action=buffer.action.at[slot, pos].set(action),
        reward=buffer.reward.at[slot, pos].set(reward),
        next_obs=buffer.next_obs.at[slot, pos].set(next_obs),
    )
    # Finished trials: record their length and mark them complete (others write out of range,
    # which `mode="drop"` ignores).
    capacity = buffer.capacity
    closed = jnp.where(trial_end, slot, capacity)
    length = buffer.length.at[closed].set(pos + 1, mode="drop")
    complete = buffer.complete.at[closed].set(True, mode="drop")
    # Hand the next slots out in env order; a reused slot is incomplete until rewritten.
    rank = jnp.cumsum(trial_end.astype(jnp.int32)) - 1
    new_slot = jnp.where(trial_end, (buffer.next_slot + rank) % capacity, slot)
    opened = jnp.where(trial_end, new_slot, capacity)
    num_ended = trial_end.sum(dtype=jnp.int32)
    return buffer.replace(
        length=length.at[opened].set(0, mode="drop"),
        complete=complete.at[opened].set(False, mode="drop"),
        slot=new_slot.astype(jnp.int32),
        position=jnp.where(trial_end, 0, pos + 1).astype(jnp.int32),
        next_slot=(buffer.next_slot + num_ended) % capacity,
        trials_done=buffer.trials_done + num_ended,
    )


def buffer_sample(buffer: TrialBuffer, key: jax.Array, num: int) -> jax.Array:
    """Indices of `num` complete slots, uniformly with replacement. Needs >= 1 complete slot."""
    weights = buffer.complete.astype(jnp.float32)
    return jax.random.choice(
        key, buffer.capacity, (num,), p=weights / jnp.maximum(weights.sum(), 1)
    )


def gaussian_kl(mu: jax.Array, logvar: jax.Array, mu0: jax.Array, logvar0: jax.Array) -> jax.Array:
    """KL(N(mu, e^logvar) || N(mu0, e^logvar0)) for diagonal Gaussians, summed over the last dim."""
    return 0.5 * jnp.sum(
        logvar0 - logvar + (jnp.exp(logvar) + jnp.square(mu - mu0)) / jnp.exp(logvar0) - 1.0,
        axis=-1,
    )


def sequential_kl(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(q_t || q_{t-1}) per step for time-major posteriors (T, ...); q_{-1} = N(0, I)."""
    prev_mu = jnp.concatenate([jnp.zeros_like(mu[:1]), mu[:-1]], axis=0)
    prev_logvar = jnp.concatenate([jnp.zeros_like(logvar[:1]), logvar[:-1]], axis=0)
    return gaussian_kl(mu, logvar, prev_mu, prev_logvar)


def encoder_inputs(action: jax.Array, reward: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(a_{t-1}, r_{t-1}) of batch-major trials (N, L, ...): shifted right, zero at t = 0."""
    prev_action = jnp.concatenate([jnp.zeros_like(action[:, :1]), action[:, :-1]], axis=1)
    prev_reward = jnp.concatenate([jnp.zeros_like(reward[:, :1]), reward[:, :-1]], axis=1)
    return prev_action, prev_reward


def elbo_terms(
    encode,
    decode,
    key: jax.Array,
    trials: dict[str, jax.Array],
    length: jax.Array,
    cfg: VAEConfig,
) -> dict[str, jax.Array]:
    """Reconstruction and KL terms of a batch of trials (N, L, ...) with lengths (N,).

    encode(prev_action, prev_reward, obs, start) -> (mu, logvar), all time-major (L, N, ...).
    decode(z, obs, action, next_obs) -> {"reward": ..., ["next_obs": ...]}, broadcasting.
    """
    num, trial_len = trials["reward"].shape
    prev_action, prev_reward = encoder_inputs(trials["action"], trials["reward"])
    start = jnp.zeros((trial_len, num), bool).at[0].set(True)
    time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    mu, logvar = encode(
        time_major(prev_action), time_major(prev_reward), time_major(trials["obs"]), start
    )
    mu, logvar = time_major(mu), time_major(logvar)  # (N, L, latent)

    valid = jnp.arange(trial_len)[None, :] < length[:, None]  # (N, L)
    kl = time_major(sequential_kl(time_major(mu), time_major(logvar)))
    kl = jnp.sum(kl * valid) / jnp.maximum(valid.sum(), 1)

    t_key, j_key, z_key = jax.random.split(key, 3)
    high = jnp.maximum(length, 1)[:, None]
    t = jax.random.randint(t_key, (num, cfg.elbo_steps), 0, high)  # posterior steps
    j = jax.random.randint(j_key, (num, cfg.decode_steps), 0, high)  # decoded steps
    take = lambda x, idx: jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), 1)  # noqa: E731
    mu_t, logvar_t = take(mu, t), take(logvar, t)
    z = mu_t + jnp.exp(0.5 * logvar_t) * jax.random.normal(z_key, mu_t.shape)  # (N, Te, latent)
    obs_j, action_j = take(trials["obs"], j), take(trials["action"], j)
    next_obs_j, reward_j = take(trials["next_obs"], j), take(trials["reward"], j)
    # Every (posterior sample, decoded step) pair: (N, Te, 1, .) against (N, 1, Td, .).
    predicted = decode(z[:, :, None], obs_j[:, None], action_j[:, None], next_obs_j[:, None])
    reward_error = jnp.square(predicted["reward"] - reward_j[:, None])  # (N, Te, Td)
    terms = {"reward_loss": reward_error.sum(-1).mean(), "kl": kl}
    if "next_obs" in predicted:
        state_error = jnp.square(predicted["next_obs"] - next_obs_j[:, None]).sum(-1)
        terms["state_loss"] = state_error.sum(-1).mean()
    return terms


def vae_loss(terms: dict[str, jax.Array], cfg: VAEConfig) -> jax.Array:
    loss = terms["reward_loss"] + cfg.kl_weight * terms["kl"]
    if "state_loss" in terms:
        loss = loss + terms["state_loss"]
    return loss


def make_vae_optimizer(cfg: VAEConfig) -> optax.GradientTransformation:
    return optax.adam(cfg.lr)
