"""The `hyperjax` command: train, sweep, resume, eval, plot, inspect, demo.

    hyperjax sweep --inits standard kaiming hfi bias_hyperinit --seeds 0 1 2 --name mysweep
    hyperjax sweep --algo varibad --env cheetah-dir --inits bias_hyperinit hfi --seeds 0 1
    hyperjax sweep --experiment experiments/demo.yaml --variant quick --seeds 0 1 2 3 4
    hyperjax train --init bias_hyperinit --seed 0 --train.env point-robot
    hyperjax resume runs/mysweep      # after a crash or pre-emption: continues bit-identically
    hyperjax eval runs/mysweep        # few-shot curves on fresh train and held-out test tasks
    hyperjax plot runs/mysweep
    hyperjax inspect --env cheetah-dir --algo varibad --size XL   # each init scheme at init
    hyperjax demo

Flags override the experiment file; every input is validated before anything compiles, and a bad
one exits with a one-line message naming the field.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import tyro

from hyperjax import envs
from hyperjax.config import (
    ALL_INIT_SCHEMES,
    SIZE_PRESETS,
    EncoderConfig,
    PolicyConfig,
    PPOConfig,
    TrainConfig,
    check_kind_of_schemes,
)
from hyperjax.errors import ConfigError, check_choice, check_positive
from hyperjax.experiment import SweepSpec, load_eval_schedule, load_experiment, spec_to_dict
from hyperjax.runlog import EVAL_FILE, TensorBoardLog, WandbLog, is_primary_process

DEFAULT_RUNS_DIR = Path("runs")


@dataclass(frozen=True)
class SweepCommand(SweepSpec):
    """Train a grid of init schemes x seeds x learning rates (one compiled program per policy
    kind)."""

    env: str | None = None  # shortcut for --train.env
    algo: str | None = None  # shortcut for --train.algo (rl2, varibad, oracle)
    size: str | None = None  # a policy size preset (XS, S, M, L, XL, XXL); overrides widths
    runs_dir: Path = DEFAULT_RUNS_DIR
    overwrite: bool = False  # replace an existing runs/<name> (never done silently)
    checkpoint_every: int = 1  # save the whole sweep's state every N chunks (and at the end)
    keep_checkpoints: int = 2  # the last K checkpoints are kept
    eval_every: int = 0  # evaluate on fresh train and test tasks every N chunks (0: off); an
    # experiment file sets both with `eval: {every: N, trials: K}`, which these flags override
    eval_trials: int = 64  # trials per run and split in each evaluation
    eval_episodes: int | None = None  # episodes per evaluation trial; None: the training trial's
    tensorboard: bool = False  # also write TensorBoard event files, one folder per run (tb/)
    wandb_project: str | None = None  # also log to Weights & Biases (if installed)
    max_runs_per_program: int | None = None
    """Runs per compiled program; None: as many as fit in device memory (XLA's count), the
    rest in further programs run one after the other within each chunk."""
    progress: bool = True  # a progress bar over chunks
    plot: bool = True  # write curves and a final-results table at the end


@dataclass(frozen=True)
class EvalCommand:
    """Evaluate a sweep's latest checkpoint on fresh tasks of the train and held-out test splits,
    with mean actions, the memory carried across each trial's episodes: return (and success) per
    episode index, per run. Writes eval.csv in the run folder."""

    run_dir: tyro.conf.Positional[Path]
    trials: int = 256  # trials per run and split
    splits: tuple[str, ...] = ("train", "test")
    episodes: int | None = None  # episodes per trial; None: the sweep's evaluation setting


@dataclass(frozen=True)
class ResumeCommand:
    """Continue a sweep from its latest checkpoint (its config comes from the run folder)."""

    run_dir: tyro.conf.Positional[Path]
    progress: bool = True
    plot: bool = True


@dataclass(frozen=True)
class TrainCommand:
    """Train one run (a sweep of one)."""

    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    init: str = "bias_hyperinit"
    seed: int = 0
    lr: float | None = None
    name: str = "train"
    env: str | None = None  # shortcut for --train.env
    algo: str | None = None  # shortcut for --train.algo
    size: str | None = None
    runs_dir: Path = DEFAULT_RUNS_DIR
    overwrite: bool = False
    progress: bool = True
    plot: bool = True


@dataclass(frozen=True)
class InspectCommand:
    """What each init scheme's generated network looks like at init, per layer: weight scale
    against the base init, saturated tanh units, dependence on the task input, parameters;
    from the untrained encoder's z on short random-action rollouts and from unit-variance z.
    Prints a table and writes <out>.md and <out>.csv."""

    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    inits: tuple[str, ...] = ALL_INIT_SCHEMES
    env: str | None = None  # shortcut for --train.env
    algo: str | None = None  # shortcut for --train.algo
    size: str | None = None  # a policy size preset (XS..XXL)
    seed: int = 0
    num_envs: int = 16  # envs per rollout
    num_steps: int | None = None  # steps per env; None: one trial
    out: Path = Path("runs/inspect/inspect")  # file stem for .md and .csv


@dataclass(frozen=True)
class PlotCommand:
    """Learning curves (mean and 95% bootstrap CI over seeds), final-results tables and which
    method beats which. When the runs were evaluated during training (--eval-every), the headline
    is that deterministic evaluation on held-out tasks, the training metric second."""

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    metric: str = "trial_return"
    out: Path | None = None  # file stem for .png/.svg/.md/.csv; default <first run dir>/curves
    last_chunks: int = 3  # final training performance = mean over each run's last N chunks
    # With a learning-rate grid, choose each method's rate on the other half of the seeds
    # ("split", needs 4 seeds), on the seeds it is scored on ("same"), or "auto" (split if 4+).
    lr_choice: str = "auto"
    # Draw the policy diagnostics over training instead (default out: <run dir>/diagnostics):
    # generated-weight scale, saturation, task sensitivity and head norm per method.
    diagnostics: bool = False
    layer: str = "hidden"  # with --diagnostics: one layer's, or "hidden" (all hidden layers)


# The built-in default of `make demo`: grid world (VariBAD's 5x5, 4 episodes per trial) with RL2,
# the standard policy against hypernetworks under two naive inits and Bias-HyperInit, 3 seeds.
# Sized to finish in about 10 minutes on 2 CPU cores, compilation included.
DEMO = SweepCommand(
    train=TrainConfig(
        env="grid-world",
        algo="rl2",
        total_env_steps=16 * 60 * 10 * 24,
        updates_per_chunk=10,
        policy=PolicyConfig(state_embed_dim=64, hidden=(64, 32)),
        encoder=EncoderConfig(gru_dim=64),
        # The authors' grid world treats its 15-step time limit as an ordinary episode end
        # (use_proper_time_limits False, H config/gridworld/args_grid_varibad.py:67).
        ppo=PPOConfig(
            num_envs=16, num_steps=60, lr=1e-3, ent_coef=0.05, bootstrap_truncation=False
        ),
    ),
    inits=("standard", "kaiming", "hfi", "bias_hyperinit"),
    seeds=(0, 1, 2),
    name="demo",
    overwrite=True,
)


def _with_shortcuts(train: TrainConfig, command: SweepCommand) -> TrainConfig:
    """Apply --env / --algo / --size over the train config (validated by TrainConfig)."""
    return _with_size(_with_shortcuts_of(train, command.env, command.algo), command.size)


def _with_shortcuts_of(train: TrainConfig, env: str | None, algo: str | None) -> TrainConfig:
    changes = {k: v for k, v in (("env", env), ("algo", algo)) if v is not None}
    return train.replace(**changes) if changes else train


def _with_size(train: TrainConfig, size: str | None) -> TrainConfig:
    if size is None:
        return train
    check_choice("size", size, SIZE_PRESETS)
    state_embed_dim, hidden = SIZE_PRESETS[size]
    return train.replace(
        policy=train.policy.replace(state_embed_dim=state_embed_dim, hidden=hidden)
    )


def execute_sweep(command: SweepCommand) -> Path:
    """Validate everything, then train, log and plot. Returns the run folder."""
    from hyperjax.evaluate import evaluation_env
    from hyperjax.runlog import RunDirectory
    from hyperjax.sweep import plan_groups, plan_runs

    train = _with_shortcuts(command.train, command)
    runs = plan_runs(command.inits, command.seeds, command.learning_rates)
    # Env options (e.g. backend) and batch sizes (ML10 splits a batch over its classes), before
    # any write.
    env = envs.make(train.env, **train.env_overrides())
    env.check_batch("ppo.num_envs", train.ppo.num_envs)
    check_positive("checkpoint_every", command.checkpoint_every)
    check_positive("keep_checkpoints", command.keep_checkpoints)
    check_positive("eval_trials", command.eval_trials)
    if command.eval_every < 0:
        raise ConfigError(f"eval_every: must be >= 0 (0: off), got {command.eval_every}")
    if command.eval_episodes is not None:
        evaluation_env(train, "test", command.eval_episodes)  # fits the policy, before any write
    if command.eval_every:
        for split in envs.SPLITS:
            evaluation_env(train, split).check_batch("eval_trials", command.eval_trials)
    groups = len(plan_groups(runs, command.max_runs_per_program))
    eval_splits = envs.SPLITS if command.eval_every else ()
    check_map_count_of(train, groups, True, eval_splits, command.eval_episodes)
    run_dir = RunDirectory(command.runs_dir / command.name)
    run_dir.check_writable(command.overwrite)
    if command.tensorboard and is_primary_process():
        TensorBoardLog(run_dir.path / "tb")  # fails early if tensorboardX is missing
    if command.wandb_project is not None and is_primary_process():
        WandbLog(run_dir.path / "wandb", command.wandb_project, command.name)  # likewise wandb
    spec = dataclasses.replace(
        SweepSpec(), **{f.name: getattr(command, f.name) for f in dataclasses.fields(SweepSpec)}
    )
    spec = dataclasses.replace(spec, train=train)
    spec_dict = _as_json(spec_to_dict(with_rates_that_run(spec)))
    checkpoint = {"every": command.checkpoint_every, "keep": command.keep_checkpoints}
    evaluation = {
        "every": command.eval_every,
        "trials": command.eval_trials,
        "episodes": command.eval_episodes,
    }
    logging = {"tensorboard": command.tensorboard, "wandb_project": command.wandb_project}
    memory = {"max_runs_per_program": command.max_runs_per_program}
    run_dir.create(
        {
            "spec": spec_dict,
            "checkpoint": checkpoint,
            "eval": evaluation,
            "logging": logging,
            "memory": memory,
            "command": sys.argv,
        },
        [
            {"run": r.name, "policy": r.kind, "init": r.init, "seed": r.seed, "lr": r.lr}
            for r in runs
        ],
        overwrite=command.overwrite,
    )
    try:
        _train_and_report(train, runs, run_dir, spec_dict, command.progress, command.plot)
    except ConfigError:
        # Refused before its first result (memory, ...): the folder this command just made
        # holds nothing worth keeping, and left there it would block the corrected rerun.
        run_dir.remove_if_unstarted()
        raise
    return run_dir.path


def with_rates_that_run(spec: SweepSpec) -> SweepSpec:
    """The spec as config.json records it: `lrs` lists the rates that run, and `train.ppo.lr`
    (the rate when `lrs` is empty, else unused: each run's optimizer is set to its own rate) is
    the first of them, so that the file never shows a rate that did not run."""
    rates = spec.learning_rates
    ppo = dataclasses.replace(spec.train.ppo, lr=rates[0])
    return dataclasses.replace(spec, lrs=rates, train=spec.train.replace(ppo=ppo))


def _as_json(data: dict) -> dict:
    """The JSON round trip of `data` (tuples become lists), as config.json and checkpoints hold."""
    return json.loads(json.dumps(data, default=str))


def check_map_count_of(
    train: TrainConfig, groups: int, trains: bool, eval_splits: Sequence[str], episodes: int | None
) -> None:
    """Refuse (before compiling) a command whose programs would hold more memory mappings than
    this host allows a process: per group, its init and training programs (if `trains`) and
    an evaluation program per split of `eval_splits`."""
    from hyperjax.evaluate import evaluation_env
    from hyperjax.map_count import check_map_count, scene_count

    if envs.cpu_mappings_per_scene(train.env) is None:
        return  # small programs: no need to build the envs
    scenes = []
    if trains:
        scenes += 2 * [scene_count(envs.make(train.env, **train.env_overrides()))]
    scenes += [scene_count(evaluation_env(train, split, episodes)) for split in eval_splits]
    check_map_count(train.env, scenes * groups)


def evaluation_left(run_dir, step: int, num_chunks: int, runs) -> bool:
    """Whether the sweep in `run_dir` owes the evaluation after its checkpoint `step`: the
    checkpoint is saved first, so a kill between the two leaves that evaluation to the resume."""
    from hyperjax.sweep import EVAL_SPLITS, evaluation_due

    every = run_dir.read_config().get("eval", {"every": 0})["every"]
    names = [run.name for run in runs]
    return evaluation_due(step, every, num_chunks) and not run_dir.evaluated(
        step - 1, names, EVAL_SPLITS
    )


def _train_and_report(train, runs, run_dir, spec_dict, progress, plot_results, resume=False):
    from hyperjax.checkpoint import SweepCheckpointer
    from hyperjax.sweep import EVAL_SPLITS, plan_groups, run_sweep

    config = run_dir.read_config()
    checkpoint, evaluation = config["checkpoint"], config.get("eval", {"every": 0, "trials": 1})
    checkpointer = SweepCheckpointer(run_dir.path, checkpoint["every"], checkpoint["keep"])
    resume_step, evaluate_restored = None, False
    if resume:
        # Everything that can refuse the resume runs here, before compiling or rewriting
        # anything: the newest intact checkpoint of this config, and the rows before it.
        resume_step = checkpointer.intact_step(spec_dict)
        evaluate_restored = evaluation_left(run_dir, resume_step, train.num_chunks, runs)
        trains = resume_step < train.num_chunks
        if not trains and not evaluate_restored:
            checkpointer.close()
            print(f"{run_dir.path} is finished ({resume_step} of {train.num_chunks} chunks)")
            return
        groups = len(plan_groups(runs, config.get("memory", {}).get("max_runs_per_program")))
        evaluates = evaluation["every"] or evaluate_restored
        eval_splits = EVAL_SPLITS if evaluates else ()
        check_map_count_of(train, groups, trains, eval_splits, evaluation.get("episodes"))
        run_dir.check_rows_before(resume_step)
        checkpointer.set_aside_after(resume_step)
    print(
        f"{len(runs)} runs x {train.num_chunks * train.steps_per_chunk:,} env steps on "
        f"{train.env} ({train.algo}) -> {run_dir.path}"
    )
    writers = [run_dir.append_metrics]
    loggers = []
    logging = config.get("logging", {}) if is_primary_process() else {}  # one writer per sweep
    if logging.get("tensorboard"):
        loggers.append(TensorBoardLog(run_dir.path / "tb"))
    if logging.get("wandb_project"):
        project = logging["wandb_project"]
        loggers.append(WandbLog(run_dir.path / "wandb", project, run_dir.path.name))
    writers += [logger.append for logger in loggers]

    def on_rows(rows: list[dict]) -> None:
        for write in writers:
            write(rows)

    start = time.perf_counter()
    result = run_sweep(
        train,
        runs,
        on_rows=on_rows,
        progress=progress,
        checkpointer=checkpointer,
        spec=spec_dict,
        resume=resume,
        resume_step=resume_step,
        # after the restore succeeded, not before; a partial evaluation of the restored chunk
        # goes too, as the resume redoes it
        on_resumed=lambda step: run_dir.drop_rows_from(
            step, eval_from=step - 1 if evaluate_restored else step
        ),
        evaluate_restored=evaluate_restored,
        eval_every=evaluation["every"],
        eval_trials=evaluation["trials"],
        eval_episodes=evaluation.get("episodes"),
        on_eval_rows=run_dir.append_eval,
        max_runs_per_program=config.get("memory", {}).get("max_runs_per_program"),
    )
    checkpointer.close()
    for logger in loggers:
        logger.close()
    wall = time.perf_counter() - start
    chunks = train.num_chunks - result.first_chunk
    total_steps = len(runs) * chunks * train.steps_per_chunk
    rate = total_steps / result.train_seconds if result.train_seconds else 0.0
    print(
        f"done in {wall:.0f}s (compile {sum(result.compile_seconds.values()):.0f}s, "
        f"train {result.train_seconds:.0f}s, {rate:,.0f} env steps/s)"
    )
    if result.diverged:
        print(f"diverged (updates stopped, results kept apart): {', '.join(result.diverged)}")
    if plot_results and is_primary_process():
        figure, table = write_report([run_dir.path], run_dir.path / "curves", csv_files=False)
        table += last_evaluation_table(run_dir.path)
        (run_dir.path / "results.md").write_text(table + "\n")
        print(table)
        print(f"curves: {figure}")
        if train.diagnostic_samples:
            _write_diagnostics([run_dir.path], run_dir.path / "diagnostics")


def _eval(argv: list[str]) -> None:
    from hyperjax.checkpoint import SweepCheckpointer
    from hyperjax.evaluate import evaluation_env
    from hyperjax.experiment import spec_from_dict
    from hyperjax.runlog import RunDirectory
    from hyperjax.sweep import evaluate_groups, plan_groups, plan_runs, restore_sweep

    command = tyro.cli(EvalCommand, args=argv, prog="hyperjax eval")
    check_positive("trials", command.trials)
    for split in command.splits:
        check_choice("splits", split, ("train", "test"))
    run_dir = RunDirectory(command.run_dir)
    config = run_dir.read_config()
    spec = spec_from_dict(config["spec"], source=str(run_dir.path / "config.json"))
    runs = plan_runs(spec.inits, spec.seeds, spec.learning_rates)
    max_runs = config.get("memory", {}).get("max_runs_per_program")
    episodes = command.episodes
    if episodes is None:
        episodes = config.get("eval", {}).get("episodes")
    _check_eval_file_fits(run_dir.path / EVAL_FILE, evaluation_env(spec.train, "test", episodes))
    groups = len(plan_groups(runs, max_runs))
    check_map_count_of(spec.train, groups, False, command.splits, episodes)
    checkpointer = SweepCheckpointer(run_dir.path)
    step, programs, states = restore_sweep(spec.train, runs, checkpointer, config["spec"], max_runs)
    checkpointer.close()
    rows = evaluate_groups(programs, states, command.trials, step - 1, command.splits, episodes)
    run_dir.append_eval(rows)
    print(f"checkpoint after chunk {step}: {command.trials} fresh trials per run and split")
    print(eval_table(rows))
    print(f"rows appended to {run_dir.path / EVAL_FILE}")


def _check_eval_file_fits(path: Path, env) -> None:
    """Refuse (before compiling) rows that eval.csv's header would cut: another episode count."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    held = sum(1 for key in header if key.startswith("episode_return_"))
    if held and held != env.episodes_per_trial:
        raise ConfigError(
            f"episodes: {path} holds {held}-episode evaluations, this one would have "
            f"{env.episodes_per_trial}; allowed: {held} (or evaluate a copy of the run folder)"
        )


def last_evaluation_table(run_dir: Path) -> str:
    """The sweep's last evaluation during training as `eval_table` (return per episode, success,
    per method and split), under a heading; empty if it evaluated nothing."""
    from hyperjax.runlog import read_metrics

    if not (run_dir / EVAL_FILE).exists():
        return ""
    rows = read_metrics(run_dir, EVAL_FILE)
    last = max(row["chunk"] for row in rows)
    rows = [row for row in rows if row["chunk"] == last]
    title = (
        f"### Last evaluation (chunk {int(last) + 1}): mean actions on fresh tasks of each split"
    )
    return f"\n{title}\n\n{eval_table(rows)}\n"


def eval_table(rows: list[dict]) -> str:
    """Mean over seeds per (method, split): return per episode index, success, trial return.
    A sweep over learning rates gets one row per method and rate."""
    import numpy as np

    from hyperjax.plot import method_name

    episodes = sum(1 for key in rows[0] if key.startswith("episode_return_"))
    with_lr = len({row["lr"] for row in rows}) > 1
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((method_name(row, with_lr), row["split"]), []).append(row)
    head = " | ".join(f"ep {i + 1}" for i in range(episodes))
    lines = [f"| method | split | seeds | {head} | success (last ep) | trial return |"]
    lines.append("|" + "---|" * (episodes + 5))
    for (name, split), group in sorted(groups.items()):
        mean = lambda key, g=group: float(np.mean([r[key] for r in g]))  # noqa: E731
        cells = " | ".join(f"{mean(f'episode_return_{i}'):.3f}" for i in range(episodes))
        success = mean(f"success_{episodes - 1}")
        lines.append(
            f"| {name} | {split} | {len(group)} | {cells} | {success:.3f} | "
            f"{mean('trial_return'):.3f} |"
        )
    return "\n".join(lines)


def _resume(argv: list[str]) -> None:
    from hyperjax.experiment import spec_from_dict
    from hyperjax.runlog import RunDirectory
    from hyperjax.sweep import plan_runs

    command = tyro.cli(ResumeCommand, args=argv, prog="hyperjax resume")
    run_dir = RunDirectory(command.run_dir)
    config = run_dir.read_config()
    spec = spec_from_dict(config["spec"], source=str(run_dir.path / "config.json"))
    runs = plan_runs(spec.inits, spec.seeds, spec.learning_rates)
    _train_and_report(
        spec.train, runs, run_dir, config["spec"], command.progress, command.plot, resume=True
    )


def _split_experiment_args(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """Pull --experiment / --variant out of argv: they pick the defaults tyro parses against."""
    experiment = variant = None
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("--experiment", "--variant"):
            value = next(args, None)
            if value is None:
                raise ConfigError(f"{arg[2:]}: needs a value")
            if arg == "--experiment":
                experiment = value
            else:
                variant = value
        elif arg.startswith(("--experiment=", "--variant=")):
            key, value = arg[2:].split("=", 1)
            experiment, variant = (value, variant) if key == "experiment" else (experiment, value)
        else:
            rest.append(arg)
    return experiment, variant, rest


def _explicit_policy_kind(args: list[str]) -> str | None:
    """The value of --train.policy.kind if the command line gives one."""
    for i, arg in enumerate(args):
        if arg == "--train.policy.kind" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--train.policy.kind="):
            return arg.split("=", 1)[1]
    return None


def _check_explicit_kind(args: list[str], inits: tuple[str, ...]) -> None:
    kind = _explicit_policy_kind(args)
    if kind is not None:
        check_kind_of_schemes(kind, inits)


def _sweep(argv: list[str]) -> None:
    experiment, variant, rest = _split_experiment_args(argv)
    default = SweepCommand()
    if experiment is not None:
        spec = load_experiment(experiment, variant)
        schedule = load_eval_schedule(experiment, variant)  # --eval-every/--eval-trials override
        default = SweepCommand(
            **{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)},
            eval_every=schedule.every,
            eval_trials=schedule.trials,
            eval_episodes=schedule.episodes,
        )
    elif variant is not None:
        raise ConfigError("variant: needs --experiment")
    command = tyro.cli(SweepCommand, default=default, args=rest, prog="hyperjax sweep")
    _check_explicit_kind(rest, command.inits)
    execute_sweep(command)


def _train(argv: list[str]) -> None:
    command = tyro.cli(TrainCommand, args=argv, prog="hyperjax train")
    _check_explicit_kind(argv, (command.init,))
    execute_sweep(
        SweepCommand(
            train=command.train,
            inits=(command.init,),
            seeds=(command.seed,),
            lrs=(command.lr,) if command.lr is not None else (),
            name=command.name,
            env=command.env,
            algo=command.algo,
            size=command.size,
            runs_dir=command.runs_dir,
            overwrite=command.overwrite,
            progress=command.progress,
            plot=command.plot,
        )
    )


def _plot(argv: list[str]) -> None:
    from hyperjax import compare, plot
    from hyperjax.runlog import read_metrics

    command = tyro.cli(PlotCommand, args=argv, prog="hyperjax plot")
    check_positive("last_chunks", command.last_chunks)
    check_choice("lr_choice", command.lr_choice, compare.LR_CHOICES)
    if not command.run_dirs:
        raise ConfigError("run_dirs: give at least one run folder (hyperjax plot runs/<name>)")
    for run_dir in command.run_dirs:
        if not (run_dir / "metrics.csv").is_file():
            raise ConfigError(f"run_dirs: {run_dir} holds no metrics.csv")
        rows = read_metrics(run_dir)
        if not rows:
            raise ConfigError(f"run_dirs: {run_dir / 'metrics.csv'} holds no rows yet")
        columns = rows[0].keys()
        check_choice("metric", command.metric, [c for c in columns if c not in plot.ID_COLUMNS])
    if command.out is not None:
        check_output_path("out", command.out)
    if command.diagnostics:
        out = command.out or command.run_dirs[0] / "diagnostics"
        _write_diagnostics(list(command.run_dirs), out, command.layer)
        return
    out = command.out or command.run_dirs[0] / "curves"
    run_dirs = list(command.run_dirs)
    figure, table = write_report(
        run_dirs, out, command.metric, command.last_chunks, command.lr_choice
    )
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"curves: {figure} (and .svg); table: {out.with_suffix('.md')} and .csv")


def evaluated_metric(run_dirs: list[Path], metric: str, split: str) -> bool:
    """Whether eval.csv holds `metric` and every folder was evaluated on `split` during
    training, so that its deterministic evaluation curve can stand for the training metric."""
    from hyperjax import plot
    from hyperjax.runlog import read_metrics

    if not plot.has_eval_curve(run_dirs, split):
        return False
    row = read_metrics(run_dirs[0], EVAL_FILE)[0]
    return metric in plot.LAST_EPISODE_COLUMNS or metric in row


def selection_curves(run_dirs: list[Path], metric: str) -> tuple[dict, str]:
    """The curves that choose each method's learning rate, and what they are: the deterministic
    evaluation on the train split, whose mean over training the authors rank rates by (their
    "Meta-Episode Return", H metalearner.py:409-443, the default tag of visualize_runs.py:500),
    else (no evaluation during training) the training metric's curve."""
    from hyperjax import plot

    if evaluated_metric(run_dirs, metric, "train"):
        return plot.eval_curves(run_dirs, "train", metric)[0], f"train-split evaluation {metric}"
    return plot.load_scores(run_dirs, metric)[0], f"training {metric}"


def write_report(
    run_dirs: list[Path],
    out: Path,
    metric: str = "trial_return",
    last_chunks: int = 3,
    lr_choice: str = "auto",
    csv_files: bool = True,
) -> tuple[Path, str]:
    """Curves (<out>.png/.svg), final-result tables and which method beats which, for the paper's
    claims that ran; returns the figure's path and the Markdown. The headline is the
    deterministic evaluation on held-out tasks when the runs were evaluated during training
    (each run's mean over its evaluation curve, the authors' score; then its last evaluation),
    with the training metric second (<out>_train.png); otherwise the training metric, with a
    note. `csv_files` also writes each table as <out>[_set].csv and <out>_compare[_set].csv."""
    from hyperjax import compare, plot

    split = plot.HEADLINE_SPLIT
    sets: dict[str, tuple[str, dict]] = {}  # file suffix -> (title, {method: score per seed})
    notes = []
    training = f"training {metric}, mean of each run's last {last_chunks} chunks"
    if evaluated_metric(run_dirs, metric, split):
        curves, _ = plot.eval_curves(run_dirs, split, metric)
        figure = plot.plot_curves(run_dirs, out, metric, split=split)
        plot.plot_curves(run_dirs, out.with_name(f"{out.name}_train"), metric)
        evaluation = f"deterministic evaluation on {split}-split tasks, {metric}"
        sets[""] = (f"{evaluation}: mean over the evaluation curve", plot.curve_means(curves))
        sets["_eval_final"] = (
            f"{evaluation}: last evaluation",
            {m: c[:, -1] for m, c in curves.items()},
        )
        sets["_train"] = (training, plot.final_scores(run_dirs, metric, last_chunks))
    else:
        figure = plot.plot_curves(run_dirs, out, metric)
        sets[""] = (training, plot.final_scores(run_dirs, metric, last_chunks))
        if metric in ("trial_return", *plot.LAST_EPISODE_COLUMNS):
            notes.append(
                f"Note: no evaluation during training on {split} tasks in every run folder "
                "(hyperjax sweep --eval-every N), so curves and tables are the training metric."
            )
    selection, chosen_by = selection_curves(run_dirs, metric)
    lines = [*notes, *([""] if notes else [])]
    for key, (title, finals) in sets.items():
        results = plot.summarise_finals(finals)
        lines += [f"### {title}", "", plot.results_markdown(results, metric), ""]
        if csv_files:
            plot.write_results_csv(results, out.with_name(f"{out.name}{key}.csv"))
    finals = {key: scores for key, (_, scores) in sets.items()}
    for key, rows in compare.claim_comparisons(finals, selection, lr_choice).items():
        title = sets[key.removesuffix("_best_lr")][0]
        if key.endswith("_best_lr"):
            title += f"; rates chosen by the highest mean over the {chosen_by} curve"
        best = " (each method at its best learning rate)" if key.endswith("_best_lr") else ""
        lines += [f"Which method beats which{best}, on {title}:", ""]
        lines += [compare.comparisons_markdown(rows), ""]
        if csv_files:
            plot.write_results_csv(rows, out.with_name(f"{out.name}_compare{key}.csv"))
    for note in notes:
        print(note)
    return figure, "\n".join(lines).rstrip()


def _write_diagnostics(run_dirs: list[Path], out: Path, layer: str = "hidden") -> None:
    """The diagnostics figure and its first/last table (<out>.png/.svg/.md); prints the table."""
    from hyperjax import plot_diagnostics

    table = plot_diagnostics.diagnostics_markdown(run_dirs, layer)  # checks the layer first
    figure = plot_diagnostics.plot_diagnostics(run_dirs, out, layer)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"diagnostics: {figure} (and .svg); table: {out.with_suffix('.md')}")


