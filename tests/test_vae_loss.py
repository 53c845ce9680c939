"""VariBAD's loss as the authors' vae.py reduces it, checked against numpy loops; the grid-world
decoder and embedding options; the encoder's and decoders' PyTorch-style init; the trial
buffer with variable-length trials; and the re-encoding of the running trials after an update."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.algos import varibad
from hyperjax.algos.ppo import PPOHParams
from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig, VAEConfig
from hyperjax.errors import ConfigError
from hyperjax.nets.decoder import RewardDecoder, VAEDecoders, grid_cell_index
from hyperjax.nets.encoder import TrajectoryEncoder, unroll_encoder
from hyperjax.train import make_train

N, L, LATENT, S = 3, 4, 2, 2
RNG = np.random.default_rng(0)
MU = RNG.normal(size=(L + 1, N, LATENT)).astype(np.float32)  # time-major, as encode returns
LOGVAR = (0.5 * RNG.normal(size=(L + 1, N, LATENT))).astype(np.float32)
TRIALS = {
    "obs": RNG.normal(size=(N, L, S)).astype(np.float32),
    "action": RNG.normal(size=(N, L, 1)).astype(np.float32),
    "reward": RNG.normal(size=(N, L)).astype(np.float32),
    "next_obs": RNG.normal(size=(N, L, S)).astype(np.float32),
}


def _encode(prev_action, prev_reward, obs, start):
    assert obs.shape == (L + 1, N, S)  # the H + 1 posteriors q_0..q_H
    return jnp.asarray(MU), jnp.asarray(LOGVAR)


def _decode(z, obs, action, next_obs):
    reward = z[..., 0] * next_obs[..., 0] + obs[..., 1] + action[..., 0]
    return {"reward": reward, "next_obs": z[..., :1] + 2.0 * obs}


def _kl_np(mu, logvar, mu0, logvar0):
    total = 0.0
    for d in range(len(mu)):
        var, var0 = math.exp(logvar[d]), math.exp(logvar0[d])
        total += 0.5 * (logvar0[d] - logvar[d] + (var + (mu[d] - mu0[d]) ** 2) / var0 - 1.0)
    return total


def _expected(cfg, length, key):
    """The reference's compute_loss with numpy loops, given the sampled indices and noise."""
    index_key, z_key = jax.random.split(key)
    t, t_valid, j, j_valid = (
        np.asarray(a) for a in varibad.sample_elbo_indices(index_key, jnp.asarray(length), L, cfg)
    )
    eps = np.asarray(jax.random.normal(z_key, (N, t.shape[1], LATENT)))
    kl = np.zeros((L + 1, N))  # (time, trial) as the reference's kl_divergences
    for n in range(N):
        for s in range(L + 1):
            prev = (
                (np.zeros(LATENT), np.zeros(LATENT)) if s == 0 else (MU[s - 1, n], LOGVAR[s - 1, n])
            )
            kl[s, n] = _kl_np(MU[s, n], LOGVAR[s, n], *prev)
    rew, state, pairs = np.zeros(N), np.zeros(N), 0
    for n in range(N):
        for e in range(t.shape[1]):
            if not t_valid[n, e]:
                continue
            pairs += 1
            z = MU[t[n, e], n] + np.exp(0.5 * LOGVAR[t[n, e], n]) * eps[n, e]
            for d in range(j.shape[2]):
                jj = j[n, min(e, j.shape[1] - 1), d]
                if not j_valid[n, min(e, j.shape[1] - 1), d]:
                    continue
                o, a = TRIALS["obs"][n, jj], TRIALS["action"][n, jj]
                o2, r = TRIALS["next_obs"][n, jj], TRIALS["reward"][n, jj]
                rew[n] += (z[0] * o2[0] + o[1] + a[0] - r) ** 2
                state[n] += np.mean([(z[0] + 2.0 * o[k] - o2[k]) ** 2 for k in range(S)])
    if cfg.loss_reduction == "mean":
        rec = (rew.sum() / pairs, state.sum() / pairs)
        valid = [(s, n) for n in range(N) for s in range(length[n] + 1)]
        kl_term = sum(kl[s, n] for s, n in valid) / len(valid)
    else:
        rec = (rew.mean(), state.mean())
        if cfg.elbo_steps is None:
            kl_term = sum(kl[s, n] for n in range(N) for s in range(length[n] + 1))
        elif cfg.loss_reduction == "hyper":
            # elbo_indices: B x Te indices (position e * B + b), used along time only:
            # kl_divergences[elbo_indices] is (B * Te, B); .sum(dim=0).sum(dim=0).
            elbo_indices = [t[b, e] for e in range(t.shape[1]) for b in range(N)]
            kl_term = kl[elbo_indices].sum(axis=0).sum(axis=0)
        else:  # upstream VariBAD: kl[elbo_indices, task_indices].reshape(Te, B)
            kl_term = sum(kl[t[b, e], b] for e in range(t.shape[1]) for b in range(N))
    return rec[0], rec[1], kl_term


