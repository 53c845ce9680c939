"""Sweeps as one program: init schemes x seeds x learning rates.

Runs whose schemes share a policy kind have parameter pytrees of one structure, so their initial
parameters and PPO coefficients are stacked along a leading run axis and `jax.vmap(run_chunk)` is
compiled once for the whole group. (A sweep mixing kinds, e.g. `standard` beside hypernetwork
schemes, compiles once per kind.) The host only loops over chunks: it pulls a chunk's metrics,
writes them and moves on; the training state stays on the device, donated from chunk to chunk.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hyperjax.algos.ppo import PPOHParams
from hyperjax.checkpoint import SweepCheckpointer
from hyperjax.config import INIT_SCHEMES, TrainConfig, check_scheme, policy_kind_of
from hyperjax.diagnostics import scale_references, with_scale_ratios
from hyperjax.envs import compiler_options
from hyperjax.errors import ConfigError, check_positive
from hyperjax.evaluate import evaluation_rows, make_evaluate
from hyperjax.train import Trainer, make_train

EVAL_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Run:
    """One member of a sweep."""

    init: str
    seed: int
    lr: float

    @property
    def kind(self) -> str:
        return policy_kind_of(self.init)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.init}-seed{self.seed}-lr{self.lr:g}"


def plan_runs(inits: Sequence[str], seeds: Sequence[int], lrs: Sequence[float]) -> list[Run]:
    """The grid, validated before anything is compiled."""
    if not inits:
        raise ConfigError("inits: need at least one init scheme")
    if not seeds:
        raise ConfigError("seeds: need at least one seed")
    if not lrs:
        raise ConfigError("lrs: need at least one learning rate")
    for init in inits:
        policy_kind_of(init)  # raises with the allowed names
    for lr in lrs:
        check_positive("lrs", lr)
    for seed in seeds:  # a PRNG seed is a 32-bit integer
        if not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ConfigError(f"seeds: must be integers in [0, 2**31), got {seed!r}")
    runs = [Run(i, int(s), float(lr)) for i, s, lr in itertools.product(inits, seeds, lrs)]
    if len(set(runs)) != len(runs):
        raise ConfigError("inits/seeds/lrs: the grid has duplicate runs")
    return runs


def group_by_kind(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs grouped by policy kind, in the order kinds first appear."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.kind, []).append(run)
    return groups


def plan_groups(runs: Sequence[Run], max_runs: int | None = None) -> dict[str, list[Run]]:
    """Program groups: runs of one policy kind, at most `max_runs` per program (sequential
    programs of equal size share one compilation). Named by kind, `kind-i` when split."""
    if max_runs is not None:
        check_positive("max_runs_per_program", max_runs)
    groups: dict[str, list[Run]] = {}
    for kind, members in group_by_kind(runs).items():
        size = max_runs or len(members)
        parts = [members[i : i + size] for i in range(0, len(members), size)]
        for i, part in enumerate(parts):
            groups[kind if len(parts) == 1 else f"{kind}-{i}"] = part
    return groups


def available_memory_bytes() -> int:
    """Memory one device of this host offers: the accelerator's limit, or the host's RAM on CPU."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_one_run_fits(program: GroupProgram, available: float) -> None:
    """ConfigError when one run's training state alone (a lower bound of what its program
    needs) exceeds `available` bytes: no split can help then. Uses only the state's shapes."""
    shapes = program.state_shapes()
    per_run = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes)) / len(program.runs)
    if per_run <= available:
        return
    gib = 2**30
    buffer = ""
    vae = getattr(shapes, "vae", None)
    if vae is not None:
        trial_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(vae.buffer))
        buffer = f", {trial_bytes / len(program.runs) / gib:.1f} GiB of it the trial buffer"
    raise ConfigError(
        f"vae.buffer_trials, ppo.num_envs: one run's training state needs "
        f"{per_run / gib:.1f} GiB{buffer}, more than the {available / gib:.1f} GiB a device "
        f"offers (80%); lower them"
    )


