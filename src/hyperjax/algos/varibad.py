"""VariBAD (Zintgraf et al., 2020) as the authors' code runs it: a trial buffer in the training
state, the ELBO and its reduction, and the re-encoding of the running trials.

Trial buffer. A FIFO of `capacity` trial slots, each `trial_length` steps long, kept inside the
jitted training state. Every env writes its current trial straight into a slot it was given at
the trial's start (one small scatter per step, no copies); when the trial ends the slot is marked
complete with its length and the env takes the next slot in FIFO order, which overwrites the
oldest trial. Slots that another env still writes into are skipped, so with trials of different
lengths no slot is ever held by two envs. Sampling draws only complete slots, so a VAE update
never sees a half-written trial. Per step a slot stores what the encoder and the decoders need:
the raw observation s_t, the action a_t (one-hot if discrete), the reward r_t and the next
observation s_{t+1} before any reset.

ELBO (jacooba/hyper `vae.py` compute_loss). A trial of H steps has H + 1 posteriors q_0..q_H: q_t
after the encoder's inputs (0, 0, s_0), (a_0, r_0, s_1), ..., (a_{t-1}, r_{t-1}, s_t), where the
last s_H is the trial's final next observation. Steps after a shorter trial's end are zero, as
the reference's zero-padded batches. For `elbo_steps` sampled t (None: every t <= H), one
z ~ q_t decodes `decode_steps` timesteps j < H sampled independently for every ELBO term (None:
all of them) from the *whole* trial. KL(q_t || q_{t-1}) with q_{-1} = N(0, I). How the terms
are summed or averaged is `VAEConfig.loss_reduction` (see its docstring and `elbo_terms`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics

from hyperjax.config import TrainConfig, VAEConfig

if TYPE_CHECKING:
    from hyperjax.agent import Agent


class TrialBuffer(flax.struct.PyTreeNode):
    obs: jax.Array  # (C, L, S)
    action: jax.Array  # (C, L, A)
    reward: jax.Array  # (C, L)
    next_obs: jax.Array  # (C, L, S)
    length: jax.Array  # (C,) int32, steps of a complete trial (0 while being written)
    complete: jax.Array  # (C,) bool
    slot: jax.Array  # (E,) int32, the slot each env writes its current trial into
    position: jax.Array  # (E,) int32, the step within the current trial
    next_slot: jax.Array  # () int32, where the FIFO search for the next free slot starts
    trials_done: jax.Array  # () int32, trials completed so far

    @property
    def capacity(self) -> int:
        return self.reward.shape[0]


def buffer_init(
    capacity: int, num_envs: int, trial_length: int, obs_dim: int, action_dim: int
) -> TrialBuffer:
    """An empty buffer; envs 0..E-1 write their first trials into slots 0..E-1."""
    if capacity < num_envs:
        raise ValueError(f"buffer capacity {capacity} < {num_envs} envs")
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
    # Hand out the next slots in FIFO order from `next_slot`, in env order, skipping the slots
    # that envs still in their trial hold (with trials of different lengths the FIFO cursor can
    # reach them). At most E - (ended) slots are held, so the (ended)-th free slot lies within
    # the next E slots: the search looks at those only, O(E log E) per step whatever the
    # capacity (searching all of it took 18 ms per 60-step rollout with the paper's 100,000
    # trials, 0.5 ms now: benchmarks/RESULTS.md).
    num_envs = slot.shape[0]
    order = (buffer.next_slot + jnp.arange(num_envs)) % capacity  # the next E slots, FIFO order
    held_slots = jnp.sort(jnp.where(trial_end, -1, slot))  # -1: the env's trial just ended
    found = jnp.clip(jnp.searchsorted(held_slots, order), 0, num_envs - 1)
    held = held_slots[found] == order
    free_so_far = jnp.cumsum((~held).astype(jnp.int32))  # free slots up to each offset
    rank = jnp.cumsum(trial_end.astype(jnp.int32))  # 1-based rank of an ending env
    offset = jnp.searchsorted(free_so_far, rank, side="left")  # offset of its free slot
    new_slot = jnp.where(trial_end, order[jnp.minimum(offset, num_envs - 1)], slot)
    num_ended = trial_end.sum(dtype=jnp.int32)
    last_offset = jnp.searchsorted(free_so_far, num_ended, side="left")
    next_slot = jnp.where(
        num_ended > 0, (buffer.next_slot + last_offset + 1) % capacity, buffer.next_slot
    )
    opened = jnp.where(trial_end, new_slot, capacity)
    return buffer.replace(
        length=length.at[opened].set(0, mode="drop"),
        complete=complete.at[opened].set(False, mode="drop"),
        slot=new_slot.astype(jnp.int32),
        position=jnp.where(trial_end, 0, pos + 1).astype(jnp.int32),
        next_slot=next_slot.astype(jnp.int32),
        trials_done=buffer.trials_done + num_ended,
    )


def buffer_sample(
    buffer: TrialBuffer, key: jax.Array, num: int, replace: bool = False
) -> jax.Array:
    """Indices of `num` complete slots, uniformly. Without replacement (the authors' get_batch,
    H utils/storage_vae.py:172-176) it needs >= `num` complete slots (TrainConfig checks that
    the buffer holds them once `batch_trials` trials are done); with it, >= 1."""
    weights = buffer.complete.astype(jnp.float32)
    return jax.random.choice(
        key, buffer.capacity, (num,), replace=replace, p=weights / jnp.maximum(weights.sum(), 1)
    )


def running_trials(buffer: TrialBuffer) -> tuple[jax.Array, ...]:
    """Encoder inputs of every env's current, partially written trial, time-major (L, E, ...):
    (prev_action, prev_reward, obs, start); step t < position[e] is what env e's memory saw."""
    prev_action, prev_reward = encoder_inputs(
        buffer.action[buffer.slot], buffer.reward[buffer.slot]
    )
    obs = buffer.obs[buffer.slot]
    num_envs, trial_len = prev_reward.shape
    start = jnp.zeros((trial_len, num_envs), bool).at[0].set(True)
    time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    return time_major(prev_action), time_major(prev_reward), time_major(obs), start


