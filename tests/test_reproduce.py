"""The reproduction layer: eval summaries with bootstrap intervals, the size-scan figure, and the
driver's experiment table (every experiment points at a loadable file with >= 5 quick seeds)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hyperjax import compare, plot
from hyperjax.experiment import load_experiment
from hyperjax.runlog import RunDirectory

ROOT = Path(__file__).parents[1]


def eval_row(init: str, seed: int, split: str, chunk: int, returns, success) -> dict:
    row = {
        "run": f"x-{init}-seed{seed}",
        "policy": "standard" if init == "standard" else "hypernet",
        "init": init,
        "seed": seed,
        "lr": 3e-4,
        "split": split,
        "chunk": chunk,
        "trial_return": float(sum(returns)),
    }
    row |= {f"episode_return_{i}": r for i, r in enumerate(returns)}
    row |= {f"success_{i}": s for i, s in enumerate(success)}
    return row


def test_eval_results_take_each_runs_latest_eval_and_last_episode(tmp_path):
    run_dir = RunDirectory(tmp_path)
    # An early evaluation (chunk 1) that must be ignored, then the final one (chunk 4).
    run_dir.append_eval([eval_row("standard", s, "test", 1, [9.0, 9.0], [1, 1]) for s in (0, 1)])
    final = [eval_row("standard", s, "test", 4, [1.0, 2.0 + s], [0, s]) for s in (0, 1)]
    final += [eval_row("bias_hyperinit", s, "test", 4, [3.0, 5.0], [1, 1]) for s in (0, 1)]
    final += [eval_row("bias_hyperinit", s, "train", 4, [0.0, 0.0], [0, 0]) for s in (0, 1)]
    run_dir.append_eval(final)

    last = {r["method"]: r for r in plot.eval_results([tmp_path], "test", "last_episode_return")}
    assert last["standard"]["mean"] == pytest.approx(2.5) and last["standard"]["seeds"] == 2
    assert last["hypernet+bias_hyperinit"]["mean"] == pytest.approx(5.0)
    assert last["standard"]["ci_low"] <= 2.5 <= last["standard"]["ci_high"]
    success = plot.eval_results([tmp_path], "test", "last_episode_success")
    assert [r["method"] for r in success] == ["hypernet+bias_hyperinit", "standard"]
    assert success[1]["mean"] == pytest.approx(0.5)
    train = plot.eval_results([tmp_path], "train", "trial_return")
    assert [(r["method"], r["mean"]) for r in train] == [("hypernet+bias_hyperinit", 0.0)]
    assert plot.eval_results([tmp_path / "none"], "test", "trial_return") == []


def test_summarise_finals_orders_best_first_with_intervals():
    rows = plot.summarise_finals({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([5.0, 5.0])})
    assert [r["method"] for r in rows] == ["b", "a"]
    assert rows[1]["mean"] == pytest.approx(2.0)
    assert rows[1]["std"] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert rows[1]["ci_low"] < 2.0 < rows[1]["ci_high"]
    assert rows[0]["ci_low"] == rows[0]["ci_high"] == 5.0


def test_size_scan_figure_is_written(tmp_path):
    rows = [
        {"size": s, "parameters": p, "method": m, "mean": v, "ci_low": v - 1, "ci_high": v + 1}
        for s, p, m, v in [("XS", 100, "standard", 1.0), ("S", 400, "standard", 2.0)]
        + [("XS", 9000, "hypernet+bias_hyperinit", 1.5), ("S", 30000, "hypernet+bias_hyperinit", 3)]
    ]
    out = plot.plot_size_scan(rows, tmp_path / "scan")
    assert out.stat().st_size > 1000 and (tmp_path / "scan.svg").exists()
    # Redrawing the same data gives the same SVG bytes (committed figures churn only with data).
    plot.plot_size_scan(rows, tmp_path / "again")
    assert (tmp_path / "scan.svg").read_bytes() == (tmp_path / "again.svg").read_bytes()


def test_every_experiment_is_one_loadable_command(driver):
    for name, experiment in driver.EXPERIMENTS.items():
        path = ROOT / "experiments" / experiment.file
        quick, full = load_experiment(path, "quick"), load_experiment(path, None)
        assert len(quick.seeds) >= 5, name  # the bar for quick variants
        assert len(full.seeds) >= 3, name
        assert full.train.total_env_steps >= 4_000_000, name  # the paper's budgets
        for variant_sizes in experiment.variant_sizes.values():
            assert set(variant_sizes) <= set(experiment.sizes) <= set(driver.SIZES), name


# Issue 18: the experiments with a medium variant (a budget where agents learn, one CPU session).
MEDIUM = {
    "table1-cheetah-dir", "table1-cheetah-vel", "table1-ant-dir", "table1-walker-params",
    "table1-humanoid-dir", "oracle-cheetah-dir", "grid-world", "figure3-cheetah-dir",
    "figure3-walker-params", "oracle-cheetah-dir-lr", "oracle-cheetah-dir-lr-top",
    "table1-cheetah-dir-lr", "table1-cheetah-vel-lr",
}  # fmt: skip


def test_medium_variants_can_separate_the_papers_methods(driver):
    claims = {"standard", "kaiming", "hfi", "bias_hyperinit"}
    for name in MEDIUM:
        experiment = driver.EXPERIMENTS[name]
        spec = load_experiment(ROOT / "experiments" / experiment.file, "medium")
        assert len(spec.seeds) >= 5, name  # for 95% bootstrap intervals
        assert spec.train.total_env_steps >= 1_000_000, name  # where learning shows here
        assert spec.train.backend != "mujoco", name  # MJX is for a GPU (README "Physics backend")
        wanted = {"standard", "bias_hyperinit"} if experiment.sizes else claims
        assert wanted <= set(spec.inits), name
    scan = driver.EXPERIMENTS["figure3-cheetah-dir"].sizes_for("medium")
    assert len(scan) >= 3 and scan[0] == "XS" and scan[-1] == "XL"
    assert driver.EXPERIMENTS["table1-cheetah-dir"].sizes_for("medium") == ()
    # The oracle's medium runs every Table 1 init, whatever the file's medium variant keeps.
    oracle = driver.EXPERIMENTS["oracle-cheetah-dir"].args_for("medium")
    inits = oracle[oracle.index("--inits") + 1 : oracle.index("--train.total-env-steps")]
    assert set(inits) == set(load_experiment(ROOT / "experiments/table1/cheetah-dir.yaml").inits)
    assert oracle[:2] == ("--algo", "oracle")
    assert driver.EXPERIMENTS["oracle-cheetah-dir"].args_for("quick")[:2] == ("--algo", "oracle")
    # The learning-rate check: the claims' three methods at three rates of the paper's grid.
    lr_check = driver.EXPERIMENTS["oracle-cheetah-dir-lr"].args_for("medium")
    grid = lr_check[lr_check.index("--lrs") + 1 : lr_check.index("--train.total-env-steps")]
    assert sorted(map(float, grid)) == [1e-4, 3e-4, 1e-3]
    paper_grid = load_experiment(ROOT / "experiments/table1/cheetah-dir.yaml").lrs
    assert set(map(float, grid)) <= set(paper_grid)
    assert lr_check[lr_check.index("--inits") + 1 : lr_check.index("--lrs")] == (
        "standard", "hfi", "bias_hyperinit"
    )  # fmt: skip


def test_driver_lists_and_refuses_unknown_names(driver, capsys):
    driver.main(["--list"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in driver.EXPERIMENTS)
    with pytest.raises(SystemExit):
        driver.main(["table9-nope"])
    error = capsys.readouterr().err
    assert "table9-nope" in error and "table1-cheetah-dir" in error


def test_summary_collects_each_finished_experiment(driver, tmp_path):
    folder = tmp_path / "quick" / "table1-cheetah-dir"
    folder.mkdir(parents=True)
    record = {
        "claim": "Table 1",
        "wall_seconds": 120.0,
        "machine": {"processor": "x86_64", "cpus": 2, "devices": ["cpu:cpu"], "jax": "0.10.2"},
        "code_version": "abc123",
        "finished": "now",
        "commands": [{"command": "hyperjax sweep --experiment x.yaml", "wall_seconds": 100.0}],
    }
    (folder / "run.json").write_text(__import__("json").dumps(record))
    (folder / "results.md").write_text("### train_curve\n\n| method |\n")
    # Two groups log a row each per chunk, with the chunk's time for both: 3 chunks of 60 s,
    # the first two from a part of the sweep that run.json (written by the last part) omits.
    rows = [f"r{g},{c},{60.0}" for c in range(3) for g in range(2)]
    (folder / "metrics.csv").write_text("run,chunk,chunk_seconds\n" + "\n".join(rows) + "\n")
    summary = driver.write_summary(tmp_path, "quick", redraw=False).read_text()
    assert "## table1-cheetah-dir" in summary and "Wall time 2.0 min" in summary
    assert "Training 3.0 min over all parts" in summary
    assert "hyperjax sweep --experiment x.yaml" in summary and "##### train_curve" in summary
    assert "grid-world" not in summary  # not run: not listed
    assert "Stale" not in summary
    (folder / driver.STALE_NOTE).write_text("produced by code before abc124\n")
    summary = driver.write_summary(tmp_path, "quick", redraw=False).read_text()
    assert "**Stale:** produced by code before abc124" in summary


def test_curves_zoom_on_the_leading_methods_when_one_ends_far_below(tmp_path, monkeypatch):
    """VariBAD cheetah-vel: Kaiming ends near -2400, the others within 60 of -200; drawn on one
    axis they are a single line, so a second panel shows only them."""
    finals = {"kaiming": -2362.0, "bhi": -232.0, "hfi": -224.0, "standard": -245.0}
    curves = {m: np.linspace(f / 4, f, 4) for m, f in finals.items()}
    assert sorted(plot.leading_methods(curves)) == ["bhi", "hfi", "standard"]
    close = {"a": [-300.0, -80.0], "b": [-290.0, -95.0], "c": [-310.0, -90.0]}
    assert plot.leading_methods(close) == []  # all end close together
    assert plot.leading_methods({"a": [0.0], "b": [-100.0]}) == []  # two: nothing to zoom
    one_left = {"a": [10.0], "b": [-50.0], "c": [-100.0]}
    assert plot.leading_methods(one_left) == []
    # The demo's shape: one method ends lower, but on the same scale as the rest's curves.
    same_scale = {"bhi": [0.0, 26.3], "hfi": [0.0, 25.7], "kaiming": [-5.0, 12.1]}
    assert plot.leading_methods(same_scale) == []

    (tmp_path / "run").mkdir()
    run_dir = RunDirectory(tmp_path / "run")
    rows = []
    for init in finals:
        for seed in (0, 1):
            for chunk in range(4):
                value = curves[init][chunk] + seed
                rows.append({"run": f"{init}-{seed}", "policy": "hypernet", "init": init,
                             "seed": seed, "lr": 3e-4, "chunk": chunk,
                             "env_steps": 100 * (chunk + 1), "trial_return": value})  # fmt: skip
    run_dir.append_metrics(rows)
    drawn = []
    real_save = plot.save_figure

    def save_figure(fig, axes, out):
        drawn.extend(axes)
        return real_save(fig, axes, out)

    monkeypatch.setattr(plot, "save_figure", save_figure)
    plot.plot_curves([tmp_path / "run"], tmp_path / "curves")
    full, zoom = drawn
    assert len(full.get_lines()) == 4 and len(zoom.get_lines()) == 3
    low, high = zoom.get_ylim()
    assert low > -300 and high < 0  # Kaiming's -2362 is off the zoomed axis
    assert (tmp_path / "curves.png").exists() and (tmp_path / "curves.svg").exists()


def test_curves_switch_to_symlog_only_when_methods_end_far_apart():
    assert plot.symlog_threshold([-80.0, -85.0, -6400.0]) == 80.0
    assert plot.symlog_threshold([-80.0, -95.0, 12.0]) is None
    assert plot.symlog_threshold([0.0, 5.0]) is None


@pytest.mark.parametrize(
    "finals", [[-20000.0, 0.5, 25.0], [-650.0, -5.0, 10.0, 27.0], [-6000.0, -80.0, -70.0]]
)
def test_symlog_tick_labels_do_not_overlap(finals):
    """Matplotlib's own symlog ticks put +-1 (or +-0.1) inside the linear region, on top of 0."""
    fig, ax = plot.plt.subplots(figsize=(6.4, 4.2))
    x = np.arange(10)
    for final in finals:
        ax.plot(x, np.linspace(final / 2, final, 10))
    plot.use_symlog_if_far_apart(ax, finals)
    assert ax.get_yscale() == "symlog"
    fig.tight_layout()
    fig.canvas.draw()
    labels = [label for label in ax.get_yticklabels() if label.get_text()]
    boxes = [label.get_window_extent() for label in labels]
    assert len(boxes) >= 2
    for lower, upper in zip(boxes[:-1], boxes[1:], strict=True):
        assert not lower.overlaps(upper), [label.get_text() for label in labels]
    plot.plt.close(fig)