def fit_to_memory(
    cfg: TrainConfig, programs: list[GroupProgram], budget: float = 0.8
) -> list[GroupProgram]:
    """Split any program that would need more than `budget` of a device's memory (XLA's count
    for its compiled chunk, per device) into sequential programs that fit. Programs that fit
    are returned as they are, their compilation kept for the run."""
    available = budget * available_memory_bytes()
    fitted = []
    for program in programs:
        members = program.runs
        check_one_run_fits(program, available)  # from the state's shapes, before compiling
        devices = len(run_sharding(len(members)).device_set)
        per_run = program.memory_bytes() / (len(members) / devices)  # a device holds len/devices
        limit = max(1, int(available // per_run)) * devices
        if limit >= len(members):
            fitted.append(program)
            continue
        parts = [members[i : i + limit] for i in range(0, len(members), limit)]
        print(
            f"{program.name}: {len(members)} runs need more memory than a device has; "
            f"{len(parts)} sequential programs of up to {limit} runs"
        )
        for i, part in enumerate(parts):
            fitted.append(GroupProgram.build(cfg, part[0].kind, part, f"{program.name}-{i}"))
    return fitted


def config_for_kind(cfg: TrainConfig, kind: str) -> TrainConfig:
    return cfg.replace(policy=cfg.policy.replace(kind=kind))


def run_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(parameter key, training key) of a seed. The same seed gives every scheme the same env
    and action randomness, so schemes are compared on common random numbers."""
    init_key, train_key = jax.random.split(jax.random.key(seed))
    return init_key, train_key


def stack(trees: Sequence) -> object:
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def initial_batch(trainer: Trainer, cfg: TrainConfig, runs: Sequence[Run]):
    """Stacked (train keys, initial params, hparams) for runs of one policy kind."""
    params, hparams, keys = [], [], []
    for run in runs:
        check_scheme(cfg.policy.kind, run.init)
        init_key, train_key = run_keys(run.seed)
        params.append(trainer.agent.init(init_key, run.init))
        hparams.append(PPOHParams.from_config(cfg.ppo, lr=run.lr))
        keys.append(train_key)
    return jnp.stack(keys), stack(params), stack(hparams)


@dataclass
class GroupProgram:
    """One policy kind's runs, compiled as one vmapped program."""

    cfg: TrainConfig
    runs: list[Run]
    trainer: Trainer
    init: Callable
    run_chunk: Callable
    name: str = ""  # the group's name in checkpoints and logs (its policy kind unless split)
    evaluators: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)  # scheme -> base-init RMS per layer
    _compiled: tuple | None = None  # (executable, seconds) from memory_bytes, reused by compile

    def evaluator(self, split: str, num_trials: int, episodes: int | None = None) -> Callable:
        """jit(vmap) of `make_evaluate` over the runs (one shared key: common random tasks)."""
        if (split, num_trials, episodes) not in self.evaluators:
            evaluate = make_evaluate(self.cfg, self.trainer, split, num_trials, episodes)
            self.evaluators[split, num_trials, episodes] = jax.jit(
                jax.vmap(evaluate, in_axes=(0, None)),
                compiler_options=compiler_options(self.cfg.env),
            )
        return self.evaluators[split, num_trials, episodes]

    @classmethod
    def build(
        cls, cfg: TrainConfig, kind: str, runs: list[Run], name: str | None = None
    ) -> GroupProgram:
        cfg = config_for_kind(cfg, kind)
        trainer = make_train(cfg)
        # Every leaf of the state and of the metrics has the run axis first: shard it. Runs
        # never exchange data, so XLA partitions the program with no communication at all.
        sharding = run_sharding(len(runs))
        options = compiler_options(cfg.env)
        return cls(
            cfg=cfg,
            runs=runs,
            name=name or kind,
            trainer=trainer,
            init=jax.jit(jax.vmap(trainer.init), out_shardings=sharding, compiler_options=options),
            # The state is donated: each chunk's output reuses the previous chunk's buffers.
            run_chunk=jax.jit(
                jax.vmap(trainer.run_chunk),
                donate_argnums=0,
                in_shardings=sharding,
                out_shardings=sharding,
                compiler_options=options,
            ),
        )

    def initial_state(self):
        keys, params, hparams = initial_batch(self.trainer, self.cfg, self.runs)
        return self.init(keys, params, hparams)

    def state_shapes(self):
        """The initial state's shapes, dtypes and shardings, without allocating it."""
        keys, params, hparams = initial_batch(self.trainer, self.cfg, self.runs)
        return jax.eval_shape(self.init, keys, params, hparams)

    def rows(self, metrics: dict, chunk: int) -> list[dict]:
        """One chunk's metrics (on the host) -> a row per run, with each generated layer's
        weight RMS turned into its scale ratio against the run's own base init."""
        rows = chunk_rows(self.runs, metrics, chunk, self.cfg, self.cfg.policy.kind)
        if not self.cfg.diagnostic_samples:
            return rows
        return [
            with_scale_ratios(row, self.scale_references(run.init))
            for row, run in zip(rows, self.runs, strict=True)
        ]

    def scale_references(self, scheme: str) -> dict[str, float]:
        if scheme not in self.references:
            self.references[scheme] = scale_references(self.trainer.agent, scheme)
        return self.references[scheme]

    def memory_bytes(self) -> int:
        """Bytes one chunk needs per device, XLA's count for the compiled program: arguments
        and outputs (less what the donated state aliases) and temporaries."""
        state = self.state_shapes()
        start = time.perf_counter()
        compiled = self.run_chunk.lower(state).compile()
        self._compiled = (compiled, time.perf_counter() - start)
        return compiled_memory_bytes(compiled)

    def compile(self, state) -> tuple[Callable, float]:
        """Ahead-of-time compile of one chunk; returns the executable and seconds taken."""
        if self._compiled is not None:  # compiled from the state's shapes by memory_bytes
            return self._compiled
        start = time.perf_counter()
        compiled = self.run_chunk.lower(state).compile()
        return compiled, time.perf_counter() - start


def compiled_memory_bytes(compiled: jax.stages.Compiled) -> int:
    """XLA's count of the bytes a compiled program needs per device: arguments and outputs
    (less what donated arguments alias) and temporaries."""
    stats = compiled.memory_analysis()
    return int(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )


def run_sharding(num_runs: int) -> NamedSharding:
    """The run axis split over as many devices (of all hosts) as evenly divide it.

    A sweep of 12 runs on 8 devices uses 6 of them (2 runs each) rather than pad with dummy
    runs; choose the grid size as a multiple of the device count to use them all.
    """
    devices = jax.devices()
    used = max(n for n in range(1, len(devices) + 1) if num_runs % n == 0)
    return NamedSharding(Mesh(np.array(devices[:used]), ("runs",)), PartitionSpec("runs"))


def to_host(tree):
    """Fetch a (possibly multi-host sharded) pytree to this host as NumPy arrays."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def chunk_rows(
    runs: Sequence[Run], metrics: dict, chunk: int, cfg: TrainConfig, kind: str
) -> list[dict]:
    """One chunk's metrics (leading run axis, on the host) -> one flat row per run."""
    rows = []
    for index, run in enumerate(runs):
        row = {
            "run": run.name,
            "policy": kind,
            "init": run.init,
            "seed": run.seed,
            "lr": run.lr,
            "chunk": chunk,
            "update": (chunk + 1) * cfg.updates_per_chunk,
            "env_steps": (chunk + 1) * cfg.steps_per_chunk,
        }
        for key, value in metrics.items():
            value = np.asarray(value[index])
            if value.ndim == 0:
                row[key] = float(value)
            else:  # per episode index within the trial
                for i, v in enumerate(value):
                    row[f"{key}_{i}"] = float(v)
        rows.append(row)
    return rows


def available_inits(kind: str | None = None) -> tuple[str, ...]:
    if kind is None:
        return tuple(s for schemes in INIT_SCHEMES.values() for s in schemes)
    return INIT_SCHEMES[kind]


@dataclass
class SweepResult:
    rows: list[dict]  # every chunk's metrics run in this call, one row per run
    states: dict[str, object]  # final training state per policy kind (leading run axis)
    compile_seconds: dict[str, float]
    train_seconds: float
    first_chunk: int = 0  # > 0 when resumed from a checkpoint

    @property
    def diverged(self) -> list[str]:
        """Names of the runs that went non-finite (their updates stopped)."""
        last = {row["run"]: row for row in self.rows}
        return [name for name, row in last.items() if row.get("diverged", 0.0) > 0]


def run_sweep(
    cfg: TrainConfig,
    runs: Sequence[Run],
    on_rows: Callable[[list[dict]], None] | None = None,
    progress: bool = True,
    checkpointer: SweepCheckpointer | None = None,
    spec: dict | None = None,
    resume: bool = False,
    resume_step: int | None = None,
    on_resumed: Callable[[int], None] | None = None,
    eval_every: int = 0,
    eval_trials: int = 64,
    eval_episodes: int | None = None,
    on_eval_rows: Callable[[list[dict]], None] | None = None,
    max_runs_per_program: int | None = None,
    evaluate_restored: bool = False,
) -> SweepResult:
    """Train every run: one compiled program per policy kind, the host looping over chunks.

    Each chunk steps every group once, hands the rows to `on_rows`, then saves a checkpoint
    (with `spec`, the sweep's description) if `checkpointer` is given. With `resume`, the
    newest intact checkpoint's states (or `resume_step`'s) replace the initial ones, `on_resumed`
    hears the step once they are restored, and training continues after it.
    With `eval_every` > 0, every that many chunks (and after the last) each run is evaluated on
    `eval_trials` fresh trials of both task splits, the rows going to `on_eval_rows`; with
    `evaluate_restored`, the resumed states are evaluated first, as their chunk's evaluation.
    Groups hold at most `max_runs_per_program` runs; with None, as many as fit in memory.
    """
    from tqdm.auto import tqdm

    if resume:  # grouped as the checkpoint was, whatever this machine's memory
        if resume_step is None:
            resume_step = checkpointer.intact_step(spec or {})
        programs = programs_of_checkpoint(
            cfg, runs, checkpointer, resume_step, max_runs_per_program
        )
    else:
        programs = build_programs(cfg, runs, max_runs_per_program)
    partition = {program.name: [run.name for run in program.runs] for program in programs}
    states, executables, compile_seconds = {}, {}, {}
    trains = not resume or resume_step < cfg.num_chunks
    for program in programs:
        kind = program.name
        start = time.perf_counter()
        # Mostly the init program's compilation. A resumed sweep needs only the shapes: its
        # states come from the checkpoint, and a fresh copy might not fit beside them.
        states[kind] = program.state_shapes() if resume else program.initial_state()
        init_seconds = time.perf_counter() - start
        if not trains:  # a finished sweep resumed for its last evaluation: nothing to compile
            continue
        executables[kind], chunk_compile_seconds = program.compile(states[kind])
        compile_seconds[kind] = init_seconds + chunk_compile_seconds
        print(f"{kind}: {len(program.runs)} runs compiled in {compile_seconds[kind]:.1f}s")

    first_chunk = 0
    if resume:
        first_chunk, states = checkpointer.restore(states, spec or {}, step=resume_step)
        print(f"resumed after chunk {first_chunk} of {cfg.num_chunks}")
        if on_resumed is not None:
            on_resumed(first_chunk)
        if evaluate_restored:  # killed after the checkpoint, before its chunk's evaluation
            rows = evaluate_groups(
                programs, states, eval_trials, first_chunk - 1, episodes=eval_episodes
            )
            if on_eval_rows is not None:
                on_eval_rows(rows)

    bar = tqdm(total=cfg.num_chunks, initial=first_chunk, unit="chunk", disable=not progress)
    rows, train_seconds = [], 0.0
    for chunk in range(first_chunk, cfg.num_chunks):
        start = time.perf_counter()
        chunk_metrics = []
        for program in programs:
            name = program.name
            states[name], metrics = executables[name](states[name])
            metrics = to_host(metrics)  # the chunk's only host sync per group
            chunk_metrics.extend(program.rows(metrics, chunk))
        seconds = time.perf_counter() - start
        train_seconds += seconds
        sps = len(runs) * cfg.steps_per_chunk / seconds
        for row in chunk_metrics:
            row.update(sps=sps, chunk_seconds=seconds)
        rows.extend(chunk_metrics)
        if on_rows is not None:
            on_rows(chunk_metrics)
        final = chunk + 1 == cfg.num_chunks
        # The checkpoint comes first: an evaluation that fails (a kill, or a machine that runs
        # out of memory compiling it) costs no training, and the resume evaluates the restored
        # states with the same tasks (`evaluate_restored`), so the rows come out the same.
        if checkpointer is not None:
            checkpointer.save(chunk + 1, states, spec or {}, final=final, programs=partition)
        if evaluation_due(chunk + 1, eval_every, cfg.num_chunks):
            eval_rows = evaluate_groups(
                programs, states, eval_trials, chunk, episodes=eval_episodes
            )
            if on_eval_rows is not None:
                on_eval_rows(eval_rows)
        returns = np.array([row["trial_return"] for row in chunk_metrics])
        finite = returns[np.isfinite(returns)]
        bar.set_postfix(
            sps=f"{sps:,.0f}",
            best=f"{finite.max():.2f}" if finite.size else "-",
            worst=f"{finite.min():.2f}" if finite.size else "-",
        )
        bar.update()
    bar.close()
    return SweepResult(rows, states, compile_seconds, train_seconds, first_chunk)


def evaluation_due(step: int, eval_every: int, num_chunks: int) -> bool:
    """Whether the sweep evaluates after `step` chunks: every `eval_every`, and after the last."""
    return bool(eval_every) and (step % eval_every == 0 or step == num_chunks)


def evaluate_groups(
    programs: Sequence[GroupProgram],
    states: dict[str, object],
    num_trials: int,
    chunk: int,
    splits: Sequence[str] = EVAL_SPLITS,
    episodes: int | None = None,
) -> list[dict]:
    """Every run of every group on `num_trials` fresh trials (of `episodes` episodes; None:
    training's) of each split: one row per run and split. The tasks depend on `chunk` only, so
    all runs and methods face the same ones."""
    key = jax.random.fold_in(jax.random.key(2022), chunk)
    rows = []
    for program in programs:
        for split in splits:
            metrics = program.evaluator(split, num_trials, episodes)(states[program.name], key)
            rows.extend(evaluation_rows(program.runs, to_host(metrics), split, chunk))
    return rows


def build_programs(
    cfg: TrainConfig, runs: Sequence[Run], max_runs_per_program: int | None = None
) -> list[GroupProgram]:
    """One program per group of runs (see `plan_groups`; with no limit, `fit_to_memory`)."""
    groups = plan_groups(runs, max_runs_per_program)
    programs = [GroupProgram.build(cfg, rs[0].kind, rs, name) for name, rs in groups.items()]
    return fit_to_memory(cfg, programs) if max_runs_per_program is None else programs


def restore_sweep(
    cfg: TrainConfig,
    runs: Sequence[Run],
    checkpointer: SweepCheckpointer,
    spec: dict,
    max_runs_per_program: int | None = None,
) -> tuple[int, list[GroupProgram], dict[str, object]]:
    """The programs of a sweep and its newest intact checkpointed states: (step, programs,
    states). Nothing is compiled: the checkpoint says how the runs were grouped."""
    step = checkpointer.intact_step(spec)
    programs = programs_of_checkpoint(cfg, runs, checkpointer, step, max_runs_per_program)
    like = {program.name: program.state_shapes() for program in programs}
    step, states = checkpointer.restore(like, spec, step=step)
    return step, programs, states


def programs_of_checkpoint(
    cfg: TrainConfig,
    runs: Sequence[Run],
    checkpointer: SweepCheckpointer,
    step: int,
    max_runs_per_program: int | None = None,
) -> list[GroupProgram]:
    """The programs that wrote checkpoint `step`, grouped as it records (not re-decided by
    `fit_to_memory`: that compiles every training program, and on a machine with other memory
    would group differently). Checkpoints from before groupings were recorded: `build_programs`."""
    partition = checkpointer.saved_programs(step)
    if partition is None:
        return build_programs(cfg, runs, max_runs_per_program)
    by_name = {run.name: run for run in runs}
    recorded = [n for names in partition.values() for n in names]
    groups = {name: [by_name.get(n) for n in names] for name, names in partition.items()}
    one_kind = all(
        rs and None not in rs and len({r.kind for r in rs}) == 1 for rs in groups.values()
    )
    if sorted(recorded) != sorted(by_name) or not one_kind:
        raise ConfigError(
            f"checkpoint: {checkpointer.step_dir(step)} groups runs {sorted(recorded)}, not this "
            f"sweep's {sorted(by_name)} once each in groups of one policy kind"
        )
    return [GroupProgram.build(cfg, rs[0].kind, rs, name) for name, rs in groups.items()]
