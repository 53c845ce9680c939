"""Reproduce the paper's tables and figures: each experiment is one command.

    python experiments/reproduce.py --list
    python experiments/reproduce.py table1-cheetah-dir                 # quick variant (2 CPU cores)
    python experiments/reproduce.py table1-cheetah-dir --variant medium  # learning, a CPU session
    python experiments/reproduce.py table1-cheetah-dir --variant full  # the paper's budget (GPU)
    python experiments/reproduce.py all                                # every experiment in turn

Each experiment runs `hyperjax sweep` on its experiment file (once per policy size for the size
scan), then `hyperjax eval` on fresh tasks of the train and held-out test splits (skipped when
the sweep's own last evaluation used as many trials: it would repeat those rows). What it produced
goes to `experiments/results/<variant>/<name>/`: the metrics and eval CSVs, the learning curves
with 95% bootstrap intervals, result tables and `run.json` with the exact commands, wall times,
code version and machine. The headline is the deterministic evaluation on held-out tasks that the
experiment files schedule during training (`eval:`), as the authors report theirs: its curve and
each run's mean over it; the training return comes second. Checkpoints stay in
`--runs-dir`/<variant>/ (not committed). An experiment cut off (e.g. at the end of a session)
finishes with `reproduce.py <name> --variant <v> --continue`: each of its sweeps resumes from its
latest checkpoint, is skipped if complete or starts if it never did, then all are evaluated.
A size scan collects each size into `<name>-<size>/` (with its own run.json) as soon as that
size is evaluated, so finished sizes can be committed; `--continue` skips the sizes collected
whole, even when their run folders are gone (a new machine); `--sizes` runs only some sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HYPERJAX = str(Path(sys.executable).with_name("hyperjax"))
SIZES = ("XS", "S", "M", "L", "XL")
# Every size is two more compilations (about 1.5 min each for a Brax VariBAD program on 2 CPU
# cores), so the quick scan keeps the two ends; at the medium budget every size is a half-hour
# sweep, so it keeps the ends and the middle.
SCAN_SIZES = {"quick": ("XS", "XL"), "medium": ("XS", "M", "XL")}
TABLE1_INITS = (
    "standard", "normc", "kaiming", "orthogonal", "hfi", "weight_hyperinit", "bias_hyperinit"
)  # fmt: skip

LR_GRID = ("0.0001", "0.0003", "0.001")
LR_GRID_TOP = ("0.003",)  # the paper's largest rate, run after Standard's best was 1e-3


@dataclass(frozen=True)
class Experiment:
    file: str  # relative to experiments/
    claim: str  # what the paper reports, for the summary
    extra_args: tuple[str, ...] = ()  # over the experiment file, e.g. another algorithm
    # In place of extra_args for the named variants (e.g. every init of the file at one budget)
    variant_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sizes: tuple[str, ...] = ()  # a size scan: one sweep per policy size preset
    variant_sizes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a variant's scan
    eval_trials: int = 64
    success: bool = False  # the task reports success (reaching a goal): tabulate its rate
    files_copied: tuple[str, ...] = field(default=("metrics.csv", "eval.csv", "config.json"))
    # Experiments of the same variant whose results this one extends (e.g. more learning rates):
    # once they are in the results folder, the comparison is also drawn over all of them together.
    extends: tuple[str, ...] = ()

    def args_for(self, variant: str) -> tuple[str, ...]:
        """The command-line arguments this experiment adds over its file for one variant."""
        return self.variant_args.get(variant, self.extra_args)

    def sizes_for(self, variant: str) -> tuple[str, ...]:
        """The policy sizes a variant scans (one sweep each); () for no size scan."""
        return self.variant_sizes.get(variant, self.sizes)


def oracle_learning_rate_check(
    rates: tuple[str, ...], claim: str, extends: tuple[str, ...] = ()
) -> Experiment:
    """The claims' three methods with the true task as input (cheetah-dir) at the given rates."""
    args = ("--algo", "oracle", "--inits", "standard", "hfi", "bias_hyperinit", "--lrs", *rates)
    return Experiment(
        "table1/cheetah-dir.yaml",
        claim,
        extra_args=args,
        variant_args={"medium": (*args, "--train.total-env-steps", "1024000")},
        extends=extends,
    )