def reencode_running_trials(
    unroll_hidden: Callable[..., jax.Array], buffer: TrialBuffer, hidden: jax.Array
) -> jax.Array:
    """Each env's memory recomputed from its running trial (the reference's
    `encode_running_trajectory`, metalearner.py): the hidden state after the `position` steps
    written so far. Envs at a trial's start keep `hidden` (the next step zeroes it anyway).

    unroll_hidden(prev_action, prev_reward, obs, start) -> hidden states (L, E, H) from zero.
    """
    hiddens = unroll_hidden(*running_trials(buffer))
    position = buffer.position
    last = hiddens[jnp.maximum(position - 1, 0), jnp.arange(position.shape[0])]
    return jnp.where((position > 0)[:, None], last, hidden)


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


def posterior_inputs(trials: dict[str, jax.Array], length: jax.Array) -> tuple[jax.Array, ...]:
    """Encoder inputs of the H + 1 posteriors of batch-major trials (N, L, ...), zero after each
    trial's end, time-major (L + 1, N, ...): (prev_action, prev_reward, obs, start)."""
    num, trial_len = trials["reward"].shape
    valid = jnp.arange(trial_len)[None, :] < length[:, None]  # (N, L)
    action = jnp.where(valid[..., None], trials["action"], 0.0)
    reward = jnp.where(valid, trials["reward"], 0.0)
    obs = jnp.where(valid[..., None], trials["obs"], 0.0)
    rows = jnp.arange(num)
    last = jnp.maximum(length, 1) - 1
    final_obs = jnp.where((length > 0)[:, None], trials["next_obs"][rows, last], 0.0)
    obs = jnp.concatenate([obs, jnp.zeros_like(obs[:, :1])], axis=1).at[rows, length].set(final_obs)
    prev_action = jnp.concatenate([jnp.zeros_like(action[:, :1]), action], axis=1)
    prev_reward = jnp.concatenate([jnp.zeros_like(reward[:, :1]), reward], axis=1)
    start = jnp.zeros((trial_len + 1, num), bool).at[0].set(True)
    time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    return time_major(prev_action), time_major(prev_reward), time_major(obs), start


