"""`hyperjax plot` of several sweeps: runs keyed by folder and name, each on its own env steps."""

import json
from pathlib import Path

import numpy as np

from hyperjax import cli, plot

HEADER = ["run", "policy", "init", "seed", "lr", "chunk", "update", "env_steps", "trial_return"]


def sweep(folder: Path, steps_per_chunk: int, chunks: int, level: float) -> Path:
    """A metrics.csv of two seeds of Standard and of Bias-HyperInit, and its config.json."""
    folder.mkdir(parents=True)
    lines = [",".join(HEADER)]
    for policy, init in (("standard", "standard"), ("hypernet", "bias_hyperinit")):
        for seed in (0, 1):
            run = f"{policy}-{init}-seed{seed}-lr0.001"
            for chunk in range(chunks):
                value = level + chunk + seed
                row = [run, policy, init, seed, 0.001, chunk, chunk + 1]
                lines.append(",".join(map(str, [*row, steps_per_chunk * (chunk + 1), value])))
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    train = {"env": "cheetah-dir", "total_env_steps": steps_per_chunk * chunks}
    (folder / "config.json").write_text(json.dumps({"spec": {"train": train}}))
    return folder


def test_two_sweeps_with_the_same_run_names_stay_apart_on_their_own_steps(tmp_path):
    short = sweep(tmp_path / "short", steps_per_chunk=1000, chunks=3, level=0.0)
    long = sweep(tmp_path / "long", steps_per_chunk=4000, chunks=5, level=100.0)
    scores, steps = plot.load_scores([short, long], "trial_return")
    assert sorted(scores) == [
        "long: hypernet+bias_hyperinit",
        "long: standard",
        "short: hypernet+bias_hyperinit",
        "short: standard",
    ]
    assert scores["short: standard"].shape == (2, 3) and scores["long: standard"].shape == (2, 5)
    np.testing.assert_array_equal(steps["short: standard"], [1000, 2000, 3000])
    np.testing.assert_array_equal(steps["long: standard"], [4000, 8000, 12000, 16000, 20000])
    np.testing.assert_array_equal(scores["long: standard"][:, 0], [100.0, 101.0])  # not pooled
    title = plot.budget_title([short, long], steps)
    assert "budgets differ" in title and "short 3,000" in title and "long 20,000" in title


def test_a_sweep_and_its_extension_share_method_names(tmp_path):
    """Folders with distinct runs (another rate, other seeds) pool into the same methods."""
    first = sweep(tmp_path / "first", steps_per_chunk=1000, chunks=3, level=0.0)
    extension = tmp_path / "extension"
    extension.mkdir()
    text = (first / "metrics.csv").read_text().replace("lr0.001", "lr0.003")
    (extension / "metrics.csv").write_text(text.replace(",0.001,", ",0.003,"))
    scores, _ = plot.load_scores([first, extension], "trial_return")
    assert "standard lr=0.001" in scores and "standard lr=0.003" in scores


def test_plot_command_draws_both_sweeps(tmp_path):
    short = sweep(tmp_path / "short", steps_per_chunk=1000, chunks=3, level=0.0)
    long = sweep(tmp_path / "long", steps_per_chunk=4000, chunks=5, level=100.0)
    out = tmp_path / "cmp"
    assert cli.main(["plot", str(short), str(long), "--out", str(out)]) == 0
    assert (tmp_path / "cmp.png").stat().st_size > 0
    table = (tmp_path / "cmp.md").read_text()
    assert "short: standard" in table and "long: standard" in table