@pytest.mark.parametrize("reduction", ["hyper", "varibad", "mean"])
@pytest.mark.parametrize("length", [[4, 4, 4], [4, 2, 3]])
@pytest.mark.parametrize("steps", [(3, 5), (None, None)])
def test_loss_terms_against_numpy_loops(reduction, length, steps):
    cfg = VAEConfig(
        loss_reduction=reduction, elbo_steps=steps[0], decode_steps=steps[1], decode_state=True
    )
    key = jax.random.key(3)
    terms = varibad.elbo_terms(_encode, _decode, key, TRIALS, jnp.asarray(length), cfg)
    rew, state, kl = _expected(cfg, length, key)
    assert float(terms["reward_loss"]) == pytest.approx(rew, rel=1e-4)
    assert float(terms["state_loss"]) == pytest.approx(state, rel=1e-4)
    assert float(terms["kl"]) == pytest.approx(kl, rel=1e-4)
    loss = varibad.vae_loss(terms, cfg)
    assert float(loss) == pytest.approx(rew + state + cfg.kl_weight * kl, rel=1e-4)


def test_hyper_kl_is_batch_size_times_upstreams_on_average():
    """The authors' indexing counts every trial's KL at every sampled index of the batch."""
    n, steps = 8, 4
    kl = jnp.asarray(RNG.uniform(size=(n, steps + 1)))
    t = jnp.asarray(RNG.integers(0, steps + 1, size=(n, 3)))
    ones = jnp.ones(t.shape, bool)
    valid = jnp.ones(kl.shape, bool)
    hyper = varibad.reduce_kl(kl, t, ones, valid, VAEConfig(loss_reduction="hyper"))
    expected = sum(float(kl[b, int(s)]) for s in np.asarray(t).ravel() for b in range(n))
    assert float(hyper) == pytest.approx(expected, rel=1e-5)


def test_sampled_indices_stay_inside_each_trial():
    cfg = VAEConfig(elbo_steps=50, decode_steps=50)
    length = jnp.array([7, 1, 12])
    t, _, j, _ = varibad.sample_elbo_indices(jax.random.key(0), length, 12, cfg)
    assert t.shape == (3, 50) and j.shape == (3, 50, 50)
    assert bool(jnp.all(t <= length[:, None])) and bool(jnp.all(j < length[:, None, None]))
    assert int(t[0].max()) == 7  # q_H, the posterior after the last transition, is included


def test_posterior_inputs_end_with_the_final_observation_and_zero_padding():
    trials = {k: jnp.asarray(v) for k, v in TRIALS.items()}
    prev_action, prev_reward, obs, start = varibad.posterior_inputs(trials, jnp.array([4, 2, 3]))
    assert obs.shape == (L + 1, N, S) and bool(start[0].all()) and not bool(start[1:].any())
    np.testing.assert_allclose(obs[2, 1], TRIALS["next_obs"][1, 1])  # s_H of the 2-step trial
    np.testing.assert_allclose(obs[:2, 1], TRIALS["obs"][1, :2])
    assert float(jnp.abs(obs[3:, 1]).max()) == 0.0  # zero padding after the end
    np.testing.assert_allclose(prev_reward[1:3, 1], TRIALS["reward"][1, :2])
    assert float(prev_reward[0, 1]) == 0.0 and float(jnp.abs(prev_reward[3:, 1]).max()) == 0.0
    np.testing.assert_allclose(prev_action[4, 0], TRIALS["action"][0, 3])


# ---- grid-world decoder and embeddings -----------------------------------------------------------