def test_symlog_ticks_are_zero_and_decades_outside_the_linear_region():
    assert plot.symlog_ticks(-15000.0, 30.0, 5.0) == [-10000.0, -1000.0, -100.0, -10.0, 0.0, 10.0]
    assert plot.symlog_ticks(-700.0, -60.0, 70.0) == [-100.0]


def test_bootstrap_intervals_are_reproducible_and_leave_numpy_alone():
    finals = {"a": np.array([1.0, 4.0, 2.0, 8.0, 3.0]), "b": np.array([0.5, 0.1, 0.9, 0.3, 0.2])}
    np.random.seed(123)  # noqa: NPY002 (the global state rliable uses)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    first, second = plot.summarise_finals(finals), plot.summarise_finals(finals)
    assert first == second  # the same tables from the same CSVs, run after run
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002


def test_gpu_plan_fits_the_time_left(driver):
    """experiments/gpu.py: whole chunks that fit what is left after measuring, two compilations
    and the evaluation, with a 15% margin; the paper's full budget from the same throughput."""
    spec = importlib.util.spec_from_file_location("gpu", ROOT / "experiments/gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    measured = {
        "runs": 21,
        "steps_per_chunk": 512_000,
        "trial_length": 200,
        "compile_seconds": 60.0,
        "chunk_seconds": 10.0,
        "frames_per_second": 21 * 512_000 / 10.0,
    }
    budget = gpu.plan(measured, seconds=600, elapsed=90, eval_trials=64)
    eval_seconds = 2 * 64 * 200 * 21 / measured["frames_per_second"]
    left = (600 - 90 - 120 - eval_seconds) * 0.85
    assert budget["chunks"] == int(left / 10.0)
    assert budget["frames_per_run"] == budget["chunks"] * 512_000
    assert budget["expected_train_seconds"] + 90 + 120 + eval_seconds <= 600
    hours = 75e6 * 105 / measured["frames_per_second"] / 3600
    assert budget["paper_full_budget_hours"] == pytest.approx(hours, abs=0.05)
    # Nothing left: still one chunk, so the run produces a curve point.
    assert gpu.plan(measured, seconds=100, elapsed=90, eval_trials=64)["chunks"] == 1


