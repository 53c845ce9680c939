"""The training program: `make_train(cfg)` -> pure functions built from `lax.scan`s.

One PPO iteration (`update_step`) is, in order: `collect` (one rollout of `rollout_step`s;
RL2's memory restarts first, as the authors' does), `advantages_of` (reward scaling, trial-aware
GAE), `ppo_update` (algos/ppo.py: the epochs over minibatches), the normalisers' statistics,
`vae_learner.update` (algos/varibad.py, VariBAD only), then the guards that keep a run's last
parameters while it precollects or after it diverged.

    trainer = make_train(cfg)
    state = trainer.init(key, params, hparams)          # one run's whole training state
    state, metrics = trainer.run_chunk(state)           # `updates_per_chunk` PPO updates
    state, metrics = trainer.train(key, params, hparams)  # every chunk, in one program

Nothing here depends on the init scheme (only on the parameters it produced) or on the PPO
coefficients' values (they are leaves of `hparams`), so `jax.vmap` over stacked params and
hparams trains a whole sweep with one compilation (see `hyperjax.sweep`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
from brax.envs.base import State
from brax.training.acme import running_statistics

from hyperjax import envs
from hyperjax.agent import Agent
from hyperjax.algos import varibad
from hyperjax.algos.gae import bootstrap_values, gae
from hyperjax.algos.ppo import (
    PPOHParams,
    init_optimizer,
    make_optimizer,
    make_ppo_update,
    normalize_advantages,
)
from hyperjax.config import TrainConfig
from hyperjax.diagnostics import policy_diagnostics
from hyperjax.nets import distributions

REWARD_CLIP = 10.0


class TrainState(flax.struct.PyTreeNode):
    """Everything one run carries from update to update (all arrays: checkpointable)."""

    params: Any  # what PPO trains: {"policy"} (+ {"encoder"} for rl2)
    opt_state: Any
    vae: varibad.VAEState | None  # algo=varibad only
    hparams: PPOHParams
    env_state: State  # batched over envs
    hidden: jax.Array  # (E, H) encoder memory
    # The encoder's next input (a, r, s): the previous action's features and reward, and the
    # observation (the env's, or at a trial start the finished trial's final one, see
    # TrainConfig.trial_start_input).
    prev_action: jax.Array  # (E, A)
    prev_reward: jax.Array  # (E,)
    encoder_obs: jax.Array  # (E, obs), raw
    start: jax.Array  # (E,) the next step is a trial's first: zero the memory
    obs_stats: running_statistics.RunningStatisticsState
    # The oracle's task input is normalised with running statistics, as the authors'
    # norm_task_for_policy (models/policy.py `task_rms`); unused by rl2 and varibad.
    task_stats: running_statistics.RunningStatisticsState
    return_stats: running_statistics.RunningStatisticsState
    discounted_return: jax.Array  # (E,) for reward scaling
    episode_return: jax.Array  # (E,) raw, for logging
    trial_return: jax.Array  # (E,)
    episode_success: jax.Array  # (E,) 1 once the episode has succeeded
    rng: jax.Array
    update: jax.Array  # int32, updates done
    diverged: jax.Array  # bool: a loss or parameter went non-finite; updates stopped since


class Transition(flax.struct.PyTreeNode):
    obs: jax.Array  # normalised, as the policy saw it
    raw_obs: jax.Array  # as the env gave it: what the obs statistics learn from
    encoder_obs: jax.Array  # the observation the encoder read (what RL2's loss re-reads)
    z: jax.Array  # the task input the policy saw (rl2 recomputes it inside the loss)
    prev_action: jax.Array
    prev_reward: jax.Array
    start: jax.Array
    task: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array  # raw
    discounted_return: jax.Array
    truncated: jax.Array
    trial_end: jax.Array
    # For V(final obs) at truncated trial ends, computed for all steps at once after the rollout
    # (one large batched pass instead of a second small forward inside every step).
    final_obs: jax.Array  # raw, before any reset
    hidden_after: jax.Array  # the memory after this step's input


class Trainer(NamedTuple):
    agent: Agent
    init: Any
    run_chunk: Any
    train: Any
    collect: Any  # state -> (state, hidden0, Transition batch (T, E, ...), step metrics)
    # (state, hidden, prev_action, prev_reward, raw_obs, obs, start, task) -> (hidden, z)
    infer: Any
    normalize_obs: Any  # (obs, stats) -> obs as the policy sees it
    # VariBAD's pieces (varibad.VAELearner), for benchmarks and tests: (VAEState, key) ->
    # (VAEState, metrics), one VAE update; (VAEState, hidden) -> hidden, the memory re-encoded
    # from the running trials.
    vae_step: Any
    reencode_running: Any


def make_train(cfg: TrainConfig) -> Trainer:
    """Build the pure training functions for one static configuration."""
    env = envs.make(cfg.env, **cfg.env_overrides())
    agent = Agent.for_env(cfg, env)
    ppo = cfg.ppo
    is_rl2 = cfg.algo == "rl2"
    # RL2 trains its encoder with a second, separately clipped Adam, as the authors' RL2 does
    # (see make_optimizer).
    optimizer = make_optimizer(ppo, separate_encoder=is_rl2)
    ppo_update = make_ppo_update(agent, ppo, optimizer, recurrent=is_rl2)
    is_varibad = cfg.algo == "varibad"
    vae_learner = varibad.make_vae_learner(cfg, agent, env.trial_length)
    num_envs, num_steps = ppo.num_envs, ppo.num_steps
    episodes_per_trial = env.episodes_per_trial
    env.check_batch("ppo.num_envs", num_envs)
    reset_envs, step_envs = env.reset_batch, env.step_batch
    carry_last_transition = cfg.trial_start_input == "authors"
    restart_rl2_memory = is_rl2 and not cfg.rl2_memory_across_rollouts
    # The authors' time limits: no bootstrap from V(final obs); time-limit steps are cut out.
    zero_time_limit_steps = ppo.bootstrap_truncation and ppo.time_limit_gae == "authors"
    bootstrap_final_obs = ppo.bootstrap_truncation and not zero_time_limit_steps

    def normalize_obs(obs, stats):
        if not ppo.norm_obs:
            return obs
        return running_statistics.normalize(obs, stats)

    def init(key: jax.Array, params, hparams: PPOHParams) -> TrainState:
        """One run's initial state from the parameters `agent.init` made."""
        env_key, rng = jax.random.split(key)
        env_state = reset_envs(jax.random.split(env_key, num_envs))
        zeros = jnp.zeros((num_envs,))
        vae = vae_learner.init(params) if is_varibad else None
        if is_varibad:
            params = {"policy": params["policy"]}  # PPO trains the policy only
        return TrainState(
            params=params,
            opt_state=init_optimizer(ppo, params, hparams.lr, separate_encoder=is_rl2),
            vae=vae,
            hparams=hparams,
            env_state=env_state,
            hidden=jnp.zeros((num_envs, agent.hidden_dim)),
            prev_action=jnp.zeros((num_envs, agent.action_dim)),
            prev_reward=zeros,
            encoder_obs=env_state.obs,
            start=jnp.ones((num_envs,), bool),
            obs_stats=running_statistics.init_state(
                jax.ShapeDtypeStruct((agent.obs_dim,), jnp.float32)
            ),
            task_stats=running_statistics.init_state(
                jax.ShapeDtypeStruct((agent.task_dim,), jnp.float32)
            ),
            return_stats=running_statistics.init_state(jax.ShapeDtypeStruct((), jnp.float32)),
            discounted_return=zeros,
            episode_return=zeros,
            trial_return=zeros,
            episode_success=zeros,
            rng=rng,
            update=jnp.zeros((), jnp.int32),
            diverged=jnp.zeros((), bool),
        )

    # ---- acting ---------------------------------------------------------------------------
    def infer(state: TrainState, hidden, prev_action, prev_reward, raw_obs, obs, start, task):
        """One step of task inference -> (hidden, the z the policy reads)."""
        if cfg.algo == "oracle":
            return hidden, running_statistics.normalize(task, state.task_stats)
        if is_rl2:
            # The RL2 GRU reads raw observations, as the authors' encoder does (its inputs
            # must not drift with the policy's normalisation statistics).
            return agent.encode_step(
                state.params, hidden, prev_action, prev_reward, raw_obs, start, task
            )
        # VariBAD's encoder sees raw observations, as its decoders and trial buffer do, so its
        # inputs do not drift with the policy's normalisation; its output is normalised instead.
        hidden, posterior = agent.encode_step(
            state.vae.params, hidden, prev_action, prev_reward, raw_obs, start, task
        )
        return hidden, running_statistics.normalize(posterior, state.vae.latent_stats)

    def rollout_step(state: TrainState, _):
        rng, action_key = jax.random.split(state.rng)
        info = state.env_state.info
        task, episode_index = info["task"], info["episode_index"]
        raw_obs = state.env_state.obs
        obs = normalize_obs(raw_obs, state.obs_stats)
        hidden, z = infer(
            state,
            state.hidden,
            state.prev_action,
            state.prev_reward,
            state.encoder_obs,
            obs,
            state.start,
            task,
        )
        out = agent.act(state.params, obs, z)
        action = distributions.sample(out, action_key, agent.discrete)
        log_prob = distributions.log_prob(out, action, agent.discrete)

        env_state = step_envs(state.env_state, action)
        info = env_state.info
        reward, trial_end, episode_end = env_state.reward, info["trial_end"], info["episode_end"]
        action_features = agent.action_features(action)

        discounted_return = state.discounted_return * state.hparams.gamma + reward
        episode_return = state.episode_return + reward
        trial_return = state.trial_return + reward
        success = env_state.metrics.get("success", jnp.zeros_like(reward))
        episode_success = jnp.maximum(state.episode_success, success)

        by_index = jax.nn.one_hot(episode_index, episodes_per_trial) * episode_end[:, None]
        step_metrics = {
            "episode_return_sum": (by_index * episode_return[:, None]).sum(0),
            "episode_count": by_index.sum(0),
            "trial_return_sum": jnp.where(trial_end, trial_return, 0.0).sum(),
            "trial_count": trial_end.sum().astype(jnp.float32),
            "success_sum": (by_index * episode_success[:, None]).sum(0),
        }
        vae = state.vae
        if is_varibad:
            buffer = varibad.buffer_add_step(
                vae.buffer, raw_obs, action_features, reward, info["final_obs"], trial_end
            )
            vae = vae.replace(buffer=buffer)
        transition = Transition(
            obs=obs,
            raw_obs=raw_obs,
            encoder_obs=state.encoder_obs,
            z=z,
            prev_action=state.prev_action,
            prev_reward=state.prev_reward,
            start=state.start,
            task=task,
            action=action,
            log_prob=log_prob,
            value=out.value,
            reward=reward,
            discounted_return=discounted_return,
            truncated=info["truncated"],
            trial_end=trial_end,
            final_obs=info["final_obs"],
            hidden_after=hidden,
        )
        keep = lambda x, end: jnp.where(end, 0.0, x)  # noqa: E731
        if carry_last_transition:  # a new trial's first input is the old trial's last step
            prev_action, prev_reward = action_features, reward
            encoder_obs = jnp.where(trial_end[:, None], info["final_obs"], env_state.obs)
        else:  # a new trial's first input is (0, 0, s_0)
            prev_action = jnp.where(trial_end[:, None], 0.0, action_features)
            prev_reward, encoder_obs = keep(reward, trial_end), env_state.obs
        state = state.replace(
            env_state=env_state,
            vae=vae,
            hidden=hidden,
            prev_action=prev_action,
            prev_reward=prev_reward,
            encoder_obs=encoder_obs,
            start=trial_end,
            discounted_return=keep(discounted_return, trial_end),
            episode_return=keep(episode_return, episode_end),
            trial_return=keep(trial_return, trial_end),
            episode_success=keep(episode_success, episode_end),
            rng=rng,
        )
        return state, (transition, step_metrics)

    # ---- learning -------------------------------------------------------------------------
    def restart_memory(state: TrainState) -> TrainState:
        """The memory as at a trial's start: zeroed, the next input (0, 0, s)."""
        return state.replace(
            hidden=jnp.zeros_like(state.hidden),
            prev_action=jnp.zeros_like(state.prev_action),
            prev_reward=jnp.zeros_like(state.prev_reward),
            encoder_obs=state.env_state.obs,
            start=jnp.ones_like(state.start),
        )

    def collect(state: TrainState):
        """One rollout of `num_steps` -> (state after it, the memory it started from, its
        transitions (T, E, ...), per-step metrics)."""
        if restart_rl2_memory:
            state = restart_memory(state)
        hidden0 = state.hidden
        state, (batch, step_metrics) = jax.lax.scan(rollout_step, state, None, num_steps)
        return state, hidden0, batch, step_metrics

    def advantages_of(state: TrainState, batch: Transition):
        """(normalised advantages, value targets (T, E), updated return statistics) of a rollout
        that left the run at `state`."""
        # Value of where the rollout stopped (the next rollout starts from it).
        obs = normalize_obs(state.env_state.obs, state.obs_stats)
        _, z = infer(
            state,
            state.hidden,
            state.prev_action,
            state.prev_reward,
            state.encoder_obs,
            obs,
            state.start,
            state.env_state.info["task"],
        )
        last_value = agent.act(state.params, obs, z).value
        next_values = jnp.concatenate([batch.value[1:], last_value[None]], axis=0)
        bootstrap = bootstrap_values(
            next_values,
            final_values(state, batch),
            batch.trial_end,
            batch.truncated,
            bootstrap_final_obs,
        )

        # The critic learns returns of the scaled reward, so values need no rescaling here.
        return_stats = state.return_stats
        rewards = batch.reward
        if ppo.norm_reward:
            return_stats = running_statistics.update(return_stats, batch.discounted_return)
            rewards = jnp.clip(rewards / return_stats.std, -REWARD_CLIP, REWARD_CLIP)
        advantages, targets = gae(
            rewards,
            batch.value,
            bootstrap,
            batch.trial_end,
            state.hparams.gamma,
            state.hparams.gae_lambda,
            zero_at=batch.truncated if zero_time_limit_steps else None,
        )
        return normalize_advantages(advantages), targets, return_stats

    def update_step(state: TrainState, _):
        """One PPO iteration: rollout, advantages, PPO epochs, normalisers, VAE, guards."""
        state, hidden0, batch, step_metrics = collect(state)
        advantages, targets, return_stats = advantages_of(state, batch)

        rng, vae_key, *epoch_keys = jax.random.split(state.rng, ppo.epochs + 2)
        params, opt_state, aux = ppo_update(
            state.params,
            state.opt_state,
            state.hparams,
            (hidden0, batch, advantages, targets),
            jnp.stack(epoch_keys),
        )
        # Observation statistics move only between updates, so a rollout and its loss see the
        # same normalisation.
        obs_stats, task_stats = state.obs_stats, state.task_stats
        if ppo.norm_obs:
            obs_stats = running_statistics.update(obs_stats, batch.raw_obs)
        if cfg.algo == "oracle":
            task_stats = running_statistics.update(task_stats, batch.task)
        vae, vae_metrics = state.vae, {}
        if is_varibad:
            vae, vae_metrics = vae_learner.update(vae, vae_key, state.update)
            latent_stats = vae.latent_stats
            raw_z = batch.z * latent_stats.std + latent_stats.mean  # undo the rollout's normalising
            vae = vae.replace(latent_stats=running_statistics.update(latent_stats, raw_z))

        # Divergence isolation: a run whose losses or parameters go non-finite keeps its last
        # finite parameters and stops learning from here on; the other runs of the sweep are
        # separate lanes of the vmap and never see it.
        old = (state.params, state.opt_state, _learned(state.vae))
        new = (params, opt_state, _learned(vae))
        diverged = state.diverged | ~_all_finite((new, aux["loss"]))
        learning = ~diverged
        if is_varibad:
            # The authors skip the whole update, PPO and the normalisers' statistics too, until
            # `precollect_steps` frames are in (H metalearner.py:297); update_vae waits as well.
            collected = vae_learner.precollected(state.update)
            learning &= collected
            obs_stats, task_stats, latent_stats = jax.tree.map(
                lambda n, o: jnp.where(collected, n, o),
                (obs_stats, task_stats, vae.latent_stats),
                (state.obs_stats, state.task_stats, state.vae.latent_stats),
            )
            vae = vae.replace(latent_stats=latent_stats)
        keep_old = lambda n, o: jnp.where(learning, n, o)  # noqa: E731
        params, opt_state, vae_learned = jax.tree.map(keep_old, new, old)
        if is_varibad:
            vae = vae.replace(params=vae_learned[0], opt_state=vae_learned[1])
            # The reference's encode_running_trajectory: each env's memory is recomputed from its
            # running trial with the encoder the next rollout uses.
            state = state.replace(hidden=vae_learner.reencode_running(vae, state.hidden))
        state = state.replace(
            params=params,
            opt_state=opt_state,
            vae=vae,
            obs_stats=obs_stats,
            task_stats=task_stats,
            return_stats=return_stats,
            rng=rng,
            update=state.update + 1,
            diverged=diverged,
        )
        metrics = jax.tree.map(lambda x: x.sum(0), step_metrics)
        metrics.update(jax.tree.map(jnp.mean, aux))
        metrics.update(vae_metrics)
        metrics["diverged"] = diverged.astype(jnp.float32)
        return state, (metrics, diagnostic_probe(batch, rng))

    def final_values(state: TrainState, batch: Transition) -> jax.Array:
        """V(final obs) of every step (T, E), the memory having seen the step's transition; only
        truncated trial ends use it. Rollout-time params and statistics: nothing changed yet."""
        if not bootstrap_final_obs:
            return jnp.zeros_like(batch.reward)
        final_obs = normalize_obs(batch.final_obs, state.obs_stats)
        _, z = infer(
            state,
            batch.hidden_after,
            agent.action_features(batch.action),
            batch.reward,
            batch.final_obs,
            final_obs,
            jnp.zeros_like(batch.trial_end),
            batch.task,
        )
        return agent.act(state.params, final_obs, z).value

    # ---- diagnostics ----------------------------------------------------------------------
    probe_size = min(cfg.diagnostic_samples, num_envs * num_steps)

    def diagnostic_probe(batch: Transition, rng: jax.Array):
        """(obs, z) of `probe_size` random samples of a rollout (empty when diagnostics are off).
        The key is derived from the run's, never replacing it: diagnostics change no training."""
        if not probe_size:
            return ()
        pick = jax.random.choice(
            jax.random.fold_in(rng, 1), num_envs * num_steps, (probe_size,), replace=False
        )
        flat = lambda x: x.reshape((num_envs * num_steps,) + x.shape[2:])[pick]  # noqa: E731
        return flat(batch.obs), flat(batch.z)

    def run_chunk(state: TrainState):
        state, (metrics, probes) = jax.lax.scan(update_step, state, None, cfg.updates_per_chunk)
        summary = summarize_chunk(metrics, cfg)
        if probe_size:  # the chunk's final policy, on samples of its last rollout
            obs, z = jax.tree.map(lambda x: x[-1], probes)
            summary.update(policy_diagnostics(agent.policy, state.params["policy"], obs, z))
        return state, summary

    def train(key: jax.Array, params, hparams: PPOHParams):
        state = init(key, params, hparams)
        return jax.lax.scan(lambda s, _: run_chunk(s), state, None, cfg.num_chunks)

    return Trainer(
        agent=agent,
        init=init,
        run_chunk=run_chunk,
        train=train,
        collect=collect,
        infer=infer,
        normalize_obs=normalize_obs,
        vae_step=vae_learner.step,
        reencode_running=vae_learner.reencode_running,
    )


def _learned(vae: varibad.VAEState | None):
    """What VariBAD's updates change (not the trial buffer, which rollouts fill)."""
    return None if vae is None else (vae.params, vae.opt_state)


def _all_finite(tree) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.floating)
    ]
    return jnp.all(jnp.stack(leaves))


def summarize_chunk(metrics: dict, cfg: TrainConfig) -> dict:
    """Per-update metrics (U, ...) -> one chunk's: returns averaged over the trials and
    episodes that finished in it (NaN if none did), losses averaged over updates."""
    sums = {k: v.sum(0) for k, v in metrics.items() if k.endswith(("_sum", "_count"))}

    def ratio(total, count):
        return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

    summary = {
        "trial_return": ratio(sums["trial_return_sum"], sums["trial_count"]),
        "episode_return": ratio(sums["episode_return_sum"], sums["episode_count"]),
        "success": ratio(sums["success_sum"], sums["episode_count"]),
        "trials": sums["trial_count"],
    }
    for key, value in metrics.items():
        if key.startswith("vae_"):  # NaN while precollecting: average the updates that ran
            summary[key] = jnp.nanmean(value, axis=0)
        elif key not in sums:
            summary[key] = value.mean(0)
    return summary
