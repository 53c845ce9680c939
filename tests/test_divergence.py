"""A run that diverges is flagged, frozen at its last finite parameters, and leaves the other
runs of its sweep exactly as they would be without it."""

import jax
import numpy as np

from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig
from hyperjax.sweep import GroupProgram, plan_runs, run_sweep

CFG = TrainConfig(
    env="bandit",
    policy=PolicyConfig(state_embed_dim=16, hidden=(16,), task_embed_dim=8),
    encoder=EncoderConfig(gru_dim=16),
    ppo=PPOConfig(num_envs=16, num_steps=20, minibatches=2),
    total_env_steps=16 * 20 * 3 * 2,
    updates_per_chunk=3,
)
ABSURD_LR = 1e38  # params near float32 max: the next layer overflows to inf


def test_absurd_learning_rate_is_isolated_and_flagged():
    healthy = plan_runs(["bias_hyperinit"], [0], [1e-3, 3e-3])
    poisoned = plan_runs(["bias_hyperinit"], [0], [1e-3, 3e-3, ABSURD_LR])
    with_it = run_sweep(CFG, poisoned, progress=False)
    without = run_sweep(CFG, healthy, progress=False)

    bad_name = poisoned[2].name
    assert with_it.diverged == [bad_name] and without.diverged == []
    state = with_it.states["hypernet"]
    np.testing.assert_array_equal(state.diverged, [False, False, True])
    # Its parameters stayed finite (frozen at the last finite values).
    for leaf in jax.tree.leaves(state.params):
        assert np.isfinite(np.asarray(leaf)[2]).all()

    # The two healthy runs match the sweep without the poisoned one.
    reference = without.states["hypernet"]
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(reference.params), strict=True):
        np.testing.assert_allclose(np.asarray(a)[:2], np.asarray(b), rtol=2e-4, atol=2e-5)
    rows = {(r["run"], r["chunk"]): r for r in with_it.rows}
    for r in without.rows:
        other = rows[(r["run"], r["chunk"])]
        assert abs(other["trial_return"] - r["trial_return"]) <= 1e-4, (other, r)
        assert other["diverged"] == 0.0


def test_a_diverged_run_stops_updating():
    runs = plan_runs(["bias_hyperinit"], [0], [ABSURD_LR])
    program = GroupProgram.build(CFG, "hypernet", runs)
    state = program.initial_state()
    state, _ = program.run_chunk(state)
    assert bool(state.diverged[0])
    frozen = jax.tree.map(np.array, state.params)
    state, metrics = program.run_chunk(state)
    assert float(metrics["diverged"][0]) == 1.0
    for a, b in zip(jax.tree.leaves(frozen), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(a, b)