def test_multihead_bernoulli_reward_decoder_reads_the_cell_of_the_next_state():
    cfg = VAEConfig(reward_decoder="multihead", reward_loss="bernoulli", decoder_hidden=(32, 32))
    obs = jnp.array([[2.0, 3.0, 0.0], [0.0, 4.0, 1.0], [4.0, 4.0, 0.0]])  # (x, y, episode flag)
    np.testing.assert_array_equal(grid_cell_index(obs, 5), [13, 4, 24])
    decoder = RewardDecoder(cfg, grid_size=5)
    z = jax.random.normal(jax.random.key(0), (3, 5))
    params = decoder.init(jax.random.key(1), z, obs, jnp.zeros((3, 5)), obs)
    kernels = [p["kernel"].shape for p in params["params"].values()]
    assert kernels == [(5, 32), (32, 32), (32, 25)]  # the latent alone -> one head per cell
    all_cells = z
    for i in range(2):
        layer = params["params"][f"hidden_{i}"]
        all_cells = jax.nn.relu(all_cells @ layer["kernel"] + layer["bias"])
    all_cells = all_cells @ params["params"]["out"]["kernel"] + params["params"]["out"]["bias"]
    got = decoder.apply(params, z, obs, jnp.zeros((3, 5)), obs)
    np.testing.assert_allclose(got, all_cells[jnp.arange(3), jnp.array([13, 4, 24])], rtol=1e-5)

    # The Bernoulli loss: BCE of sigmoid(logit) against (reward == 1), summed as the reference.
    logit = np.array([0.3, -1.2])
    reward = np.array([1.0, -0.1])

    def decode(z, obs, action, next_obs):
        return {"reward": jnp.broadcast_to(jnp.asarray(logit)[:, None, None], (2, 1, 2))}

    trials = {
        "obs": jnp.zeros((2, 2, 2)),
        "action": jnp.zeros((2, 2, 1)),
        "reward": jnp.asarray(np.stack([reward, reward[::-1]])),
        "next_obs": jnp.zeros((2, 2, 2)),
    }
    mu = jnp.zeros((3, 2, 1))
    terms = varibad.elbo_terms(
        lambda *a: (mu, mu),
        decode,
        jax.random.key(0),
        trials,
        jnp.array([2, 2]),
        VAEConfig(reward_loss="bernoulli", elbo_steps=None, decode_steps=None),
    )
    p = 1 / (1 + np.exp(-logit))
    per_trial = []
    for n in range(2):
        total = 0.0
        for _ in range(3):  # ELBO terms q_0, q_1, q_2
            for d in range(2):
                y = float(trials["reward"][n, d] == 1.0)
                total += -(y * np.log(p[n]) + (1 - y) * np.log(1 - p[n]))
        per_trial.append(total)
    assert float(terms["reward_loss"]) == pytest.approx(np.mean(per_trial), rel=1e-5)


def test_multihead_needs_the_grid_world():
    cfg = TrainConfig(env="bandit", algo="varibad", vae=VAEConfig(reward_decoder="multihead"))
    trainer_cfg = cfg.replace(ppo=PPOConfig(num_envs=4, num_steps=10, minibatches=2))
    with pytest.raises(ConfigError, match="vae.reward_decoder"):
        _ = make_train(trainer_cfg.replace(vae=cfg.vae.replace(buffer_trials=16))).agent.decoders


def test_zero_width_embeddings_drop_the_input():
    cfg = EncoderConfig(action_embed_dim=0, reward_embed_dim=8, state_embed_dim=32, gru_dim=16)
    encoder = TrajectoryEncoder(cfg, out_dim=10)
    args = (jnp.zeros((2, 16)), jnp.ones((2, 5)), jnp.ones(2), jnp.ones((2, 3)), jnp.ones(2, bool))
    params = encoder.init(jax.random.key(0), *args)
    assert "action_embed" not in params["params"]
    assert params["params"]["gru"]["input_kernel"].shape == (8 + 32, 3 * 16)
    x = encoder.apply(params, *args[1:4], method=TrajectoryEncoder.embed)
    assert x.shape == (2, 40)
    vae = VAEConfig(action_embed_dim=0, decode_state=True)
    dec = VAEDecoders(vae, obs_dim=3)
    dparams = dec.init(
        jax.random.key(1),
        jnp.zeros((1, 5)),
        jnp.zeros((1, 3)),
        jnp.zeros((1, 4)),
        jnp.zeros((1, 3)),
    )
    for name in ("reward", "state"):
        assert "action_embed" not in dparams["params"][name]