def standard_learning_rate_check(task: str) -> Experiment:
    """VariBAD's Standard on a Table 1 task at the paper's two largest rates, compared (in its
    `combined/` folder) with `table1-<task>`, whose methods all ran at 3e-4."""
    return Experiment(
        f"table1/{task}.yaml",
        f"Table 1, {task.title()} with Standard at its own learning rate: Standard at 1e-3 and "
        f"3e-3 beside table1-{task}'s methods at 3e-4",
        extra_args=("--inits", "standard", "--lrs", "0.001", "0.003"),
        extends=(f"table1-{task}",),
    )


EXPERIMENTS: dict[str, Experiment] = {
    "table1-cheetah-dir": Experiment(
        "table1/cheetah-dir.yaml",
        "Table 1, Cheetah-Dir return: Standard 2104+-87, Kaiming 378+-169, Normc 356+-134, "
        "Bias-HyperInit 2300+-32",
    ),
    "table2-reacher-goal": Experiment(
        "table2/reacher-goal.yaml",
        "Table 2 (Pick-Place success %): Standard 4.4, FiLM+Normc 5.5, FiLM+BHI 34.2, "
        "HN+HFI 25.5, HN+BHI 42.9",
        eval_trials=128,
        success=True,
    ),
    "grid-world": Experiment("grid-world.yaml", "VariBAD grid world (extra reference)"),
    "oracle-cheetah-dir": Experiment(
        "table1/cheetah-dir.yaml",
        "Multi-task oracle (true task as input): the upper reference for Table 1",
        extra_args=("--algo", "oracle", "--inits", "standard", "bias_hyperinit"),
        # Medium: every Table 1 init with the true task as input (the multi-task setting, which
        # isolates the hypernetwork from task inference), at the frames that fit one session.
        variant_args={
            "medium": (
                "--algo",
                "oracle",
                "--inits",
                *TABLE1_INITS,
                "--train.total-env-steps",
                "1024000",
            )
        },
    ),
    # The paper tunes each method's rate over {3e-3, ..., 3e-5}; one shared rate may favour one
    # method (at 3e-4 HFI led Bias-HyperInit in oracle-cheetah-dir). The grid's middle three rates
    # for the three methods of the claims: 45 runs, which fits one CPU session at the medium
    # budget (about 1.9 h; the full five-rate grid would take 3.2 h). Compared at the same rate
    # and each at its best (hyperjax.compare.claim_comparisons).
    "oracle-cheetah-dir-lr": oracle_learning_rate_check(
        LR_GRID,
        "Learning rate tuned per method, as the paper does: Standard, HFI and Bias-HyperInit "
        "with the true task as input, each at its best of 1e-4, 3e-4 and 1e-3",
    ),
    # At 1e-3, the grid's top above, Standard was still improving with the rate (HFI and BHI were
    # past their best), so its best may lie beyond: the paper's grid goes on to 3e-3. Compared with
    # the three rates above in its `combined` folder, each method at its best of all four.
    "oracle-cheetah-dir-lr-top": oracle_learning_rate_check(
        LR_GRID_TOP,
        "Learning rate tuned per method: the paper's top rate 3e-3 for Standard, HFI and "
        "Bias-HyperInit (true task as input), then each at its best of 1e-4 to 3e-3",
        extends=("oracle-cheetah-dir-lr",),
    ),
    # On the oracle, Standard's best rate was 3e-3 and there it matched both hypernetworks, whose
    # best was 3e-4 (oracle-cheetah-dir-lr-top). table1-cheetah-dir ran every method at 3e-4: this
    # gives VariBAD's Standard the two larger rates, compared with it in `combined/`. There, too,
    # Standard at 3e-3 matched the hypernetworks; cheetah-vel gets the same check.
    "table1-cheetah-dir-lr": standard_learning_rate_check("cheetah-dir"),
    "table1-cheetah-vel": Experiment("table1/cheetah-vel.yaml", "Table 1, Cheetah-Vel"),
    "table1-cheetah-vel-lr": standard_learning_rate_check("cheetah-vel"),
    "table1-walker-params": Experiment("table1/walker-params.yaml", "Table 1, Walker-Params"),
    "table1-ant-dir": Experiment("table1/ant-dir.yaml", "Table 1, Ant-Dir"),
    "table1-humanoid-dir": Experiment(
        "table1/humanoid-dir.yaml", "none: VariBAD's humanoid-dir, beyond the paper's tasks"
    ),
    "table2-ml1-pick-place": Experiment(
        "table2/ml1-pick-place.yaml",
        "Table 2 (Pick-Place success %): Standard 4.4, FiLM+Normc 5.5, FiLM+BHI 34.2, "
        "HN+HFI 25.5, HN+BHI 42.9",
        # 2 trials per split and run after training: 1,000 MJX steps each, about 150 steps/s on a
        # 2-core CPU; the evaluation during training (eval.csv) is the headline.
        eval_trials=2,
        success=True,
    ),
    # ML10: 10 evaluation trials per split, one per training class (two per test class).
    "table2-ml10": Experiment(
        "table2/ml10.yaml",
        "Table 2, ML10 test success: the hypernetwork about doubles the standard policy (VariBAD)",
        eval_trials=10,
        success=True,
    ),
    "table2-ml10-rl2": Experiment(
        "table2/ml10.yaml",
        "Table 2, ML10 test success: the hypernetwork about doubles the standard policy (RL2)",
        # RL2's minibatches keep whole env sequences: they must divide the 10 envs.
        extra_args=("--algo", "rl2", "--train.ppo.minibatches", "10"),
        eval_trials=10,
        success=True,
    ),
    "table2-pusher-goal": Experiment(
        "table2/pusher-goal.yaml",
        "Table 2 analogue on pusher-goal",
        eval_trials=16,  # 2 splits x 25 runs x 16 trials x 600 steps of the slowest physics
        success=True,
    ),
    "table2-reacher-goal-rl2": Experiment(
        "table2/reacher-goal.yaml",
        "Table 2 with RL2 instead of VariBAD",
        extra_args=("--algo", "rl2", "--inits", "standard", "hfi", "bias_hyperinit"),
        eval_trials=128,
        success=True,
    ),
    "figure3-cheetah-dir": Experiment(
        "figure3/cheetah-dir.yaml",
        "Figure 3: Standard vs HN+Bias-HyperInit over base sizes XS..XL",
        sizes=SIZES,
        variant_sizes=SCAN_SIZES,
    ),
    "figure3-walker-params": Experiment(
        "figure3/walker-params.yaml",
        "Figure 3: Standard vs HN+Bias-HyperInit over base sizes XS..XL",
        sizes=SIZES,
        variant_sizes=SCAN_SIZES,
    ),
}