def check_output_path(field: str, out: Path) -> None:
    """Raise ConfigError unless files `out`.* can be written: its folder exists or can be made
    (no file in the way) and is writable. Run before any computation."""
    folder = out.absolute().parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{field}: {existing} is a file, not a directory")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{field}: {existing} is not writable")


def _inspect(argv: list[str]) -> None:
    from hyperjax import diagnostics, plot

    experiment, variant, rest = _split_experiment_args(argv)
    default = InspectCommand()
    if experiment is not None:
        spec = load_experiment(experiment, variant)
        default = InspectCommand(train=spec.train, inits=spec.inits)
    elif variant is not None:
        raise ConfigError("variant: needs --experiment")
    command = tyro.cli(InspectCommand, default=default, args=rest, prog="hyperjax inspect")
    train = _with_size(_with_shortcuts_of(command.train, command.env, command.algo), command.size)
    check_output_path("out", command.out)
    envs.make(train.env, **train.env_overrides())  # env options, before anything compiles
    rows = diagnostics.inspect_inits(
        train, command.inits, jax.random.key(command.seed), command.num_envs, command.num_steps
    )
    table = diagnostics.rows_markdown(rows)
    command.out.parent.mkdir(parents=True, exist_ok=True)
    command.out.with_suffix(".md").write_text(table + "\n")
    plot.write_results_csv(rows, command.out.with_suffix(".csv"))
    print(table)
    print(f"table: {command.out.with_suffix('.md')} and .csv")