def _take(x: jax.Array, idx: jax.Array) -> jax.Array:
    """x (N, T, ...) at per-row indices idx (N, ...) -> (N, ..., x's trailing dims)."""
    flat = idx.reshape(idx.shape[0], -1)
    out = jnp.take_along_axis(x, flat.reshape(flat.shape + (1,) * (x.ndim - 2)), axis=1)
    return out.reshape(idx.shape + x.shape[2:])


def reduce_reconstruction(error: jax.Array, mask: jax.Array, cfg: VAEConfig) -> jax.Array:
    """Per-(trial, ELBO term, decoded step) errors (N, Te, Td) -> one reconstruction term.

    "hyper" / "varibad" (vae_avg_elbo_terms = vae_avg_reconstruction_terms = False): summed
    over decoded steps and ELBO terms, averaged over trials. "mean": summed over decoded steps,
    averaged over (trial, ELBO term) pairs.
    """
    per_trial = jnp.sum(error * mask, axis=(1, 2))  # (N,)
    if cfg.loss_reduction == "mean":
        return per_trial.sum() / jnp.maximum(jnp.any(mask, axis=2).sum(), 1)
    return per_trial.mean()


def reduce_kl(
    kl: jax.Array, t_index: jax.Array, t_valid: jax.Array, valid: jax.Array, cfg: VAEConfig
) -> jax.Array:
    """Per-(trial, posterior) KLs (N, L + 1) -> the KL term.

    t_index (N, Te): each trial's ELBO timesteps; t_valid (N, Te): which are real; valid
    (N, L + 1): posteriors inside their trial (t <= H_n).
    "hyper": the reference indexes the (time, trial) KL matrix with the whole batch's B x Te
      sampled timesteps along time only, so every trial's KL at every sampled timestep counts:
      sum_{i over all sampled t_i} sum_n kl[n, t_i] (hyper vae.py compute_kl_loss,
      `kl_divergences[elbo_indices]`, then `.sum(dim=0)` twice). Without subsampling: the sum
      over every trial's timesteps.
    "varibad": each trial's own sampled timesteps, summed over them and over trials.
    "mean": averaged over every valid (trial, timestep).
    """
    if cfg.loss_reduction == "mean":
        return jnp.sum(kl * valid) / jnp.maximum(valid.sum(), 1)
    if cfg.loss_reduction == "hyper" and cfg.elbo_steps is not None:
        counts = jnp.zeros((kl.shape[1],)).at[t_index.reshape(-1)].add(1.0)
        return jnp.sum(kl * counts[None, :])
    return jnp.sum(_take(kl[..., None], t_index)[..., 0] * t_valid)