def machine() -> dict:
    import jax

    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
        "jax": jax.__version__,
        "python": platform.python_version(),
    }


def code_version() -> str:
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def timed(command: list[str], log: list[dict]) -> None:
    """Run a hyperjax command (its output streams through) and record it with its wall time."""
    shown = " ".join(["hyperjax", *command[1:]])
    print(f"\n$ {shown}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    log.append({"command": shown, "wall_seconds": round(time.perf_counter() - start, 1)})


def sweep_and_eval(
    name: str,
    experiment: Experiment,
    variant: str,
    runs_dir: Path,
    log: list[dict],
    size: str | None = None,
    mode: str = "run",
    total_env_steps: int | None = None,
) -> Path:
    """One sweep (and its held-out evaluation); returns its run folder. `mode` is "run" (train
    from scratch), "eval-only" (evaluate the finished sweep already there) or "continue" (resume
    the sweep there from its latest checkpoint, or start it if it has none, then evaluate);
    `total_env_steps` overrides the variant's budget."""
    sweep_name = f"{name}-{size}" if size else name
    command = [HYPERJAX, "sweep", "--experiment", f"experiments/{experiment.file}"]
    if variant != "full":
        command += ["--variant", variant]
    command += [*experiment.args_for(variant), "--name", sweep_name, "--runs-dir", str(runs_dir)]
    # Quick runs checkpoint once, at the end (for the eval); longer runs often enough that
    # `hyperjax resume <run folder>` can continue one cut off: a medium chunk takes many minutes
    # of CPU and a session's end cuts it (every 2 chunks), a GPU chunk seconds (every 10).
    every = {"quick": "1000", "medium": "2"}.get(variant, "10")
    command += ["--overwrite", "--no-progress", "--checkpoint-every", every]
    if size:
        command += ["--size", size]
    if total_env_steps is not None:
        command += ["--train.total-env-steps", str(total_env_steps)]
    run_dir = runs_dir / sweep_name
    stage = sweep_stage(run_dir) if mode != "run" else "new"  # "run" trains afresh regardless
    if mode == "eval-only" and stage != "done":
        raise SystemExit(
            f"--eval-only: {run_dir} holds no finished sweep ({stage}); finish it with --continue"
        )
    if mode == "run" or (mode == "continue" and stage == "new"):
        timed(command, log)
    elif mode == "continue" and stage == "cut":
        timed([HYPERJAX, "resume", str(run_dir), "--no-progress"], log)
    if evaluated_after_training(run_dir, experiment.eval_trials):
        print(f"\n{run_dir}: the sweep's own last evaluation is the held-out one", flush=True)
    else:
        timed([HYPERJAX, "eval", str(run_dir), "--trials", str(experiment.eval_trials)], log)
    return run_dir


def evaluated_after_training(run_dir: Path, trials: int) -> bool:
    """Whether eval.csv already holds what `hyperjax eval --trials <trials>` would add: the
    sweep evaluated its last chunk on as many trials, and the tasks depend on the chunk only,
    so `hyperjax eval` would append the same rows again (an hour of compiling for ML10 here)."""
    from hyperjax.experiment import spec_from_dict
    from hyperjax.runlog import RunDirectory
    from hyperjax.sweep import EVAL_SPLITS, plan_runs

    directory = RunDirectory(run_dir)
    config = directory.read_config()
    spec = spec_from_dict(config["spec"])
    runs = [run.name for run in plan_runs(spec.inits, spec.seeds, spec.learning_rates)]
    in_sweep = config.get("eval", {"every": 0})
    return (
        in_sweep["every"] > 0
        and in_sweep["trials"] == trials
        and directory.evaluated(spec.train.num_chunks - 1, runs, EVAL_SPLITS)
    )


def sweep_stage(run_dir: Path) -> str:
    """How far the sweep in `run_dir` got: "new" (no sweep, or none of it checkpointed), "cut"
    (checkpointed before its last chunk, or killed before the evaluation after it: `hyperjax
    resume` continues it) or "done"."""
    from hyperjax.checkpoint import SweepCheckpointer
    from hyperjax.cli import evaluation_left
    from hyperjax.experiment import spec_from_dict
    from hyperjax.runlog import CONFIG_FILE, RunDirectory
    from hyperjax.sweep import plan_runs

    if not (run_dir / CONFIG_FILE).exists():
        return "new"
    directory = RunDirectory(run_dir)
    spec = spec_from_dict(directory.read_config()["spec"])
    checkpointer = SweepCheckpointer(run_dir)
    step = checkpointer.latest_step()
    checkpointer.close()
    if step is None:
        return "new"
    chunks, runs = spec.train.num_chunks, plan_runs(spec.inits, spec.seeds, spec.learning_rates)
    return "cut" if step < chunks or evaluation_left(directory, step, chunks, runs) else "done"


def summarise(run_dirs: list[Path], out: Path, success: bool) -> dict:
    """Curves, the result tables, which method beats which, and the policy diagnostics over
    training of one experiment. The headline is the deterministic evaluation on held-out tasks
    during training (`eval:` in the experiment files): its curve (curves.png) and each run's mean
    over it, the authors' score (H visualize_runs.py:316); the training return comes second
    (curves_train.png, train_curve). Folders evaluated only after training (older results) fall
    back to the training curve, with a note."""
    from hyperjax import compare, plot, plot_diagnostics
    from hyperjax.cli import evaluated_metric, selection_curves

    headline = evaluated_metric(run_dirs, "trial_return", plot.HEADLINE_SPLIT)
    notes = []
    if headline:
        plot.plot_curves(run_dirs, out / "curves", split=plot.HEADLINE_SPLIT)
        plot.plot_curves(run_dirs, out / "curves_train")
    else:
        notes.append(NO_EVAL_CURVE_NOTE)
        print(f"{out}: {NO_EVAL_CURVE_NOTE}", flush=True)
        plot.plot_curves(run_dirs, out / "curves")
    metrics = ["trial_return", "last_episode_return"]
    metrics += ["last_episode_success"] if success else []
    # The authors' score: each run's mean over its evaluation curve; on the train split too, the
    # tasks their own (non-Meta-World) evaluation used (H metalearner.py:409-413).
    curve_finals = {}
    for split, split_metrics in (
        (("test", metrics), ("train", ["trial_return"])) if headline else ()
    ):
        for metric in split_metrics:
            curves, _ = plot.eval_curves(run_dirs, split, metric)
            curve_finals[f"eval_curve_{split}_{metric}"] = plot.curve_means(curves)
    tables = {key: plot.summarise_finals(finals) for key, finals in curve_finals.items()}
    if not headline:
        tables["train_curve"] = plot.final_results(run_dirs, last_chunks=3)
    for split in ("train", "test"):
        for metric in metrics:
            rows = plot.eval_results(run_dirs, split=split, metric=metric)
            if rows:
                tables[f"eval_{split}_{metric}"] = rows
    if headline:
        tables["train_curve"] = plot.final_results(run_dirs, last_chunks=3)
    lines = [*notes, *([""] if notes else [])]
    for key, rows in tables.items():
        lines += [f"### {key}", "", plot.results_markdown(rows, key), ""]
        plot.write_results_csv(rows, out / f"{key}.csv")
    # Which method beats which, for the paper's claims: P(X > Y) over seeds (hyperjax.compare).
    # The last episode's return on held-out tasks is the one an agent earns after exploring:
    # where the methods differ in how well they adapt, it separates them when the trial does not.
    finals = {key: curve_finals[key] for key in curve_finals if key.startswith("eval_curve_test")}
    finals |= {
        "eval_test_trial_return": plot.eval_scores(run_dirs, "test", "trial_return"),
        "eval_test_last_episode_return": plot.eval_scores(run_dirs, "test", "last_episode_return"),
        "train_curve": plot.final_scores(run_dirs, "trial_return", last_chunks=3),
    }
    if not headline:  # the old order: the training curve first
        finals = {"train_curve": finals.pop("train_curve"), **finals}
    selection, chosen_by = selection_curves(run_dirs, "trial_return")
    for key, rows in compare.claim_comparisons(finals, selection).items():
        lines += [f"### {key}: P(X > Y)", ""]
        if key.endswith("_best_lr"):
            lines += [f"Rates chosen by the highest mean over the {chosen_by} curve.", ""]
        lines += [compare.comparisons_markdown(rows), ""]
        plot.write_results_csv(rows, out / f"compare_{key}.csv")
    (out / "results.md").write_text("\n".join(lines))
    if plot_diagnostics.diagnostic_layers(run_dirs[0]):  # older results have none
        plot_diagnostics.plot_diagnostics(run_dirs, out / "diagnostics")
        table = plot_diagnostics.diagnostics_markdown(run_dirs)
        (out / "diagnostics.md").write_text(table + "\n")
    return tables


NO_EVAL_CURVE_NOTE = (
    "Note: these runs were evaluated fewer than twice during training (no `eval:` schedule "
    "when they ran, or a single chunk), so the curves and train_curve are the training return, "
    "not the deterministic evaluation."
)


def policy_parameter_counts(run_dir: Path) -> dict[str, int]:
    """{method: number of policy parameters} of a sweep, from its config (shapes only)."""
    import jax

    from hyperjax import envs
    from hyperjax.agent import Agent
    from hyperjax.experiment import spec_from_dict
    from hyperjax.plot import method_name
    from hyperjax.sweep import config_for_kind, plan_runs

    spec = spec_from_dict(json.loads((run_dir / "config.json").read_text())["spec"])
    env = envs.make(spec.train.env, **spec.train.env_overrides())
    counts = {}
    for run in plan_runs(spec.inits, spec.seeds[:1], spec.learning_rates[:1]):
        agent = Agent.for_env(config_for_kind(spec.train, run.kind), env)
        shapes = jax.eval_shape(partial(agent.init, scheme=run.init), jax.random.key(0))
        row = {"policy": run.kind, "init": run.init, "lr": run.lr}
        policy_shapes = jax.tree.leaves(shapes["policy"])
        counts[method_name(row, with_lr=False)] = sum(x.size for x in policy_shapes)
    return counts


def size_scan_figure(run_dirs: list[Path], sizes: tuple[str, ...], out: Path) -> list[dict]:
    """Each method's score against the policy's parameter count, one line per method (Figure 3):
    the mean over the test-split evaluation curve when every size was evaluated during training,
    else the final training return."""
    from hyperjax import plot
    from hyperjax.cli import evaluated_metric

    split = plot.HEADLINE_SPLIT
    headline = evaluated_metric(run_dirs, "trial_return", split)
    score = f"eval_curve_{split}_trial_return" if headline else "train_curve"
    rows = []
    for size, run_dir in zip(sizes, run_dirs, strict=True):
        counts = policy_parameter_counts(run_dir)
        if headline:
            results = plot.summarise_finals(plot.curve_means(plot.eval_curves([run_dir], split)[0]))
        else:
            results = plot.final_results([run_dir], last_chunks=3)
        for result in results:
            parameters = counts[result["method"]]
            rows.append({"size": size, "parameters": parameters, "score": score, **result})
    plot.plot_size_scan(rows, out / "size_scan", ylabel=SIZE_SCAN_LABELS[score])
    plot.write_results_csv(rows, out / "size_scan.csv")
    return rows


SIZE_SCAN_LABELS = {
    "eval_curve_test_trial_return": "trial return, deterministic eval (test), mean over training",
    "train_curve": "final trial return (training)",
}


def scanned_sizes(name: str, out: Path) -> list[str]:
    """The sizes a size scan's results folder holds (one subfolder per size), smallest first."""
    return [s for s in SIZES if (out / f"{name}-{s}").is_dir()]


COMBINED = "combined"  # subfolder: an experiment together with those it extends


def derive_results(name: str, out: Path) -> None:
    """Tables and figures of one experiment from the CSVs in its results folder, so that they
    can be redrawn from what is committed."""
    experiment = EXPERIMENTS[name]
    sizes = scanned_sizes(name, out)
    folders = [out / f"{name}-{s}" for s in sizes] or [out]
    for folder in folders:
        summarise([folder], folder, experiment.success)
    if sizes:
        size_scan_figure(folders, tuple(sizes), out)
    extended = [out.parent / other for other in experiment.extends]
    if extended and all((folder / "metrics.csv").exists() for folder in extended):
        (out / COMBINED).mkdir(exist_ok=True)
        summarise([*extended, out], out / COMBINED, experiment.success)


def collect(run_dir: Path, target: Path, files: tuple[str, ...]) -> None:
    """Copy a finished, evaluated sweep's files into `target`, replacing what was there."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for file in files:
        if (run_dir / file).exists():
            shutil.copy(run_dir / file, target / file)


def collected(folder: Path, total_env_steps: int | None = None) -> bool:
    """Whether `folder` holds a whole sweep's collected results: its metrics reach the last
    chunk of the config it was collected with (at `total_env_steps` frames per run, if given),
    and it was evaluated. An unreadable folder is not whole (the reason is printed)."""
    from hyperjax.errors import ConfigError
    from hyperjax.experiment import spec_from_dict
    from hyperjax.runlog import RunDirectory

    if not all((folder / f).exists() for f in ("config.json", "metrics.csv", "eval.csv")):
        return False
    try:
        spec = spec_from_dict(RunDirectory(folder).read_config()["spec"])
        with open(folder / "metrics.csv", newline="") as f:
            last_chunk = max((int(row["chunk"]) for row in csv.DictReader(f)), default=-1)
    except (ConfigError, KeyError, ValueError) as error:
        print(f"{folder}: not a whole collected sweep ({error})", flush=True)
        return False
    if total_env_steps is not None and spec.train.total_env_steps != total_env_steps:
        return False
    return last_chunk == spec.train.num_chunks - 1


def run_record(commands: list[dict], wall_seconds: float, **fields) -> dict:
    return {
        **fields,
        "commands": commands,
        "wall_seconds": round(wall_seconds, 1),
        "code_version": code_version(),
        "machine": machine(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write_record(folder: Path, record: dict) -> None:
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")


def reproduce(
    name: str,
    variant: str,
    runs_dir: Path,
    results_dir: Path,
    mode: str = "run",
    total_env_steps: int | None = None,
    only_sizes: tuple[str, ...] = (),
) -> None:
    """Run one experiment and collect its results; `only_sizes` runs just those sizes of a size
    scan (the others are left as they are), e.g. the ones that fit a session."""
    experiment = EXPERIMENTS[name]
    out = results_dir / variant / name
    log: list[dict] = []
    start = time.perf_counter()
    scan = experiment.sizes_for(variant)
    # Each variant has its own run folders, so a quick run never overwrites a long one.
    sweep = partial(sweep_and_eval, name, experiment, variant, runs_dir / variant)
    ran = []  # sizes of a scan swept (or evaluated) by this call
    if not scan:
        collect(sweep(log, None, mode, total_env_steps), out, experiment.files_copied)
    for size in only_sizes or scan:
        # A size scan collects each size as soon as it is evaluated, with its own run.json:
        # the run folders (checkpoints, hundreds of MB) do not outlive a session, the collected
        # results can be committed, and `--continue` skips them in the next session.
        target = out / f"{name}-{size}"
        if mode != "run" and collected(target, total_env_steps):
            print(f"{name}: size {size} already collected in {target}", flush=True)
            continue
        ran.append(size)
        size_log: list[dict] = []
        size_start = time.perf_counter()
        run_dir = sweep(size_log, size, mode, total_env_steps)
        if mode == "run" and not only_sizes and size == scan[0] and out.exists():
            shutil.rmtree(out)  # a fresh whole scan replaces the old results once it has some
        collect(run_dir, target, experiment.files_copied)
        write_record(target, run_record(size_log, time.perf_counter() - size_start, mode=mode))
        summarise([target], target, experiment.success)
        log += size_log
    missing = [s for s in scan if not collected(out / f"{name}-{s}")]
    if missing:  # the scan's figure and run.json wait for its last sizes
        print(f"\n{name}: sizes still to run: {' '.join(missing)} (--continue)", flush=True)
        return
    if scan and not ran and (out / "run.json").exists():
        print(f"\n{name}: every size was collected earlier; {out} left as it is", flush=True)
        return
    derive_results(name, out)
    record = run_record(
        log,
        time.perf_counter() - start,
        experiment=name,
        variant=variant,
        claim=experiment.claim,
        # "eval-only" or "continue": (part of) the sweep ran earlier, into the same run folder,
        # or (sizes_collected_earlier) into a size's results folder; `commands` and
        # `wall_seconds` cover only this call, each size's own run.json its own part.
        mode=mode,
        sizes_collected_earlier=[size for size in scan if size not in ran],
        reproduce=f"python experiments/reproduce.py {name} --variant {variant}"
        + (f" --total-env-steps {total_env_steps}" if total_env_steps else ""),
    )
    write_record(out, record)
    print(f"\n{name}: {record['wall_seconds']:.0f}s -> {out}", flush=True)


# A file in an experiment's results folder saying why its numbers predate the current code.
STALE_NOTE = "STALE.md"


def training_seconds(folder: Path) -> float:
    """Seconds spent stepping chunks, over every part of a sweep however many sessions it took:
    the sum over chunks of metrics.csv's `chunk_seconds` (each chunk's time for all its groups,
    so one value per chunk). Compilation, checkpoints and evaluation are not in it."""
    from hyperjax.runlog import read_metrics

    per_chunk = {row["chunk"]: row.get("chunk_seconds", 0.0) for row in read_metrics(folder)}
    return float(sum(per_chunk.values()))


def write_summary(results_dir: Path, variant: str, redraw: bool = True) -> Path:
    """One page over every finished experiment of a variant: claim, wall time, machine, commands
    and its result tables (from each folder's run.json and results.md), after redrawing each
    experiment's tables and figures from its CSVs."""
    root = results_dir / variant
    if redraw:
        for name in EXPERIMENTS:
            if (root / name / "run.json").exists():
                derive_results(name, root / name)
    lines = [f"# Results of the `{variant}` variants", ""]
    lines += ["Written by `python experiments/reproduce.py --summary` from the folders here.", ""]
    for name in EXPERIMENTS:
        record_path = root / name / "run.json"
        if not record_path.exists():
            continue
        record = json.loads(record_path.read_text())
        hardware = record["machine"]
        lines += [f"## {name}", "", f"Paper: {record['claim']}", ""]
        stale = root / name / STALE_NOTE
        if stale.exists():  # results of older code, kept until rerun
            lines += [f"**Stale:** {stale.read_text().strip()}", ""]
        # A size scan's sizes each have their own run.json, possibly from different sessions.
        # Older scans were recorded only as a whole: then the scan's own record speaks for all.
        size_records = [
            root / name / f"{name}-{s}" / "run.json" for s in scanned_sizes(name, root / name)
        ]
        parts = {}
        if all(path.exists() for path in size_records):
            parts = {path.parent.name: json.loads(path.read_text()) for path in size_records}
        wall = sum(part["wall_seconds"] for part in parts.values()) or record["wall_seconds"]
        commands = [c for part in parts.values() for c in part["commands"]] or record["commands"]
        per_part = ", ".join(
            f"{part_name.removeprefix(name + '-')} {part['wall_seconds'] / 60:.1f} min "
            f"(code {part['code_version']}, {part['finished']})"
            for part_name, part in parts.items()
        )
        # A sweep resumed in a later session records only that part's commands in run.json;
        # its metrics.csv times every chunk, so training time counts the earlier parts too.
        folders = [path.parent for path in size_records] or [root / name]
        metrics = [folder for folder in folders if (folder / "metrics.csv").exists()]
        training = sum(training_seconds(folder) for folder in metrics)
        lines += [
            f"Wall time {wall / 60:.1f} min on {hardware['processor']}, "
            f"{hardware['cpus']} CPUs, {', '.join(hardware['devices'])}, jax {hardware['jax']}; "
            f"code {record['code_version']}; finished {record['finished']}."
            + (f" By size: {per_part}." if per_part else "")
            + (
                f" Training {training / 60:.1f} min over all parts (sum of metrics.csv's "
                "chunk_seconds; without compilation, checkpoints and evaluation)."
                if metrics
                else ""
            ),
            "",
            "```",
            *(c["command"] for c in commands),
            "```",
            "",
        ]
        tables = sorted((root / name).rglob("results.md"))
        for table in tables:
            heading = table.parent.relative_to(root / name)
            if str(heading) != ".":
                lines += [f"#### {heading}", ""]
            lines += [table.read_text().replace("### ", "##### "), ""]
            diagnostics = table.parent / "diagnostics.md"
            if diagnostics.exists():
                lines += ["##### policy diagnostics (diagnostics.png)", ""]
                lines += [diagnostics.read_text(), ""]
        scan = root / name / "size_scan.csv"
        if scan.exists():
            lines += ["Size scan (each method's score against policy parameters):", ""]
            lines += ["```", scan.read_text().strip(), "```", ""]
    out = root / "SUMMARY.md"
    out.write_text("\n".join(lines))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="experiments to run, or 'all'")
    parser.add_argument(
        "--variant",
        default="quick",
        help="quick (CPU minutes), medium (a CPU session) or full (the paper's budget, GPU)",
    )
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "reproduce")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--eval-only",
        dest="mode",
        action="store_const",
        const="eval-only",
        help="evaluate and collect finished sweeps in --runs-dir (e.g. after a failed eval)",
    )
    mode.add_argument(
        "--continue",
        dest="mode",
        action="store_const",
        const="continue",
        help="finish an experiment cut off earlier: resume each sweep in --runs-dir from its "
        "latest checkpoint (skip it if complete, start it if never checkpointed), then evaluate",
    )
    parser.add_argument(
        "--total-env-steps", type=int, help="frames per run, in place of the variant's budget"
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=(),
        help="run only these sizes of a size scan's variant (the others stay as collected)",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="redraw every finished experiment's tables and figures from its CSVs, write "
        "<results>/<variant>/SUMMARY.md and exit",
    )
    args = parser.parse_args(argv)
    if args.summary:
        print(write_summary(args.results_dir, args.variant))
        return
    if args.list or not args.names:
        for name, experiment in EXPERIMENTS.items():
            print(f"{name:26s} experiments/{experiment.file}  {experiment.claim}")
        return
    names = list(EXPERIMENTS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"experiment: unknown {', '.join(unknown)}; allowed: {', '.join(EXPERIMENTS)}")
    args.sizes = list(dict.fromkeys(args.sizes))  # each size once, in the order given
    for name in names if args.sizes else ():
        scan = EXPERIMENTS[name].sizes_for(args.variant)
        wrong = [s for s in args.sizes if s not in scan]
        if wrong:
            parser.error(
                f"sizes: {' '.join(wrong)} not in {name}'s {args.variant} scan; allowed: "
                + (" ".join(scan) or "none (no size scan)")
            )
    for name in names:
        reproduce(
            name,
            args.variant,
            args.runs_dir,
            args.results_dir,
            args.mode or "run",
            args.total_env_steps,
            tuple(args.sizes),
        )


if __name__ == "__main__":
    main()
