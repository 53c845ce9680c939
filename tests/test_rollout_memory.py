"""What the encoder reads at trial starts and rollout starts, and the precollection gate: the
authors' semantics (docs/fidelity.md, rows "encoder input at a trial start inside a rollout",
"RL2 memory across PPO iterations" and "precollection") and the clean ones.

Grid world, trials of 4 x 15 = 60 steps, rollouts of 75 steps: the first trial ends inside the
first rollout (at step 59), and the second rollout starts in the middle of a trial."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.algos.ppo import PPOHParams
from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig, VAEConfig
from hyperjax.train import make_train

TRIAL, STEPS = 60, 75
SMALL = dict(
    env="grid-world",
    policy=PolicyConfig(state_embed_dim=16, hidden=(16, 16), task_embed_dim=8),
    encoder=EncoderConfig(gru_dim=16),
    ppo=PPOConfig(num_envs=2, num_steps=STEPS, minibatches=1, epochs=1),
    total_env_steps=2 * STEPS,
    updates_per_chunk=1,
    diagnostic_samples=0,
)


def two_rollouts(cfg: TrainConfig):
    """(hidden0, batch) of two consecutive rollouts of one hypernetwork run, and the state
    between them."""
    trainer = make_train(cfg)
    params = trainer.agent.init(jax.random.key(1), "bias_hyperinit")
    state = trainer.init(jax.random.key(2), params, PPOHParams.from_config(cfg.ppo))
    collect = jax.jit(trainer.collect)
    middle, hidden_a, batch_a, _ = collect(state)
    _, hidden_b, batch_b, _ = collect(middle)
    return trainer, middle, (hidden_a, batch_a), (hidden_b, batch_b)


@pytest.fixture(scope="module")
def authors():
    return two_rollouts(TrainConfig(algo="rl2", **SMALL))


@pytest.fixture(scope="module")
def clean():
    cfg = TrainConfig(
        algo="rl2", trial_start_input="zero", rl2_memory_across_rollouts=True, **SMALL
    )
    return two_rollouts(cfg)


def test_a_trial_starting_mid_rollout_reads_the_finished_trials_last_transition(authors):
    """H utils/helpers.py:213-221: reset the hidden state, then encode (a, r, s') of the step
    that ended the old trial, s' its final observation before the reset."""
    trainer, _, (_, batch), _ = authors
    assert bool(batch.trial_end[TRIAL - 1].all()) and bool(batch.start[TRIAL].all())
    np.testing.assert_array_equal(
        batch.prev_action[TRIAL], trainer.agent.action_features(batch.action[TRIAL - 1])
    )
    np.testing.assert_array_equal(batch.prev_reward[TRIAL], batch.reward[TRIAL - 1])
    np.testing.assert_array_equal(batch.encoder_obs[TRIAL], batch.final_obs[TRIAL - 1])
    # The policy itself sees the new trial's first observation, another one.
    assert not np.array_equal(batch.encoder_obs[TRIAL], batch.raw_obs[TRIAL])
    # Everywhere else the encoder reads what the policy sees.
    others = np.arange(STEPS) != TRIAL
    np.testing.assert_array_equal(batch.encoder_obs[others], batch.raw_obs[others])


def test_zero_trial_start_input_reads_zero_action_and_reward(clean):
    trainer, _, (_, batch), _ = clean
    assert bool(batch.start[TRIAL].all())
    assert not np.any(batch.prev_action[TRIAL]) and not np.any(batch.prev_reward[TRIAL])
    np.testing.assert_array_equal(batch.encoder_obs, batch.raw_obs)


def test_rl2_memory_restarts_every_rollout_as_the_authors(authors):
    """H metalearner.py:202-209, 253: their RL2 keeps no running trajectory, so each rollout
    starts from the prior, here mid-trial (step 15 of the second trial)."""
    _, middle, _, (hidden, batch) = authors
    assert not bool(middle.start.any())  # mid-trial: no trial start here
    assert bool(batch.start[0].all())
    assert not np.any(hidden) and not np.any(batch.prev_action[0])
    np.testing.assert_array_equal(batch.encoder_obs[0], batch.raw_obs[0])


def test_rl2_memory_can_carry_across_rollouts(clean):
    _, middle, _, (hidden, batch) = clean
    assert not bool(batch.start[0].any())
    np.testing.assert_array_equal(hidden, middle.hidden)
    assert np.any(hidden)


def test_varibad_learns_nothing_until_precollection_ends():
    """H metalearner.py:297: no update at all, PPO and normalisers included, until
    `precollect_len` frames; here the third update is the first (3 x 150 >= 301)."""
    cfg = TrainConfig(
        algo="varibad",
        vae=VAEConfig(buffer_trials=8, batch_trials=2, precollect_steps=301),
        **SMALL,
    )
    trainer = make_train(cfg)
    params = trainer.agent.init(jax.random.key(1), "bias_hyperinit")
    state = trainer.init(jax.random.key(2), params, PPOHParams.from_config(cfg.ppo))
    run_chunk = jax.jit(trainer.run_chunk)
    learned = []
    for _ in range(3):
        before = state
        state, _ = run_chunk(state)
        same = jax.tree.map(
            lambda a, b: bool(jnp.array_equal(a, b)),
            (before.params, before.obs_stats.mean, before.vae.params),
            (state.params, state.obs_stats.mean, state.vae.params),
        )
        learned.append([not all(jax.tree.leaves(part)) for part in same])
    assert learned == [[False] * 3, [False] * 3, [True] * 3]
