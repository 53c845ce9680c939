"""Evaluation on fresh tasks: the few-shot adaptation curve of trained agents.

Each of `num_trials` envs runs exactly one trial of a freshly drawn task from the train or the
held-out test split, with deterministic (mean / most likely) actions. The memory starts at zero
and is carried across the trial's episodes, never reset inside it, so the return per episode
index shows what the agent learned from the earlier episodes. Observation and latent
normalisation use the run's statistics as they stand (they are not updated here).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hyperjax import envs
from hyperjax.config import TrainConfig
from hyperjax.errors import ConfigError, check_choice, check_positive
from hyperjax.nets import distributions
from hyperjax.train import Trainer, TrainState


def evaluation_env(
    cfg: TrainConfig, split: str, episodes: int | None = None
) -> envs.TrialWrapper | envs.Mixture:
    """The env an evaluation runs: training's, with trials of `episodes` episodes if given (the
    authors evaluate Meta-World on 10-episode trials after training on 2). A policy reads an
    episode flag when a trial has more than one episode, so both must have one, or neither."""
    overrides = cfg.env_overrides()
    env = envs.make(cfg.env, split=split, **overrides)
    if episodes is None or episodes == env.episodes_per_trial:
        return env
    check_positive("eval.episodes", episodes)
    if (episodes > 1) != env.has_episode_flag:
        raise ConfigError(
            f"eval.episodes: {episodes} cannot evaluate a policy trained on trials of "
            f"{env.episodes_per_trial} episode(s) (the episode flag would "
            f"{'appear' if episodes > 1 else 'vanish'}); allowed: "
            + ("2 or more" if env.has_episode_flag else "1")
        )
    return envs.make(cfg.env, split=split, **{**overrides, "episodes_per_trial": episodes})


def make_evaluate(
    cfg: TrainConfig, trainer: Trainer, split: str, num_trials: int, episodes: int | None = None
) -> Callable[[TrainState, jax.Array], dict[str, jax.Array]]:
    """A pure function (one run's TrainState, key) -> metrics of `num_trials` fresh trials of
    `episodes` episodes (None: training's): episode_return (k,) and success (k,) per episode
    index, and trial_return, all means."""
    check_choice("split", split, envs.SPLITS)
    check_positive("eval_trials", num_trials)
    env = evaluation_env(cfg, split, episodes)
    env.check_batch("eval_trials", num_trials)
    agent = trainer.agent
    episodes = env.episodes_per_trial

    def evaluate(state: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        env_state = env.reset_batch(jax.random.split(key, num_trials))
        zeros = jnp.zeros((num_trials,))
        carry = dict(
            env_state=env_state,
            hidden=jnp.zeros((num_trials, agent.hidden_dim)),
            prev_action=jnp.zeros((num_trials, agent.action_dim)),
            prev_reward=zeros,
            start=jnp.ones((num_trials,), bool),
            active=jnp.ones((num_trials,), bool),  # still in the first (only) trial
            episode_return=zeros,
            episode_success=zeros,
            returns=jnp.zeros((num_trials, episodes)),
            successes=jnp.zeros((num_trials, episodes)),
        )

        def step(c, _):
            es = c["env_state"]
            raw_obs = es.obs
            obs = trainer.normalize_obs(raw_obs, state.obs_stats)
            hidden, z = trainer.infer(
                state,
                c["hidden"],
                c["prev_action"],
                c["prev_reward"],
                raw_obs,
                obs,
                c["start"],
                es.info["task"],
            )
            action = distributions.mode(agent.act(state.params, obs, z), agent.discrete)
            episode_index = es.info["episode_index"]
            es = env.step_batch(es, action)
            info, reward = es.info, es.reward * c["active"]
            success = es.metrics.get("success", jnp.zeros_like(reward)) * c["active"]
            episode_return = c["episode_return"] + reward
            episode_success = jnp.maximum(c["episode_success"], success)
            ended = info["episode_end"] & c["active"]
            by_index = jax.nn.one_hot(episode_index, episodes) * ended[:, None]
            return (
                dict(
                    env_state=es,
                    hidden=hidden,
                    prev_action=agent.action_features(action),
                    prev_reward=es.reward,
                    start=jnp.zeros_like(c["start"]),  # one trial: the memory is never reset
                    active=c["active"] & ~info["trial_end"],
                    episode_return=jnp.where(info["episode_end"], 0.0, episode_return),
                    episode_success=jnp.where(info["episode_end"], 0.0, episode_success),
                    returns=c["returns"] + by_index * episode_return[:, None],
                    successes=c["successes"] + by_index * episode_success[:, None],
                ),
                None,
            )

        carry, _ = jax.lax.scan(step, carry, None, env.trial_length)
        return {
            "episode_return": carry["returns"].mean(0),
            "success": carry["successes"].mean(0),
            "trial_return": carry["returns"].sum(1).mean(),
        }

    return evaluate


def evaluation_rows(runs, metrics: dict, split: str, chunk: int) -> list[dict]:
    """Batched metrics (leading run axis, on the host) -> one flat row per run."""
    rows = []
    for index, run in enumerate(runs):
        row = {
            "run": run.name,
            "policy": run.kind,
            "init": run.init,
            "seed": run.seed,
            "lr": run.lr,
            "split": split,
            "chunk": chunk,
            "trial_return": float(metrics["trial_return"][index]),
        }
        for name in ("episode_return", "success"):
            for i, value in enumerate(metrics[name][index]):
                row[f"{name}_{i}"] = float(value)
        rows.append(row)
    return rows
