"""The encoder's memory is zeroed exactly at trial starts (the `start` flag), nowhere else."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hyperjax.envs
from hyperjax.agent import Agent
from hyperjax.algos.ppo import PPOHParams
from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig
from hyperjax.nets.encoder import TrajectoryEncoder, unroll_encoder
from hyperjax.train import make_train

TOL = dict(rtol=1e-5, atol=1e-5)
T, B, A, S, H, OUT = 10, 3, 5, 3, 8, 4
# Trial starts: every env at t=0, env 0 again at t=4, env 1 at t=7 and t=8; env 2 never again.
STARTS = {(0, 0), (0, 1), (0, 2), (4, 0), (7, 1), (8, 1)}


def start_flags():
    start = np.zeros((T, B), bool)
    for t, b in STARTS:
        start[t, b] = True
    return jnp.asarray(start)


def sequence(seed):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return (
        jax.random.normal(k[0], (B, H)),  # a non-zero initial memory: t=0 must zero it
        jax.random.normal(k[1], (T, B, A)),
        jax.random.normal(k[2], (T, B)),
        jax.random.normal(k[3], (T, B, S)),
    )


@pytest.fixture(scope="module")
def encoder_and_params():
    encoder = TrajectoryEncoder(EncoderConfig(gru_dim=H), out_dim=OUT)
    dummy = (jnp.zeros((1, H)), jnp.zeros((1, A)), jnp.zeros((1,)), jnp.zeros((1, S)))
    params = encoder.init(jax.random.PRNGKey(0), *dummy, jnp.ones((1,), bool))
    return encoder, params


def test_hidden_zeroed_exactly_at_starts(encoder_and_params):
    encoder, params = encoder_and_params
    hidden0, prev_action, prev_reward, obs = sequence(1)
    start = start_flags()
    hiddens, outputs = unroll_encoder(
        encoder, params, hidden0, prev_action, prev_reward, obs, start
    )
    assert hiddens.shape == (T, B, H) and outputs.shape == (T, B, OUT)

    def fresh(flag):
        """The hidden after each step (t, b) alone, from a zero memory: (T, B, H)."""
        h, _ = encoder.apply(
            params,
            jnp.zeros((T * B, H)),
            prev_action.reshape(T * B, A),
            prev_reward.reshape(T * B),
            obs.reshape(T * B, S),
            jnp.full((T * B,), flag),
        )
        return np.asarray(h).reshape(T, B, H)

    zero_history = fresh(False)
    np.testing.assert_allclose(fresh(True), zero_history, **TOL)
    hiddens = np.asarray(hiddens)
    for t in range(T):
        for b in range(B):
            if (t, b) in STARTS:
                np.testing.assert_allclose(hiddens[t, b], zero_history[t, b], **TOL)
            else:
                # Memory carries on: the hidden depends on the past.
                assert np.abs(hiddens[t, b] - zero_history[t, b]).max() > 1e-3, (t, b)


def test_start_blocks_the_past(encoder_and_params):
    """Changing inputs before a start changes nothing from the start on, only before it."""
    encoder, params = encoder_and_params
    hidden0, prev_action, prev_reward, obs = sequence(2)
    start = start_flags()
    base, _ = unroll_encoder(encoder, params, hidden0, prev_action, prev_reward, obs, start)
    # Perturb every input of steps 0..3 (and the initial memory); env 0 restarts at t=4.
    perturbed_obs = obs.at[:4].add(1.0)
    perturbed_reward = prev_reward.at[:4].add(1.0)
    other, _ = unroll_encoder(
        encoder, params, hidden0 + 1.0, prev_action, perturbed_reward, perturbed_obs, start
    )
    np.testing.assert_allclose(other[4:, 0], base[4:, 0], **TOL)
    assert np.abs(np.asarray(other[:4, 0] - base[:4, 0])).max() > 1e-3
    # Env 2 never restarts after t=0, so the perturbation reaches its end.
    assert np.abs(np.asarray(other[-1, 2] - base[-1, 2])).max() > 1e-4
    # The initial memory alone is erased by the t=0 start everywhere.
    only_hidden, _ = unroll_encoder(
        encoder, params, hidden0 + 1.0, prev_action, prev_reward, obs, start
    )
    np.testing.assert_allclose(only_hidden, base, **TOL)


def test_unroll_matches_stepping(encoder_and_params):
    encoder, params = encoder_and_params
    hidden0, prev_action, prev_reward, obs = sequence(3)
    start = start_flags().at[0, 2].set(False)  # env 2: keeps its initial memory
    hiddens, outputs = unroll_encoder(
        encoder, params, hidden0, prev_action, prev_reward, obs, start
    )
    step = jax.jit(encoder.apply)
    h = hidden0
    for t in range(T):
        h, out = step(params, h, prev_action[t], prev_reward[t], obs[t], start[t])
        np.testing.assert_allclose(hiddens[t], h, **TOL)
        np.testing.assert_allclose(outputs[t], out, **TOL)


# ---- through the agent --------------------------------------------------------------------------
def tiny_config(**changes) -> TrainConfig:
    cfg = TrainConfig(
        env="grid-world",
        encoder=EncoderConfig(gru_dim=H),
        policy=PolicyConfig.sized("XS"),
    )
    return cfg.replace(**changes)


def agent_inputs(agent: Agent, seed: int):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    actions = jax.random.randint(k[0], (T, B), 0, agent.action_dim)
    prev_action = agent.action_features(actions)
    prev_reward = jax.random.normal(k[1], (T, B))
    obs = jax.random.normal(k[2], (T, B, agent.obs_dim))
    task = jax.random.normal(k[3], (T, B, agent.task_dim))
    return prev_action, prev_reward, obs, start_flags(), task


def test_agent_encode_sequence_matches_steps():
    env = hyperjax.envs.make("grid-world")
    agent = Agent.for_env(tiny_config(), env)
    assert agent.uses_memory and agent.hidden_dim == H
    params = agent.init(jax.random.PRNGKey(0), "bias_hyperinit")
    prev_action, prev_reward, obs, start, task = agent_inputs(agent, 4)
    assert prev_action.shape == (T, B, env.action_size)
    hidden0 = jax.random.normal(jax.random.PRNGKey(5), (B, agent.hidden_dim))

    z_seq = agent.encode_sequence(params, hidden0, prev_action, prev_reward, obs, start, task)
    assert z_seq.shape == (T, B, agent.z_dim)
    encode_step = jax.jit(agent.encode_step)
    h = hidden0
    for t in range(T):
        h, z = encode_step(params, h, prev_action[t], prev_reward[t], obs[t], start[t], task[t])
        np.testing.assert_allclose(z_seq[t], z, **TOL)
    # The policy accepts the latent.
    out = agent.act(params, obs[0], z_seq[0])
    assert out.value.shape == (B,)


def test_oracle_z_is_the_task():
    env = hyperjax.envs.make("grid-world")
    agent = Agent.for_env(tiny_config(algo="oracle"), env)
    assert not agent.uses_memory and agent.z_dim == env.task_size
    params = agent.init(jax.random.PRNGKey(0), "bias_hyperinit")
    assert "encoder" not in params
    prev_action, prev_reward, obs, start, task = agent_inputs(agent, 6)
    hidden = jnp.zeros((B, agent.hidden_dim))
    z_seq = agent.encode_sequence(params, hidden, prev_action, prev_reward, obs, start, task)
    np.testing.assert_array_equal(z_seq, task)
    h, z = agent.encode_step(
        params, hidden, prev_action[0], prev_reward[0], obs[0], start[0], task[0]
    )
    np.testing.assert_array_equal(z, task[0])
    np.testing.assert_array_equal(h, hidden)


# ---- through the training loop ------------------------------------------------------------------
def test_rollout_start_flag_follows_trial_ends():
    """Grid-world trials are 4 x 15 = 60 steps and never end early, so with 20-step rollouts
    every env ends its trial exactly at the end of the third rollout, and at no other chunk
    boundary. At a chunk boundary `start` must equal the last step's `trial_end`, and the
    encoder's next input must be the finished trial's last transition there (the authors'
    rollout, `TrainConfig.trial_start_input`). (Trial ends inside a rollout: see
    test_rollout_memory.py.)"""
    cfg = tiny_config(
        total_env_steps=80,
        updates_per_chunk=1,
        ppo=PPOConfig(num_envs=4, num_steps=20, minibatches=2),
        rl2_memory_across_rollouts=True,  # chunk boundaries inside a trial keep the memory
    )
    trainer = make_train(cfg)
    key = jax.random.PRNGKey(0)
    params = trainer.agent.init(key, "bias_hyperinit")
    state = trainer.init(key, params, PPOHParams.from_config(cfg.ppo))
    assert np.all(state.start)
    np.testing.assert_array_equal(state.hidden, 0.0)

    run_chunk = jax.jit(trainer.run_chunk)
    for chunk in range(1, 5):
        state, metrics = run_chunk(state)
        info = state.env_state.info
        trial_ended = chunk * 20 % 60 == 0
        np.testing.assert_array_equal(state.start, info["trial_end"])
        np.testing.assert_array_equal(state.start, trial_ended)
        np.testing.assert_array_equal(info["step_in_episode"], chunk * 20 % 15)
        assert float(metrics["trials"]) == (4.0 if trial_ended else 0.0)
        # The memory is carried into the next step as is; it is zeroed there, by `start`.
        assert np.abs(np.asarray(state.hidden)).max() > 0
        assert np.all(np.asarray(state.prev_action).sum(-1) == 1.0)  # the last action, one-hot
        if trial_ended:
            np.testing.assert_array_equal(info["episode_index"], 0)
            np.testing.assert_array_equal(state.trial_return, 0.0)
            np.testing.assert_array_equal(state.encoder_obs, info["final_obs"])
            assert not np.array_equal(state.encoder_obs, state.env_state.obs)
        else:
            np.testing.assert_array_equal(state.encoder_obs, state.env_state.obs)
            assert np.all(np.asarray(state.trial_return) != 0.0)


def _trained_one_chunk(algo: str):
    cfg = tiny_config(
        algo=algo,
        env="point-robot",
        total_env_steps=40,
        updates_per_chunk=1,
        ppo=PPOConfig(num_envs=4, num_steps=10, minibatches=2),
    )
    trainer = make_train(cfg)
    key = jax.random.PRNGKey(1)
    params = trainer.agent.init(key, "bias_hyperinit")
    state = trainer.init(key, params, PPOHParams.from_config(cfg.ppo))
    state, _ = jax.jit(trainer.run_chunk)(state)
    return trainer, state


def _infer_inputs(trainer, state):
    raw_obs = state.env_state.obs
    return (
        state.hidden,
        state.prev_action,
        state.prev_reward,
        raw_obs,
        trainer.normalize_obs(raw_obs, state.obs_stats),
        state.start,
        state.env_state.info["task"],
    )


def test_rl2_encoder_reads_raw_observations():
    """The authors' RL2 GRU reads the env's state as is; only the policy's input is normalised
    (its statistics drift, and the memory must not drift with them)."""
    trainer, state = _trained_one_chunk("rl2")
    assert float(np.abs(np.asarray(state.obs_stats.mean)).max()) > 0.01  # normalising moves obs
    hidden, prev_action, prev_reward, raw_obs, obs, start, task = _infer_inputs(trainer, state)
    assert not np.allclose(raw_obs, obs)
    args = (hidden, prev_action, prev_reward, raw_obs)
    from_raw = trainer.infer(state, *args, raw_obs, start, task)
    given_normalised = trainer.infer(state, *args, obs, start, task)
    np.testing.assert_array_equal(from_raw[1], given_normalised[1])
    direct = trainer.agent.encode_step(
        state.params, hidden, prev_action, prev_reward, raw_obs, start, task
    )
    np.testing.assert_array_equal(direct[1], from_raw[1])


def test_oracle_task_input_is_normalised_with_running_statistics():
    """The authors' norm_task_for_policy: (task - mean) / std over the tasks seen so far."""
    trainer, state = _trained_one_chunk("oracle")
    stats = state.task_stats
    assert float(np.abs(np.asarray(stats.mean)).max()) > 0.01  # seen tasks moved the statistics
    _, z = trainer.infer(state, *_infer_inputs(trainer, state))
    task = state.env_state.info["task"]
    np.testing.assert_allclose(z, (task - stats.mean) / stats.std, rtol=1e-5, atol=1e-6)
    assert not np.allclose(z, task)