def sample_elbo_indices(
    key: jax.Array, length: jax.Array, trial_len: int, cfg: VAEConfig
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Which posteriors and which decoded steps the ELBO uses, for trials of lengths (N,).

    Returns t (N, Te) in [0, H_n] with t_valid, and j (N, Te or 1, Td) in [0, H_n) with
    j_valid. Sampled uniformly with replacement, j independently for every ELBO term (the
    reference's constant-length path); `None` in the config takes every index (masked to each
    trial's length).
    """
    num = length.shape[0]
    t_key, j_key = jax.random.split(key)
    if cfg.elbo_steps is None:  # every posterior q_0..q_H
        t = jnp.broadcast_to(jnp.arange(trial_len + 1), (num, trial_len + 1))
        t_valid = t <= length[:, None]
    else:
        t = jax.random.randint(t_key, (num, cfg.elbo_steps), 0, length[:, None] + 1)
        t_valid = jnp.ones(t.shape, bool)
    if cfg.decode_steps is None:  # every step of the trial, the same for every ELBO term
        j = jnp.broadcast_to(jnp.arange(trial_len), (num, 1, trial_len))
        j_valid = j < length[:, None, None]
    else:
        high = jnp.maximum(length, 1)[:, None, None]
        j = jax.random.randint(j_key, (num, t.shape[1], cfg.decode_steps), 0, high)
        j_valid = jnp.ones(j.shape, bool)
    return t, t_valid, j, j_valid


def elbo_terms(
    encode,
    decode,
    key: jax.Array,
    trials: dict[str, jax.Array],
    length: jax.Array,
    cfg: VAEConfig,
) -> dict[str, jax.Array]:
    """Reconstruction and KL terms of a batch of trials (N, L, ...) with lengths (N,).

    encode(prev_action, prev_reward, obs, start) -> (mu, logvar), time-major (L + 1, N, ...),
    called on `posterior_inputs` (the L + 1 posteriors q_0..q_L).
    decode(z, obs, action, next_obs) -> {["reward": ...], ["next_obs": ...]}, broadcasting.
    Returns {"kl"} plus "reward_loss" / "state_loss" for the decoders `decode` has.
    """
    trial_len = trials["reward"].shape[1]
    mu, logvar = encode(*posterior_inputs(trials, length))
    mu, logvar = jnp.swapaxes(mu, 0, 1), jnp.swapaxes(logvar, 0, 1)  # (N, L + 1, latent)
    kl = jnp.swapaxes(sequential_kl(jnp.swapaxes(mu, 0, 1), jnp.swapaxes(logvar, 0, 1)), 0, 1)
    valid = jnp.arange(trial_len + 1)[None, :] <= length[:, None]  # (N, L + 1)

    index_key, z_key = jax.random.split(key)
    t, t_valid, j, j_valid = sample_elbo_indices(index_key, length, trial_len, cfg)
    mask = t_valid[:, :, None] & j_valid  # (N, Te, Td)

    mu_t, logvar_t = _take(mu, t), _take(logvar, t)
    z = mu_t + jnp.exp(0.5 * logvar_t) * jax.random.normal(z_key, mu_t.shape)  # (N, Te, latent)
    obs_j, action_j = _take(trials["obs"], j), _take(trials["action"], j)
    next_obs_j, reward_j = _take(trials["next_obs"], j), _take(trials["reward"], j)
    # Every (posterior sample, decoded step) pair: (N, Te, 1, .) against (N, Te or 1, Td, .).
    predicted = decode(z[:, :, None], obs_j, action_j, next_obs_j)

    terms = {"kl": reduce_kl(kl, t, t_valid, valid, cfg)}
    if "reward" in predicted:
        if cfg.reward_loss == "bernoulli":  # target: the reward is 1 (the goal's reward)
            target = (reward_j == 1.0).astype(jnp.float32)
            error = optax.sigmoid_binary_cross_entropy(predicted["reward"], target)
        else:
            error = jnp.square(predicted["reward"] - reward_j)
        terms["reward_loss"] = reduce_reconstruction(error, mask, cfg)
    if "next_obs" in predicted:
        error = jnp.square(predicted["next_obs"] - next_obs_j).mean(-1)  # mean over state dims
        terms["state_loss"] = reduce_reconstruction(error, mask, cfg)
    return terms


def vae_loss(terms: dict[str, jax.Array], cfg: VAEConfig) -> jax.Array:
    """reward + state reconstruction + kl_weight x KL (rew_loss_coeff = state_loss_coeff = 1)."""
    loss = cfg.kl_weight * terms["kl"]
    for name in ("reward_loss", "state_loss"):
        if name in terms:
            loss = loss + terms[name]
    return loss


def make_vae_optimizer(cfg: VAEConfig) -> optax.GradientTransformation:
    return optax.adam(cfg.lr)


# ---- the learner: VariBAD's part of a training run ---------------------------------------------


class VAEState(flax.struct.PyTreeNode):
    """VariBAD's part of a run: the posterior network and decoders, their Adam, the trial
    buffer, and the running statistics the policy's (mu, logvar) input is normalised with."""

    params: Any  # {"encoder": ..., "decoder": ...}
    opt_state: Any
    buffer: TrialBuffer
    latent_stats: running_statistics.RunningStatisticsState


class VAELearner(NamedTuple):
    """VariBAD's pure functions for one static configuration (`make_vae_learner`)."""

    init: Callable[[Any], VAEState]  # agent.init's params -> the initial VAEState
    step: Callable[[VAEState, jax.Array], tuple[VAEState, dict]]  # one VAE update
    # `updates_per_ppo` steps once the buffer and precollection allow, else unchanged (NaN
    # metrics): (vae, key, PPO update index) -> (vae, metrics)
    update: Callable[[VAEState, jax.Array, jax.Array], tuple[VAEState, dict]]
    # (vae, hidden (E, H)) -> every env's memory after the steps of its running trial
    reencode_running: Callable[[VAEState, jax.Array], jax.Array]
    # PPO update index -> whether its rollout brought the frames to `precollect_steps`
    precollected: Callable[[jax.Array], jax.Array]


def make_vae_learner(cfg: TrainConfig, agent: Agent, trial_length: int) -> VAELearner:
    """The VAE's init, update and re-encoding for `cfg` (algo=varibad)."""
    vae_cfg, num_envs = cfg.vae, cfg.ppo.num_envs
    optimizer = make_vae_optimizer(vae_cfg)

    def init(params) -> VAEState:
        vae_params = {name: params[name] for name in ("encoder", "decoder")}
        buffer = buffer_init(
            vae_cfg.buffer_trials, num_envs, trial_length, agent.obs_dim, agent.action_dim
        )
        latent = jax.ShapeDtypeStruct((agent.z_dim,), jnp.float32)
        return VAEState(
            params=vae_params,
            opt_state=optimizer.init(vae_params),
            buffer=buffer,
            latent_stats=running_statistics.init_state(latent),
        )

    def step(vae: VAEState, key: jax.Array):
        """One VAE update on trials sampled from the buffer."""
        sample_key, elbo_key = jax.random.split(key)
        buffer = vae.buffer
        index = buffer_sample(buffer, sample_key, vae_cfg.batch_trials)
        trials = {
            "obs": buffer.obs[index],
            "action": buffer.action[index],
            "reward": buffer.reward[index],
            "next_obs": buffer.next_obs[index],
        }

        def loss(vae_params):
            def encode(prev_action, prev_reward, obs, start):
                return agent.posterior_sequence(
                    vae_params["encoder"], prev_action, prev_reward, obs, start
                )

            def decode(z, obs, action, next_obs):
                return agent.decoders.apply(vae_params["decoder"], z, obs, action, next_obs)

            terms = elbo_terms(encode, decode, elbo_key, trials, buffer.length[index], vae_cfg)
            return vae_loss(terms, vae_cfg), terms

        (total, terms), grads = jax.value_and_grad(loss, has_aux=True)(vae.params)
        updates, opt_state = optimizer.update(grads, vae.opt_state, vae.params)
        params = optax.apply_updates(vae.params, updates)
        metrics = {f"vae_{k}": v for k, v in terms.items()}
        return vae.replace(params=params, opt_state=opt_state), dict(metrics, vae_loss=total)

    def reencode_running(vae: VAEState, hidden: jax.Array) -> jax.Array:
        def unroll(prev_action, prev_reward, obs, start):
            hiddens, _ = agent.posterior_sequence(
                vae.params["encoder"], prev_action, prev_reward, obs, start, return_hidden=True
            )
            return hiddens

        return reencode_running_trials(unroll, vae.buffer, hidden)

    def precollected(update: jax.Array) -> jax.Array:
        return (update + 1) * num_envs * cfg.ppo.num_steps >= vae_cfg.precollect_steps

    def update(vae: VAEState, key: jax.Array, update_index: jax.Array):
        ready = (vae.buffer.trials_done >= vae_cfg.batch_trials) & precollected(update_index)
        keys = jax.random.split(key, vae_cfg.updates_per_ppo)
        updated, metrics = jax.lax.scan(step, vae, keys)
        keep = lambda new, old: jnp.where(ready, new, old)  # noqa: E731
        vae = vae.replace(
            params=jax.tree.map(keep, updated.params, vae.params),
            opt_state=jax.tree.map(keep, updated.opt_state, vae.opt_state),
        )
        metrics = jax.tree.map(lambda m: jnp.where(ready, m.mean(), jnp.nan), metrics)
        return vae, metrics

    return VAELearner(init, step, update, reencode_running, precollected)