@pytest.mark.parametrize(
    "make, field",
    [
        (
            lambda: EncoderConfig(action_embed_dim=0, reward_embed_dim=0, state_embed_dim=0),
            "encoder.",
        ),
        (lambda: EncoderConfig(action_embed_dim=-1), "encoder.action_embed_dim"),
        (lambda: VAEConfig(action_embed_dim=-1), "vae.action_embed_dim"),
        (lambda: VAEConfig(decode_reward=False, decode_state=False), "vae.decode_reward"),
        (lambda: VAEConfig(reward_decoder="heads"), "vae.reward_decoder"),
        (lambda: VAEConfig(reward_loss="l1"), "vae.reward_loss"),
        (lambda: VAEConfig(loss_reduction="sum"), "vae.loss_reduction"),
        (lambda: VAEConfig(elbo_steps=0), "vae.elbo_steps"),
        (lambda: VAEConfig(state_decoder_hidden=(0,)), "vae.state_decoder_hidden"),
    ],
)
def test_bad_vae_settings_give_one_line_errors(make, field):
    with pytest.raises(ConfigError, match=field) as info:
        make()
    assert "\n" not in str(info.value)


def test_grid_and_walker_settings_are_accepted():
    VAEConfig(
        reward_decoder="multihead",
        reward_loss="bernoulli",
        decoder_hidden=(32, 32),
        action_embed_dim=0,
        elbo_steps=None,
        decode_steps=None,
        batch_trials=25,
        updates_per_ppo=3,
    )
    walker = VAEConfig(decode_reward=False, decode_state=True, state_decoder_hidden=(256, 128))
    params = VAEDecoders(walker, obs_dim=6).init(
        jax.random.key(0),
        jnp.zeros((1, 10)),
        jnp.zeros((1, 6)),
        jnp.zeros((1, 2)),
        jnp.zeros((1, 6)),
    )
    assert set(params["params"]) == {"state"}
    assert params["params"]["state"]["hidden_0"]["kernel"].shape[1] == 256
    assert params["params"]["state"]["hidden_1"]["kernel"].shape[1] == 128


# ---- init ----------------------------------------------------------------------------------------


