"""Evaluation on fresh tasks: one trial per env, mean actions, memory carried across episodes."""

import csv

import jax
import numpy as np
import pytest
from test_cli import TINY
from test_train import TINY_BANDIT

from hyperjax import cli
from hyperjax.algos.ppo import PPOHParams
from hyperjax.config import EncoderConfig, PolicyConfig, TrainConfig
from hyperjax.evaluate import make_evaluate
from hyperjax.sweep import GroupProgram, plan_runs, run_sweep
from hyperjax.train import make_train


@pytest.fixture(scope="module")
def trained_bandit():
    runs = plan_runs(["bias_hyperinit"], [0], [3e-3])
    result = run_sweep(TINY_BANDIT, runs, progress=False)
    return result


def test_trained_rl2_agent_adapts_within_a_trial_on_fresh_tasks(trained_bandit):
    program = GroupProgram.build(
        TINY_BANDIT, "hypernet", plan_runs(["bias_hyperinit"], [0], [3e-3])
    )
    state = trained_bandit.states["hypernet"]
    for split in ("train", "test"):
        metrics = program.evaluator(split, 512)(state, jax.random.key(7))
        returns = np.asarray(metrics["episode_return"][0])
        assert returns.shape == (5,)
        # A deterministic first pull is right for half the tasks; remembering it fixes the rest.
        assert 0.4 < returns[0] < 0.6, returns
        assert returns[1:].min() > 0.9, returns
        assert float(metrics["trial_return"][0]) == pytest.approx(returns.sum(), rel=1e-5)
        np.testing.assert_allclose(metrics["success"][0], returns)  # the bandit's success = reward


def test_untrained_agent_on_the_grid_world_counts_every_episode_once():
    cfg = TrainConfig(
        env="grid-world",
        policy=PolicyConfig(state_embed_dim=16, hidden=(16,)),
        encoder=EncoderConfig(gru_dim=16),
    )
    trainer = make_train(cfg)
    params = trainer.agent.init(jax.random.key(0), "bias_hyperinit")
    state = trainer.init(jax.random.key(1), params, PPOHParams.from_config(cfg.ppo))
    metrics = jax.jit(make_evaluate(cfg, trainer, "test", 32))(state, jax.random.key(2))
    returns = np.asarray(metrics["episode_return"])
    # Rewards are +1 on the goal and -0.1 elsewhere over 15 steps: each episode's return lies in
    # [-1.5, 15]; the fresh policy rarely finds a test goal.
    assert returns.shape == (4,) and np.all(returns >= -1.5 - 1e-5) and np.all(returns <= 15)
    assert float(metrics["trial_return"]) == pytest.approx(returns.sum(), rel=1e-5)


def test_eval_command_and_periodic_evaluation(tmp_path, capsys):
    argv = ["sweep", "--inits", "standard", "hfi", "--seeds", "0", "--name", "ev"]
    argv += ["--runs-dir", str(tmp_path), "--eval-every", "1", "--eval-trials", "16", *TINY]
    assert cli.main(argv) == 0
    with (tmp_path / "ev" / "eval.csv").open(newline="") as f:
        periodic = list(csv.DictReader(f))
    assert len(periodic) == 2 * 2 * 2  # chunks x runs x splits
    assert {r["split"] for r in periodic} == {"train", "test"}

    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "ev"), "--trials", "32", "--splits", "test"]) == 0
    out = capsys.readouterr().out
    assert "| hypernet+hfi | test | 1 |" in out and "| standard | test | 1 |" in out
    with (tmp_path / "ev" / "eval.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(periodic) + 2
    for row in rows:
        per_episode = sum(float(row[f"episode_return_{i}"]) for i in range(5))
        assert float(row["trial_return"]) == pytest.approx(per_episode, rel=1e-4)

    assert cli.main(["eval", str(tmp_path / "ev"), "--splits", "validation"]) == 2
    assert "splits: unknown value 'validation'" in capsys.readouterr().err