def test_summarise_says_which_method_beats_which(driver, tmp_path):
    """On the committed quick oracle results: Bias-HyperInit ended above Standard in every pair
    of seeds, in training and on held-out tasks (experiments/README.md)."""
    import csv
    import shutil

    source = ROOT / "experiments/results/quick/oracle-cheetah-dir"
    for name in ("metrics.csv", "eval.csv", "config.json"):
        shutil.copy(source / name, tmp_path / name)
    driver.summarise([tmp_path], tmp_path, success=False)
    results = (tmp_path / "results.md").read_text()
    assert "### train_curve: P(X > Y)" in results
    # Evaluated only after training: the training curve, said so at the top.
    assert results.startswith(driver.NO_EVAL_CURVE_NOTE)
    assert not (tmp_path / "curves_train.png").exists()
    with (tmp_path / "compare_train_curve.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["x"], row["y"]) == ("hypernet+bias_hyperinit", "standard")
    assert float(row["p_improvement"]) == 1.0 and float(row["ci_low"]) == 1.0
    with (tmp_path / "compare_eval_test_trial_return.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["p_improvement"]) == pytest.approx(0.96) and float(row["ci_low"]) > 0.5
    # The oracle's trials are one episode long: the last episode is the whole trial.
    with (tmp_path / "compare_eval_test_last_episode_return.csv").open() as f:
        (last,) = list(csv.DictReader(f))
    assert last["p_improvement"] == row["p_improvement"] and last["ci_low"] == row["ci_low"]


def test_eval_curves_follow_the_chunks_and_the_later_row_wins(tmp_path):
    write_metrics(tmp_path, {("standard", "default", 3e-4): (0.0, 0.0)})  # 1000 steps a chunk
    run_dir = RunDirectory(tmp_path)
    for chunk, value in ((0, 1.0), (2, 5.0), (1, 3.0)):  # out of order, as a resume can leave
        run_dir.append_eval([eval_row("standard", s, "test", chunk, [value], [0]) for s in (0, 1)])
    # `hyperjax eval` after the sweep re-evaluates the last chunk with more trials: it counts.
    run_dir.append_eval([eval_row("standard", s, "test", 2, [7.0], [0]) for s in (0, 1)])
    curves, steps = plot.eval_curves([tmp_path], "test")
    np.testing.assert_array_equal(curves["standard"], [[1.0, 3.0, 7.0], [1.0, 3.0, 7.0]])
    np.testing.assert_array_equal(steps["standard"], [1000.0, 2000.0, 3000.0])
    np.testing.assert_array_equal(plot.curve_means(curves)["standard"], [11 / 3, 11 / 3])
    assert plot.has_eval_curve([tmp_path], "test") and not plot.has_eval_curve([tmp_path], "train")


def test_summarise_headlines_the_evaluation_during_training(driver, tmp_path):
    """With eval.csv rows every chunk: the test-split evaluation curve and its mean (the
    authors' score) first, the training return last; learning rates chosen on other seeds."""
    import csv

    methods = {("standard", "default"): 0.0, ("hypernet", "bias_hyperinit"): 10.0}
    runs = {(p, i, lr): (0.0,) * 5 for p, i in methods for lr in (1e-3, 3e-4)}
    write_metrics(tmp_path, runs)
    rows = []
    for (policy, init), level in methods.items():
        for lr in (1e-3, 3e-4):
            for seed in range(5):
                for chunk in (0, 1):
                    for split in ("train", "test"):
                        row = eval_row(init, seed, split, chunk, [level + seed + chunk], [0])
                        row |= {
                            "run": f"{policy}-{init}-seed{seed}-lr{lr:g}",
                            "lr": lr,
                            "policy": policy,
                        }
                        rows.append(row)
    RunDirectory(tmp_path).append_eval(rows)
    driver.summarise([tmp_path], tmp_path, success=False)
    results = (tmp_path / "results.md").read_text()
    assert results.startswith("### eval_curve_test_trial_return")
    headings = [line for line in results.splitlines() if line.startswith("### ")]
    assert headings.index("### train_curve") > headings.index("### eval_test_trial_return")
    assert (tmp_path / "curves.png").exists() and (tmp_path / "curves_train.png").exists()
    with (tmp_path / "eval_curve_test_trial_return.csv").open() as f:
        means = {r["method"]: float(r["mean"]) for r in csv.DictReader(f)}
    assert means["hypernet+bias_hyperinit lr=0.001"] == pytest.approx(10 + 2 + 0.5)
    with (tmp_path / "compare_eval_curve_test_trial_return_best_lr.csv").open() as f:
        (best,) = list(csv.DictReader(f))
    assert best["lr_chosen_on"] == compare.CHOSEN_ON["split"]  # 5 seeds: chosen on others
    assert float(best["p_improvement"]) == 1.0


def write_metrics(folder: Path, finals: dict) -> None:
    """A two-chunk metrics.csv: {(policy, init, lr): each seed's return, in both chunks}."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ["run", "policy", "init", "seed", "lr", "chunk", "update", "env_steps"]
    lines = [",".join([*header, "trial_return"])]
    for (policy, init, lr), returns in finals.items():
        for seed, value in enumerate(returns):
            for chunk in (0, 1):
                run = f"{policy}-{init}-seed{seed}-lr{lr:g}"
                row = [run, policy, init, seed, lr, chunk, chunk + 1, 1000 * (chunk + 1), value]
                lines.append(",".join(map(str, row)))
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_an_extending_experiment_is_compared_with_what_it_extends(driver, tmp_path):
    """oracle-cheetah-dir-lr-top adds the paper's top rate to oracle-cheetah-dir-lr: its
    `combined` folder compares each method at its best rate of all of them."""
    import csv

    assert driver.EXPERIMENTS["oracle-cheetah-dir-lr-top"].extends == ("oracle-cheetah-dir-lr",)
    top_args = driver.EXPERIMENTS["oracle-cheetah-dir-lr-top"].args_for("medium")
    assert top_args[top_args.index("--lrs") + 1] == "0.003"
    # VariBAD's Standard at the larger rates of the paper's grid, beside table1-cheetah-dir.
    for task in ("cheetah-dir", "cheetah-vel"):
        varibad = driver.EXPERIMENTS[f"table1-{task}-lr"]
        assert varibad.file == f"table1/{task}.yaml"
        assert varibad.extends == (f"table1-{task}",)
        args = varibad.args_for("medium")
        assert args[args.index("--inits") + 1 : args.index("--lrs")] == ("standard",)
        paper_grid = load_experiment(ROOT / "experiments" / varibad.file).lrs
        assert {1e-3, 3e-3} == set(map(float, args[args.index("--lrs") + 1 :])) <= set(paper_grid)
    medium = tmp_path / "medium"
    top = medium / "oracle-cheetah-dir-lr-top"
    write_metrics(
        top,
        {
            ("standard", "default", 0.003): (9.0, 11.0),  # Standard's best rate
            ("hypernet", "bias_hyperinit", 0.003): (-5.0, -5.0),
        },
    )
    driver.derive_results("oracle-cheetah-dir-lr-top", top)
    assert not (top / driver.COMBINED).exists()  # what it extends has not run: nothing combined
    write_metrics(
        medium / "oracle-cheetah-dir-lr",
        {
            ("standard", "default", 0.001): (3.0, 4.0),
            ("hypernet", "bias_hyperinit", 0.001): (20.0, 22.0),  # BHI's best rate
        },
    )
    driver.derive_results("oracle-cheetah-dir-lr-top", top)
    with (top / driver.COMBINED / "compare_train_curve_best_lr.csv").open() as f:
        (best,) = list(csv.DictReader(f))
    assert (best["x"], best["y"]) == ("hypernet+bias_hyperinit lr=0.001", "standard lr=0.003")
    assert float(best["p_improvement"]) == 1.0
    # The folder's own comparison stays at its one rate, where Standard is ahead.
    with (top / "compare_train_curve.csv").open() as f:
        (own,) = list(csv.DictReader(f))
    assert float(own["p_improvement"]) == 0.0


def test_curves_of_a_rate_sweep_get_a_color_per_method_and_a_style_per_rate():
    """12 curves (3 methods x 4 rates) exceed the default ten colors: no two may look alike."""
    methods = [
        f"{name} lr={rate}"
        for name in ("standard", "hypernet+hfi", "hypernet+bias_hyperinit")
        for rate in ("0.0001", "0.0003", "0.001", "0.003")
    ]
    styles = plot.curve_styles(methods)
    looks = {(s["color"], str(s["linestyle"])) for s in styles.values()}
    assert len(looks) == 12
    for name in ("standard", "hypernet+hfi"):
        assert len({styles[m]["color"] for m in methods if m.startswith(name + " ")}) == 1
    # The smallest rate draws solid, the same for every method.
    assert {styles[m]["linestyle"] for m in methods if m.endswith("lr=0.0001")} == {"-"}
    assert {styles[m]["linestyle"] for m in methods if m.endswith("lr=0.003")} == {":"}
    one_rate = plot.curve_styles(["standard", "hypernet+hfi"])
    assert {s["linestyle"] for s in one_rate.values()} == {"-"}
    assert one_rate["standard"]["color"] != one_rate["hypernet+hfi"]["color"]