def _demo(argv: list[str]) -> None:
    command = tyro.cli(SweepCommand, default=DEMO, args=argv, prog="hyperjax demo")
    execute_sweep(command)


COMMANDS = {
    "train": _train,
    "sweep": _sweep,
    "resume": _resume,
    "eval": _eval,
    "demo": _demo,
    "plot": _plot,
    "inspect": _inspect,
}


HOST_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


DEFAULT_JOIN_TIMEOUT = 300  # seconds a process waits for the others (jax's own default)


def join_hosts_from_env(environ: dict[str, str] = os.environ) -> None:
    """Join a multi-host sweep when JAX_COORDINATOR_ADDRESS (host:port of process 0),
    JAX_NUM_PROCESSES and JAX_PROCESS_ID are set: the same command on every host then runs one
    sweep over all hosts' devices. Nothing happens when none is set."""
    given = {name: environ.get(name) for name in HOST_VARIABLES}
    if not any(given.values()):
        return
    if not all(given.values()):
        missing = ", ".join(name for name, value in given.items() if not value)
        raise ConfigError(f"{missing}: a multi-host sweep needs all of {', '.join(HOST_VARIABLES)}")
    try:
        num_processes, process_id = int(given["JAX_NUM_PROCESSES"]), int(given["JAX_PROCESS_ID"])
    except ValueError:
        raise ConfigError("JAX_NUM_PROCESSES, JAX_PROCESS_ID: must be integers") from None
    if not 0 <= process_id < num_processes:
        raise ConfigError(
            f"JAX_PROCESS_ID: must be in 0..{num_processes - 1} (JAX_NUM_PROCESSES), "
            f"got {process_id}"
        )
    address = given["JAX_COORDINATOR_ADDRESS"]
    try:
        timeout = int(environ.get("HYPERJAX_JOIN_TIMEOUT", DEFAULT_JOIN_TIMEOUT))
    except ValueError:
        raise ConfigError("HYPERJAX_JOIN_TIMEOUT: must be a whole number of seconds") from None
    check_positive("HYPERJAX_JOIN_TIMEOUT", timeout)
    print(
        f"joining process {process_id} of {num_processes} at {address} "
        f"(waiting up to {timeout} s; HYPERJAX_JOIN_TIMEOUT)",
        file=sys.stderr,
    )
    if process_id != 0:
        # jax aborts the whole process (a C++ fatal error) when the coordinator never answers;
        # knock on its port first, so that case is one line.
        wait_for_coordinator(address, timeout)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; GPUs use NCCL
    jax.distributed.initialize(address, num_processes, process_id, initialization_timeout=timeout)


