"""Policy diagnostics inside the training program: what they measure at init and after an
update, that a vmapped sweep's equal each run's alone, and that they never change training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import TINY_BANDIT

from hyperjax.algos.ppo import PPOHParams
from hyperjax.config import TrainConfig, policy_kind_of
from hyperjax.diagnostics import (
    policy_diagnostics,
    scale_references,
    with_scale_ratios,
)
from hyperjax.errors import ConfigError
from hyperjax.nets.hyper import HyperHeads, generated_weight
from hyperjax.nets.policy import layer_names
from hyperjax.sweep import GroupProgram, plan_runs
from hyperjax.train import make_train

CFG = TINY_BANDIT.replace(
    policy=TINY_BANDIT.policy.replace(kind="hypernet", hidden=(16, 16)),
    total_env_steps=16 * 20 * 2,
    updates_per_chunk=1,
)
LAYERS = layer_names(CFG.policy)
HIDDEN = [layer for layer in LAYERS if "hidden" in layer]


def diagnostics_of(trainer, params, obs_scale=1.0, z_scale=1.0, count=32):
    agent = trainer.agent
    obs_key, z_key = jax.random.split(jax.random.key(7))
    obs = obs_scale * jax.random.normal(obs_key, (count, agent.obs_dim))
    z = z_scale * jax.random.normal(z_key, (count, agent.z_dim))
    found = policy_diagnostics(agent.policy, params["policy"], obs, z)
    return {k: float(v) for k, v in found.items()}


def test_bias_hyperinit_heads_are_zero_at_init_and_move_after_one_update():
    trainer = make_train(CFG)
    params = trainer.agent.init(jax.random.key(0), "bias_hyperinit")
    at_init = diagnostics_of(trainer, params)
    for layer in LAYERS:
        assert at_init[f"diag/{layer}/head_norm"] == 0.0, layer
        # W(e) is the same for every e: its spread is float rounding only.
        assert at_init[f"diag/{layer}/task_sensitivity"] < 1e-6, layer
    state = trainer.init(jax.random.key(1), params, PPOHParams.from_config(CFG.ppo))
    _, metrics = jax.jit(trainer.run_chunk)(state)  # one PPO update
    for layer in LAYERS:
        assert float(metrics[f"diag/{layer}/head_norm"]) > 1e-4, layer
        assert float(metrics[f"diag/{layer}/task_sensitivity"]) > 0, layer


@pytest.mark.parametrize("z_scale", [0.01, 1.0, 30.0])
def test_scale_ratio_is_one_under_bias_hyperinit_whatever_the_task_input(z_scale):
    trainer = make_train(CFG)
    references = scale_references(trainer.agent, "bias_hyperinit")
    params = trainer.agent.init(jax.random.key(0), "bias_hyperinit")
    found = with_scale_ratios(diagnostics_of(trainer, params, z_scale=z_scale), references)
    for layer in (*HIDDEN, "actor_out"):  # normc and orthogonal: one draw has f's exact RMS
        assert found[f"diag/{layer}/scale_ratio"] == pytest.approx(1.0, abs=1e-5), layer
    # The critic output is one uniform draw of 17 weights: 1 up to its sampling noise.
    assert found["diag/critic_out/scale_ratio"] == pytest.approx(1.0, abs=0.35)


def test_a_naive_init_is_several_times_too_large_once_e_is_unit_scale():
    trainer = make_train(CFG)
    references = scale_references(trainer.agent, "kaiming")
    params = trainer.agent.init(jax.random.key(0), "kaiming")
    found = with_scale_ratios(diagnostics_of(trainer, params, z_scale=30.0), references)
    for layer in HIDDEN:
        assert found[f"diag/{layer}/scale_ratio"] > 2.0, (layer, found)
        assert found[f"diag/{layer}/task_sensitivity"] > 0.3, (layer, found)
    assert found["diag/actor_out/scale_ratio"] > 100  # f: orthogonal with gain 0.01
    # ...and its tanh units saturate where the base init's do not.
    bias_hyperinit = trainer.agent.init(jax.random.key(0), "bias_hyperinit")
    calm = diagnostics_of(trainer, bias_hyperinit, z_scale=30.0)
    for layer in HIDDEN:
        assert found[f"diag/{layer}/saturation"] > 0.4, (layer, found)
        assert calm[f"diag/{layer}/saturation"] < found[f"diag/{layer}/saturation"] / 3, layer


def test_standard_policy_has_no_heads_and_no_task_dependence():
    trainer = make_train(CFG.replace(policy=CFG.policy.replace(kind="standard")))
    params = trainer.agent.init(jax.random.key(0), "standard")
    found = diagnostics_of(trainer, params)
    for layer in LAYERS:
        assert np.isnan(found[f"diag/{layer}/head_norm"])
        assert found[f"diag/{layer}/task_sensitivity"] < 1e-6  # float rounding only


def test_diagnostics_of_a_vmapped_sweep_equal_each_run_alone():
    runs = plan_runs(["kaiming", "bias_hyperinit"], [0, 1], [3e-3])
    together = GroupProgram.build(CFG, "hypernet", runs)
    state = together.initial_state()
    for _ in range(2):
        state, metrics = together.run_chunk(state)
    rows = together.rows(jax.device_get(metrics), chunk=1)
    alone = GroupProgram.build(CFG, "hypernet", runs[:1])
    keys = [k for k in metrics if k.startswith("diag/")]
    assert len(keys) == 1 + 4 * len(HIDDEN) + 3 * 2  # task_embed, hidden x 4, outputs x 3
    for index, run in enumerate(runs):
        alone.runs = [run]
        single = alone.initial_state()
        for _ in range(2):
            single, single_metrics = alone.run_chunk(single)
        for key in keys:
            np.testing.assert_allclose(
                metrics[key][index], single_metrics[key][0], rtol=1e-3, atol=2e-3, err_msg=key
            )
        ratio = rows[index]["diag/actor_hidden_0/scale_ratio"]
        reference = together.scale_references(run.init)["actor_hidden_0"]
        expected = float(single_metrics["diag/actor_hidden_0/weight_rms"][0]) / reference
        assert ratio == pytest.approx(expected, rel=1e-3)


def test_diagnostics_change_nothing_that_is_trained():
    results = {}
    for samples in (0, 64):
        cfg = CFG.replace(diagnostic_samples=samples)
        trainer = make_train(cfg)
        params = trainer.agent.init(jax.random.key(0), "hfi")
        state = trainer.init(jax.random.key(1), params, PPOHParams.from_config(cfg.ppo))
        state, metrics = jax.jit(trainer.run_chunk)(state)
        state, metrics = jax.jit(trainer.run_chunk)(state)
        results[samples] = (state.params, metrics)
    assert not any(k.startswith("diag/") for k in results[0][1])
    assert any(k.startswith("diag/") for k in results[64][1])
    for a, b in zip(*(jax.tree.leaves(r[0]) for r in results.values()), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert float(results[0][1]["loss"]) == pytest.approx(float(results[64][1]["loss"]), rel=1e-5)


def materialised_weights(kind: str, layer: dict, e: jax.Array) -> jax.Array:
    """Each sample's base weights (B, d_in, d_out), built one by one: the slow reference."""
    if kind == "hypernet":
        return generated_weight(HyperHeads(**layer), e)
    if kind == "film":
        scale = e @ layer["scale_head"]["kernel"] + layer["scale_head"]["bias"]
        return layer["base"]["kernel"][None] * scale[:, None, :]
    return jnp.broadcast_to(layer["kernel"], (e.shape[0], *layer["kernel"].shape))