def _assert_torch_linear(layer, fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    for name in ("kernel", "bias"):
        w = np.asarray(layer[name])
        assert np.abs(w).max() <= bound + 1e-7, name
        if w.size >= 200:  # U(+-b) has variance b^2 / 3
            assert np.var(w) == pytest.approx(bound**2 / 3, rel=0.2), name
    assert np.abs(np.asarray(layer["bias"])).max() > 0  # not Flax's zero bias


def test_encoder_init_as_the_reference():
    cfg = EncoderConfig(action_embed_dim=16, reward_embed_dim=16, state_embed_dim=32, gru_dim=64)
    encoder = TrajectoryEncoder(cfg, out_dim=10)
    args = (
        jnp.zeros((1, 64)),
        jnp.zeros((1, 6)),
        jnp.zeros(1),
        jnp.zeros((1, 17)),
        jnp.ones(1, bool),
    )
    p = encoder.init(jax.random.key(0), *args)["params"]
    _assert_torch_linear(p["action_embed"], 6)
    _assert_torch_linear(p["reward_embed"], 1)
    _assert_torch_linear(p["state_embed"], 17)
    _assert_torch_linear(p["readout"], 64)
    gru = p["gru"]
    for name, fan_in in (("input_kernel", 64), ("hidden_kernel", 64)):
        w = np.asarray(gru[name])  # (fan_in, 3H): PyTorch's (3H, fan_in) has orthonormal columns
        assert w.shape == (fan_in, 3 * 64)
        np.testing.assert_allclose(w @ w.T, np.eye(fan_in), atol=1e-5)
    assert not np.any(np.asarray(gru["input_bias"])) and not np.any(np.asarray(gru["hidden_bias"]))


def test_gru_cell_matches_pytorch_equations():
    encoder = TrajectoryEncoder(EncoderConfig(gru_dim=4), out_dim=2)
    args = (
        jnp.zeros((1, 4)),
        jnp.zeros((1, 2)),
        jnp.zeros(1),
        jnp.zeros((1, 3)),
        jnp.ones(1, bool),
    )
    params = encoder.init(jax.random.key(0), *args)
    gru = jax.tree.map(np.asarray, params["params"]["gru"])
    gru["input_bias"] = RNG.normal(size=12)
    gru["hidden_bias"] = RNG.normal(size=12)
    params = {"params": {**params["params"], "gru": gru}}
    h = RNG.normal(size=(1, 4)).astype(np.float32)
    x = RNG.normal(size=(1, 64)).astype(np.float32)
    got = encoder.apply(
        params, jnp.asarray(h), jnp.asarray(x), jnp.zeros(1, bool), method=TrajectoryEncoder.recur
    )
    gi = x @ gru["input_kernel"] + gru["input_bias"]
    gh = h @ gru["hidden_kernel"] + gru["hidden_bias"]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r, z = sig(gi[:, :4] + gh[:, :4]), sig(gi[:, 4:8] + gh[:, 4:8])
    n = np.tanh(gi[:, 8:] + r * gh[:, 8:])
    np.testing.assert_allclose(got, (1 - z) * n + z * h, rtol=1e-5, atol=1e-6)


def test_decoder_layers_are_pytorch_default_linear():
    cfg = VAEConfig(decode_state=True, decoder_hidden=(64, 32), state_decoder_hidden=(64, 32))
    dec = VAEDecoders(cfg, obs_dim=20)
    params = dec.init(
        jax.random.key(0),
        jnp.zeros((1, 5)),
        jnp.zeros((1, 20)),
        jnp.zeros((1, 6)),
        jnp.zeros((1, 20)),
    )["params"]
    reward = params["reward"]
    # One state embedding for s and s' (the reference's single state_encoder): z + 32 + 16 + 32.
    assert set(reward) == {"state_embed", "action_embed", "hidden_0", "hidden_1", "out"}
    assert reward["hidden_0"]["kernel"].shape == (5 + 32 + 16 + 32, 64)
    _assert_torch_linear(reward["state_embed"], 20)
    _assert_torch_linear(reward["hidden_0"], 85)
    _assert_torch_linear(reward["out"], 32)
    state = params["state"]
    assert state["hidden_0"]["kernel"].shape == (5 + 32 + 16, 64)
    _assert_torch_linear(state["hidden_0"], 53)
    _assert_torch_linear(state["out"], 32)


# ---- trial buffer --------------------------------------------------------------------------------


def simulate_buffer(module, num_envs=3, capacity=6, trial_len=6, steps=400, seed=0):
    """Random trial lengths 1..trial_len per env; step values mark (env, trial). Returns a list
    of violations: a slot held by two envs, a held slot marked complete, or a complete slot
    whose steps are not exactly one trial's 0..length-1 in order."""
    rng = np.random.default_rng(seed)
    buffer = module.buffer_init(capacity, num_envs, trial_len, 1, 1)
    add = jax.jit(module.buffer_add_step)
    remaining = rng.integers(1, trial_len + 1, size=num_envs)
    trial_id = np.arange(num_envs)
    next_id = num_envs
    problems = []
    pos = np.zeros(num_envs, int)
    for _ in range(steps):
        end = remaining == 1
        marker = trial_id.astype(np.float32)
        buffer = add(
            buffer,
            jnp.asarray(pos, jnp.float32)[:, None],
            jnp.zeros((num_envs, 1)),
            jnp.asarray(marker),
            jnp.zeros((num_envs, 1)),
            jnp.asarray(end),
        )
        for e in range(num_envs):
            if end[e]:
                trial_id[e], next_id = next_id, next_id + 1
                remaining[e] = rng.integers(1, trial_len + 1)
                pos[e] = 0
            else:
                remaining[e] -= 1
                pos[e] += 1
        slot = np.asarray(buffer.slot)
        complete = np.asarray(buffer.complete)
        if len(set(slot.tolist())) != num_envs:
            problems.append(f"slot held twice: {slot}")
        if complete[slot].any():
            problems.append(f"held slot marked complete: {slot}, {complete}")
        for c in np.flatnonzero(complete):
            n = int(buffer.length[c])
            rewards, obs = np.asarray(buffer.reward[c, :n]), np.asarray(buffer.obs[c, :n, 0])
            if len(set(rewards.tolist())) != 1 or not np.array_equal(obs, np.arange(n)):
                problems.append(f"slot {c} mixes trials: {rewards}, {obs}")
    return problems


def test_no_slot_is_held_twice_with_variable_length_trials():
    for seed in range(3):
        assert simulate_buffer(varibad, seed=seed) == []


def test_buffer_still_hands_out_slots_in_fifo_order_when_none_is_held():
    buffer = varibad.buffer_init(capacity=5, num_envs=2, trial_length=1, obs_dim=1, action_dim=1)
    add = jax.jit(varibad.buffer_add_step)
    handed = []
    for _ in range(4):
        buffer = add(
            buffer,
            jnp.zeros((2, 1)),
            jnp.zeros((2, 1)),
            jnp.zeros(2),
            jnp.zeros((2, 1)),
            jnp.ones(2, bool),
        )
        handed += np.asarray(buffer.slot).tolist()
    assert handed == [2, 3, 4, 0, 1, 2, 3, 4]


def fifo_slots_over_whole_buffer(slot, next_slot, trial_end, capacity):
    """The slot hand-out searched over every slot of the buffer (the O(capacity) reference):
    (new slots, new cursor)."""
    held = np.zeros(capacity, bool)
    held[slot[~trial_end]] = True
    new_slot, cursor, offset = slot.copy(), next_slot, 0
    for env in np.flatnonzero(trial_end):
        while held[(next_slot + offset) % capacity]:
            offset += 1
        new_slot[env] = (next_slot + offset) % capacity
        offset += 1
        cursor = (next_slot + offset) % capacity
    return new_slot, cursor


@pytest.mark.parametrize("capacity", [4, 7, 64])
def test_slots_searched_near_the_cursor_are_those_of_a_whole_buffer_search(capacity):
    num_envs, rng = 4, np.random.default_rng(capacity)
    buffer = varibad.buffer_init(capacity, num_envs, 3, 1, 1)
    add = jax.jit(varibad.buffer_add_step)
    for _ in range(200):
        trial_end = rng.random(num_envs) < 0.4
        expected = fifo_slots_over_whole_buffer(
            np.asarray(buffer.slot), int(buffer.next_slot), trial_end, capacity
        )
        zeros = jnp.zeros((num_envs, 1))
        buffer = add(buffer, zeros, zeros, jnp.zeros(num_envs), zeros, jnp.asarray(trial_end))
        np.testing.assert_array_equal(buffer.slot, expected[0])
        assert int(buffer.next_slot) == expected[1]


# ---- re-encoding the running trials --------------------------------------------------------------


def test_running_trials_are_reencoded_with_the_updated_encoder():
    cfg = TrainConfig(
        env="grid-world",
        algo="varibad",
        episode_length=5,
        episodes_per_trial=2,
        policy=PolicyConfig(state_embed_dim=16, hidden=(16,), task_embed_dim=8),
        encoder=EncoderConfig(gru_dim=16),
        ppo=PPOConfig(num_envs=4, num_steps=23, minibatches=2, epochs=1),
        vae=VAEConfig(
            buffer_trials=16,
            batch_trials=4,
            elbo_steps=4,
            decode_steps=4,
            precollect_steps=0,
            lr=1e-2,
        ),
        total_env_steps=4 * 23,
        updates_per_chunk=1,
    )
    trainer = make_train(cfg)
    agent = trainer.agent
    params = agent.init(jax.random.key(0), "bias_hyperinit")
    state = trainer.init(jax.random.key(1), params, PPOHParams.from_config(cfg.ppo))
    state, _ = jax.jit(trainer.run_chunk)(state)
    new = state.vae.params["encoder"]
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new, params["encoder"])
    assert all(jax.tree.leaves(changed))  # the VAE was updated
    buffer = state.vae.buffer
    position = np.asarray(buffer.position)
    assert (position == 3).all()  # 23 steps = 2 trials of 10 + 3
    for e in range(cfg.ppo.num_envs):
        p, slot = int(position[e]), int(buffer.slot[e])
        action, reward = buffer.action[slot, :p], buffer.reward[slot, :p]
        prev_action = jnp.concatenate([jnp.zeros_like(action[:1]), action[:-1]])[:, None]
        prev_reward = jnp.concatenate([jnp.zeros(1), reward[:-1]])[:, None]
        start = jnp.zeros((p, 1), bool).at[0].set(True)
        hiddens, _ = unroll_encoder(
            agent.encoder,
            new,
            jnp.zeros((1, agent.hidden_dim)),
            prev_action,
            prev_reward,
            buffer.obs[slot, :p][:, None],
            start,
        )
        np.testing.assert_allclose(state.hidden[e], hiddens[-1, 0], rtol=1e-4, atol=1e-5)
        old, _ = unroll_encoder(
            agent.encoder,
            params["encoder"],
            jnp.zeros((1, agent.hidden_dim)),
            prev_action,
            prev_reward,
            buffer.obs[slot, :p][:, None],
            start,
        )
        assert float(jnp.abs(old[-1, 0] - hiddens[-1, 0]).max()) > 1e-4