def wait_for_coordinator(address: str, timeout: float) -> None:
    """Return once a TCP connection to `address` (host:port) opens; ConfigError after
    `timeout` seconds of refusals."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"JAX_COORDINATOR_ADDRESS: must be host:port, got {address!r}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"JAX_COORDINATOR_ADDRESS: no coordinator answered at {address} within "
                    f"{timeout} s ({error.strerror or error}); start process 0 first"
                ) from None
            time.sleep(0.5)


# Shortcut flags and the config fields they set: giving both would let one silently win.
SHORTCUTS = {"--env": "--train.env", "--algo": "--train.algo"}


def _check_no_flag_given_twice(argv: list[str]) -> None:
    """Raise ConfigError when a shortcut and its field are both given with different values
    (--env bandit --train.env grid-world): one would silently win."""
    values: dict[str, str | None] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            flag, sep, value = arg.partition("=")
            values[flag] = value if sep else (argv[i + 1] if i + 1 < len(argv) else None)
    for shortcut, field in SHORTCUTS.items():
        if shortcut in values and field in values and values[shortcut] != values[field]:
            raise ConfigError(
                f"{shortcut[2:]}: {shortcut} {values[shortcut]} and {field} {values[field]} "
                f"disagree; give one"
            )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        print(f"commands: {', '.join(COMMANDS)}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    try:
        _check_no_flag_given_twice(argv[1:])
        join_hosts_from_env()
        COMMANDS[argv[0]](argv[1:])
    except ConfigError as error:
        print(f"hyperjax: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