@pytest.mark.parametrize("scheme", ["hfi", "kaiming", "film_normc", "standard"])
def test_weight_statistics_from_the_gram_matrix_equal_the_materialised_weights(scheme):
    kind = policy_kind_of(scheme)
    trainer = make_train(CFG.replace(policy=CFG.policy.replace(kind=kind)))
    params = trainer.agent.init(jax.random.key(3), scheme)
    found = diagnostics_of(trainer, params, z_scale=2.0)
    z = 2.0 * jax.random.normal(jax.random.split(jax.random.key(7))[1], (32, trainer.agent.z_dim))
    embed = params["policy"]["params"]["task_embed"]
    e = jnp.tanh(z @ embed["kernel"] + embed["bias"])
    for layer in LAYERS:
        weights = materialised_weights(kind, params["policy"]["params"][layer], e)
        rms = jnp.sqrt(jnp.mean(jnp.square(weights)))
        spread = jnp.sqrt(jnp.mean(jnp.var(weights, axis=0))) / rms
        assert found[f"diag/{layer}/weight_rms"] == pytest.approx(float(rms), rel=1e-4), layer
        assert found[f"diag/{layer}/task_sensitivity"] == pytest.approx(
            float(spread), rel=1e-3, abs=1e-6
        ), layer


def test_diagnostic_samples_must_be_a_non_negative_integer():
    with pytest.raises(ConfigError, match=r"^diagnostic_samples: must be an integer >= 0"):
        TrainConfig(diagnostic_samples=-1)
