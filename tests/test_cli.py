"""The `hyperjax` command end to end on a tiny sweep, experiment files, and one-line errors."""

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hyperjax import cli
from hyperjax.experiment import load_experiment

DEMO_FILE = Path(__file__).parents[1] / "experiments" / "demo.yaml"

# A sweep small enough to compile and train in seconds: the bandit, tiny nets, 2 chunks.
TINY = [
    "--train.env", "bandit",
    "--train.total-env-steps", "1280",
    "--train.updates-per-chunk", "2",
    "--train.ppo.num-envs", "16",
    "--train.ppo.num-steps", "20",
    "--train.ppo.minibatches", "2",
    "--train.policy.state-embed-dim", "16",
    "--train.policy.hidden", "16",
    "--train.policy.task-embed-dim", "8",
    "--train.encoder.gru-dim", "16",
    "--no-progress",
]  # fmt: skip


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_writes_the_run_folder(tmp_path, capsys):
    argv = ["sweep", "--inits", "kaiming", "bias_hyperinit", "--seeds", "0", "1"]
    argv += ["--name", "tiny", "--runs-dir", str(tmp_path), "--tensorboard", *TINY]
    assert cli.main(argv) == 0
    run_dir = tmp_path / "tiny"
    for name in ("config.json", "runs.csv", "metrics.csv", "results.md", "curves.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "curves.svg").read_text().lstrip().startswith("<?xml")

    runs = read_csv(run_dir / "runs.csv")
    assert [(r["init"], r["seed"]) for r in runs] == [
        ("kaiming", "0"),
        ("kaiming", "1"),
        ("bias_hyperinit", "0"),
        ("bias_hyperinit", "1"),
    ]
    metrics = read_csv(run_dir / "metrics.csv")
    assert len(metrics) == 4 * 2  # runs x chunks
    assert {r["env_steps"] for r in metrics} == {"640", "1280"}
    for row in metrics:
        # 5 pulls per trial: the trial return is the sum of the per-pull returns.
        per_episode = sum(float(row[f"episode_return_{i}"]) for i in range(5))
        assert float(row["trial_return"]) == pytest.approx(per_episode, rel=1e-4)
        assert 0.0 <= float(row["trial_return"]) <= 5.0
        assert float(row["sps"]) > 0

    config = json.loads((run_dir / "config.json").read_text())
    assert config["spec"]["train"]["env"] == "bandit"
    assert config["spec"]["inits"] == ["kaiming", "bias_hyperinit"]
    # The rates that ran, never another: no --lrs, so train.ppo.lr's.
    ppo_lr = config["spec"]["train"]["ppo"]["lr"]
    assert config["spec"]["lrs"] == [ppo_lr] and {float(r["lr"]) for r in runs} == {ppo_lr}

    # The printed table's means are the seeds' mean of the final chunk (last_chunks=3 covers both).
    out = capsys.readouterr().out
    assert "Note: no evaluation during training" in out  # no --eval-every: the training return
    for init in ("kaiming", "bias_hyperinit"):
        finals = [
            np.mean([float(r["trial_return"]) for r in metrics if r["run"] == run["run"]])
            for run in runs
            if run["init"] == init
        ]
        assert f"| hypernet+{init} | 2 | {np.mean(finals):.3f} |" in out

    # TensorBoard: one event file per run, named after it, holding the metric tags.
    for run in runs:
        events = list((run_dir / "tb" / run["run"]).glob("events.out.tfevents.*"))
        assert len(events) == 1 and b"trial_return" in events[0].read_bytes()
        assert b"diag/actor_hidden_0/scale_ratio" in events[0].read_bytes()

    # Policy diagnostics: per layer in metrics.csv (scale ratios, not raw RMS), and a figure.
    for row in metrics:
        assert 0.0 <= float(row["diag/actor_hidden_0/saturation"]) <= 1.0
        assert float(row["diag/critic_out/scale_ratio"]) > 0
    assert not any(key.endswith("weight_rms") for key in metrics[0])
    assert (run_dir / "diagnostics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| hypernet+bias_hyperinit |" in (run_dir / "diagnostics.md").read_text()

    # hyperjax plot: figures elsewhere, and the same table from the metrics file.
    out_stem = tmp_path / "figures" / "curves"
    assert cli.main(["plot", str(run_dir), "--out", str(out_stem), "--last-chunks", "3"]) == 0
    assert out_stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_stem.with_suffix(".svg").stat().st_size > 1000
    plotted = capsys.readouterr().out
    for init in ("kaiming", "bias_hyperinit"):
        line = next(x for x in plotted.splitlines() if x.startswith(f"| hypernet+{init} |"))
        assert line in out  # identical numbers to the table the sweep printed
    # ... and which method beats which, from the same final scores (2 seeds: 4 seed pairs).
    with (out_stem.parent / "curves_compare.csv").open() as f:
        (pair,) = list(csv.DictReader(f))
    assert (pair["x"], pair["y"]) == ("hypernet+bias_hyperinit", "hypernet+kaiming")
    assert float(pair["p_improvement"]) in (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
    assert "| hypernet+bias_hyperinit | hypernet+kaiming | naive Kaiming fails |" in plotted


def test_plot_compares_each_method_at_its_best_learning_rate(tmp_path, capsys):
    """A sweep with --lrs: the claim pairs at each rate and at each method's best rate, from a
    hand-written metrics.csv (two chunks, two seeds per method and rate)."""
    final = {  # (policy, init, lr) -> each seed's return in both chunks
        ("hypernet", "bias_hyperinit", 0.001): (10.0, 12.0),  # BHI's best rate
        ("hypernet", "bias_hyperinit", 0.0003): (1.0, 2.0),
        ("standard", "default", 0.001): (3.0, 4.0),
        ("standard", "default", 0.0003): (6.0, 7.0),  # Standard's best rate
    }
    write_two_chunk_metrics(tmp_path, final)
    out = tmp_path / "curves"
    assert cli.main(["plot", str(tmp_path), "--out", str(out), "--last-chunks", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Which method beats which (each method at its best learning rate)" in printed
    with (tmp_path / "curves_compare.csv").open() as f:
        same_rate = {(r["x"], r["y"]): float(r["p_improvement"]) for r in csv.DictReader(f)}
    assert same_rate == {
        ("hypernet+bias_hyperinit lr=0.0003", "standard lr=0.0003"): 0.0,
        ("hypernet+bias_hyperinit lr=0.001", "standard lr=0.001"): 1.0,
    }
    with (tmp_path / "curves_compare_best_lr.csv").open() as f:
        (best,) = list(csv.DictReader(f))
    assert (best["x"], best["y"]) == ("hypernet+bias_hyperinit lr=0.001", "standard lr=0.0003")
    assert float(best["p_improvement"]) == 1.0


def test_plot_diagnostics_of_one_layer_and_its_errors(tmp_path, capsys):
    argv = ["sweep", "--inits", "kaiming", "bias_hyperinit", "--name", "d"]
    argv += ["--runs-dir", str(tmp_path), "--no-plot", *TINY]
    assert cli.main(argv) == 0
    run_dir, out = tmp_path / "d", tmp_path / "fig" / "out"
    capsys.readouterr()
    assert cli.main(["plot", str(run_dir), "--diagnostics", "--layer", "actor_out"]) == 0
    table = (run_dir / "diagnostics.md").read_text()
    assert table.startswith("| method (actor_out;") and "| hypernet+kaiming |" in table
    # A naive categorical head starts hundreds of times larger than f (orthogonal, gain 0.01).
    kaiming = next(x for x in table.splitlines() if x.startswith("| hypernet+kaiming |"))
    assert float(kaiming.split("|")[2].split("→")[0]) > 50
    assert (run_dir / "diagnostics.svg").stat().st_size > 1000

    assert cli.main(["plot", str(run_dir), "--diagnostics", "--layer", "x", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: layer") and "actor_hidden_0" in err and "\n" not in err
    assert not out.parent.exists()

    argv = ["sweep", "--name", "off", "--runs-dir", str(tmp_path), "--no-plot", *TINY]
    assert cli.main([*argv, "--train.diagnostic-samples", "0"]) == 0
    assert not any("diag/" in k for k in read_csv(tmp_path / "off" / "metrics.csv")[0])
    assert cli.main(["plot", str(tmp_path / "off"), "--diagnostics"]) == 2
    assert "train.diagnostic_samples" in capsys.readouterr().err


def test_existing_run_is_refused_without_overwrite(tmp_path, capsys):
    argv = ["sweep", "--name", "taken", "--runs-dir", str(tmp_path), *TINY]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--overwrite" in err
    assert (tmp_path / "taken" / "config.json").read_text() == "{}"  # untouched


@pytest.mark.parametrize(
    "args, field",
    [
        (["--inits", "bogus"], "init"),
        (["--train.env", "nope"], "env"),
        (["--train.ppo.minibatches", "3"], "ppo.minibatches"),
        (["--lrs", "-1e-3"], "lrs"),
        (["--train.total-env-steps", "10"], "total_env_steps"),
        (["--size", "XXXL"], "size"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, field):
    argv = ["sweep", "--name", "bad", "--runs-dir", str(tmp_path), "--no-progress", *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hyperjax: error: {field}"), err
    assert "\n" not in err
    assert not (tmp_path / "bad").exists()


def write_eval_csv(folder: Path, curves: dict) -> None:
    """eval.csv rows at chunks 0 and 1 (every chunk evaluated during training): {(policy, init,
    lr, split): each seed's trial return at each chunk}."""
    header = ["run", "policy", "init", "seed", "lr", "split", "chunk", "trial_return"]
    header += ["episode_return_0", "success_0"]
    with (folder / "eval.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for chunk in (0, 1):
            for (policy, init, lr, split), seeds in curves.items():
                for seed, values in enumerate(seeds):
                    run = f"{policy}-{init}-s{seed}-lr{lr:g}"
                    value = values[chunk]
                    writer.writerow([run, policy, init, seed, lr, split, chunk, value, value, 0])


def test_plot_headlines_the_evaluation_during_training(tmp_path, capsys):
    """With eval.csv rows at every chunk, the curves and the first table are the test-split
    evaluation (its mean over the curve), the training return second; each method's rate is
    the one whose train-split evaluation curve has the highest mean, not the best end."""
    training = {  # every run's training return: all equal, so only the evaluation can rank
        (policy, init, lr): (1.0, 1.0)
        for policy, init in (("standard", "default"), ("hypernet", "bias_hyperinit"))
        for lr in (0.001, 0.0003)
    }
    write_two_chunk_metrics(tmp_path, training)
    curves = {}
    for split in ("train", "test"):
        curves |= {
            ("hypernet", "bias_hyperinit", 0.001, split): ((0.0, 30.0), (0.0, 30.0)),  # best end
            ("hypernet", "bias_hyperinit", 0.0003, split): ((20.0, 20.0), (20.0, 21.0)),  # best
            ("standard", "default", 0.001, split): ((5.0, 6.0), (5.0, 6.0)),
            ("standard", "default", 0.0003, split): ((2.0, 3.0), (2.0, 3.0)),
        }
    write_eval_csv(tmp_path, curves)
    out = tmp_path / "fig" / "curves"
    assert cli.main(["plot", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Note:" not in printed
    assert printed.index("deterministic evaluation on test-split tasks") < printed.index(
        "training trial_return"
    )
    for name in ("curves.png", "curves_train.png", "curves.csv", "curves_train.csv"):
        assert (out.parent / name).stat().st_size > 0, name
    with (out.parent / "curves.csv").open() as f:
        headline = {r["method"]: float(r["mean"]) for r in csv.DictReader(f)}
    assert headline["hypernet+bias_hyperinit lr=0.0003"] == pytest.approx((20 + 20 + 20 + 21) / 4)
    with (out.parent / "curves_eval_final.csv").open() as f:
        final = {r["method"]: float(r["mean"]) for r in csv.DictReader(f)}
    assert final["hypernet+bias_hyperinit lr=0.001"] == 30.0
    with (out.parent / "curves_compare_best_lr.csv").open() as f:
        (best,) = list(csv.DictReader(f))
    assert (best["x"], best["y"]) == ("hypernet+bias_hyperinit lr=0.0003", "standard lr=0.001")
    assert best["lr_chosen_on"].startswith("the same seeds")  # 2 seeds: no split
    assert "rates chosen by the highest mean over the train-split evaluation" in printed


def test_experiment_eval_schedule_reaches_the_sweep_and_flags_override_it(tmp_path, monkeypatch):
    swept = []
    monkeypatch.setattr(cli, "execute_sweep", swept.append)
    path = tmp_path / "e.yaml"
    path.write_text("eval: {every: 3, trials: 8}\nvariants: {cpu: {eval: {trials: 2}}}\n")
    assert cli.main(["sweep", "--experiment", str(path)]) == 0
    assert cli.main(["sweep", "--experiment", str(path), "--variant", "cpu"]) == 0
    assert cli.main(["sweep", "--experiment", str(path), "--eval-every", "5"]) == 0
    assert [(c.eval_every, c.eval_trials) for c in swept] == [(3, 8), (3, 2), (5, 8)]
    assert cli.main(["sweep", "--experiment", str(DEMO_FILE)]) == 0
    assert swept[-1].eval_every == 0  # no `eval:` in the file: off, as before


def test_config_json_records_the_rates_that_ran():
    spec = dataclasses.replace(load_experiment(DEMO_FILE), lrs=(3e-3, 1e-3))
    recorded = cli.with_rates_that_run(spec)
    assert recorded.lrs == (3e-3, 1e-3) and recorded.train.ppo.lr == 3e-3
    assert recorded.learning_rates == spec.learning_rates
    one = cli.with_rates_that_run(load_experiment(DEMO_FILE))
    assert one.lrs == (1e-3,) and one.train.ppo.lr == 1e-3


def test_demo_experiment_file_is_the_built_in_demo():
    spec = load_experiment(DEMO_FILE)
    built_in = cli.DEMO
    for field in dataclasses.fields(spec):
        assert getattr(spec, field.name) == getattr(built_in, field.name), field.name


def test_experiment_variant_overrides_sizes():
    spec = load_experiment(DEMO_FILE, "full")
    assert spec.train.policy.state_embed_dim == 256 and spec.train.policy.hidden == (256, 128)
    assert spec.train.encoder.gru_dim == 256
    assert len(spec.inits) == 7 and spec.train.env == "grid-world"


def test_algo_and_env_shortcuts_run_varibad(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")  # W&B logging without a network
    monkeypatch.setenv("WANDB_SILENT", "true")
    argv = ["sweep", "--algo", "varibad", "--env", "bandit", "--inits", "standard", "film_normc"]
    argv += ["--name", "vb", "--runs-dir", str(tmp_path), "--no-plot", "--wandb-project", "t"]
    argv += TINY
    argv += ["--train.vae.buffer-trials", "64", "--train.vae.precollect-steps", "0"]
    assert cli.main(argv) == 0
    config = json.loads((tmp_path / "vb" / "config.json").read_text())
    assert config["spec"]["train"]["algo"] == "varibad"
    metrics = read_csv(tmp_path / "vb" / "metrics.csv")
    assert {r["policy"] for r in metrics} == {"standard", "film"}
    for row in metrics:
        assert float(row["vae_kl"]) >= 0.0 and float(row["vae_reward_loss"]) >= 0.0
    offline_runs = list((tmp_path / "vb" / "wandb" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2  # one W&B run per sweep run


def test_eval_table_keeps_learning_rates_apart():
    """A sweep with --lrs: one row per method and rate, not every rate's seeds pooled."""
    rows = [
        {"policy": "standard", "init": "default", "lr": lr, "split": "test", "seed": seed,
         "trial_return": value, "episode_return_0": value, "success_0": 0.0}
        for lr, values in ((0.001, (10.0, 20.0)), (0.0003, (1.0, 3.0)))
        for seed, value in enumerate(values)
    ]  # fmt: skip
    table = cli.eval_table(rows).splitlines()
    assert table[2:] == [
        "| standard lr=0.0003 | test | 2 | 2.000 | 0.000 | 2.000 |",
        "| standard lr=0.001 | test | 2 | 15.000 | 0.000 | 15.000 |",
    ]
    one_rate = cli.eval_table(rows[:2]).splitlines()[2:]
    assert one_rate == ["| standard | test | 2 | 15.000 | 0.000 | 15.000 |"]


def write_two_chunk_metrics(folder, returns: dict) -> None:
    """metrics.csv of two chunks: {(policy, init, lr): each seed's trial_return, both chunks}."""
    with (folder / "metrics.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["run", "policy", "init", "seed", "lr", "chunk", "update", "env_steps", "trial_return"]
        )
        for (policy, init, lr), values in returns.items():
            for seed, value in enumerate(values):
                for chunk in (0, 1):
                    run = f"{policy}-{init}-s{seed}-lr{lr:g}"
                    writer.writerow(
                        [run, policy, init, seed, lr, chunk, chunk + 1, 1000 * (chunk + 1), value]
                    )
