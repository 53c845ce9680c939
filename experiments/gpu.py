"""One GPU, ten minutes: the largest Table 1 cheetah-dir sweep that fits, chosen by measuring.

    python experiments/gpu.py                     # on one H100/H200: measure, then run
    python experiments/gpu.py --dry-run           # measure and print the plan only
    python experiments/gpu.py --variant quick --seconds 300 --dry-run   # try it on a CPU

1. Measure: compile the `gpu` variant's sweep (all seven inits x 3 seeds, the paper's
   settings and MuJoCo physics on MJX, 256 envs per run; see the variant's comment in
   experiments/table1/cheetah-dir.yaml) and time one training chunk after a warm-up chunk.
2. Budget: the frames per run, in whole chunks, that fit in what is left of `--seconds` after
   the measurement, the sweep's and the evaluation's compilations, the evaluation itself and a
   15% margin.
3. Run: `reproduce.py table1-cheetah-dir --variant gpu --total-env-steps N`, which trains,
   evaluates on fresh tasks and writes curves, tables and run.json (with the device) under
   experiments/results/gpu/table1-cheetah-dir/, as for the CPU variants.

The plan, with the measured throughput and the expected wall time of the paper's full budget
(7.5e7 frames per run, 7 inits x 3 seeds x 5 learning rates) on this device, goes to
`gpu_plan.json` next to the results. A persistent compilation cache shared by the measurement
and the run (`JAX_COMPILATION_CACHE_DIR`, default ~/.cache/hyperjax/jax) saves the second
compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/hyperjax/jax"))

import jax  # noqa: E402  (after the cache location is set)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import reproduce  # noqa: E402

EXPERIMENT = "table1-cheetah-dir"
PAPER_FRAMES, PAPER_RUNS = 75_000_000, 7 * 3 * 5
MARGIN = 0.85  # of the time left, to absorb chunk-to-chunk variation and host work


def measure(variant: str) -> dict:
    """Compile the variant's sweep and time one chunk after a warm-up chunk."""
    from hyperjax.experiment import load_experiment
    from hyperjax.sweep import build_programs, plan_runs

    spec = load_experiment(HERE / reproduce.EXPERIMENTS[EXPERIMENT].file, variant)
    cfg = spec.train
    runs = plan_runs(spec.inits, spec.seeds, spec.learning_rates)
    compile_s = chunk_s = 0.0
    for program in build_programs(cfg, runs):
        start = time.perf_counter()
        state = program.initial_state()
        chunk, _ = program.compile(state)
        compile_s += time.perf_counter() - start
        state, metrics = chunk(state)  # warm-up (VariBAD's buffer fills)
        jax.block_until_ready(metrics)
        start = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(metrics)
        chunk_s += time.perf_counter() - start
    frames_per_s = len(runs) * cfg.steps_per_chunk / chunk_s
    return {
        "runs": len(runs),
        "steps_per_chunk": cfg.steps_per_chunk,
        "trial_length": cfg.episode_length * cfg.episodes_per_trial,
        "compile_seconds": round(compile_s, 1),
        "chunk_seconds": round(chunk_s, 2),
        "frames_per_second": round(frames_per_s),
    }


def plan(measured: dict, seconds: float, elapsed: float, eval_trials: int) -> dict:
    """Frames per run (whole chunks) that fit the time left, and the full budget's wall time."""
    runs, chunk = measured["runs"], measured["steps_per_chunk"]
    eval_frames = 2 * eval_trials * measured["trial_length"] * runs  # train and test splits
    fixed = 2 * measured["compile_seconds"] + eval_frames / measured["frames_per_second"]
    left = max(0.0, seconds - elapsed - fixed) * MARGIN
    chunks = max(1, int(left * measured["frames_per_second"] / (runs * chunk)))
    paper_hours = PAPER_FRAMES * PAPER_RUNS / measured["frames_per_second"] / 3600
    return {
        "seconds": seconds,
        "measurement_seconds": round(elapsed, 1),
        "reserved_seconds": round(fixed, 1),
        "chunks": chunks,
        "frames_per_run": chunks * chunk,
        "expected_train_seconds": round(chunks * measured["chunk_seconds"], 1),
        # Aggregate throughput grows with the number of vmapped runs on a GPU, so 105 runs in
        # one program would go faster than this: an upper bound.
        "paper_full_budget_hours": round(paper_hours, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="gpu")
    parser.add_argument("--seconds", type=float, default=600.0, help="device time for it all")
    parser.add_argument("--dry-run", action="store_true", help="measure and plan, do not run")
    # The sweep goes to <runs-dir>/<variant>/table1-cheetah-dir (reproduce.py's layout).
    parser.add_argument("--runs-dir", type=Path, default=reproduce.REPO / "runs" / "reproduce")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    print(f"devices: {jax.devices()}", flush=True)
    measured = measure(args.variant)
    eval_trials = reproduce.EXPERIMENTS[EXPERIMENT].eval_trials
    budget = plan(measured, args.seconds, time.perf_counter() - start, eval_trials)
    record = {"variant": args.variant, "machine": reproduce.machine(), **measured, **budget}
    print(json.dumps(record, indent=2), flush=True)
    if args.dry_run:
        return
    reproduce.reproduce(
        EXPERIMENT, args.variant, args.runs_dir, args.results_dir,
        total_env_steps=budget["frames_per_run"],
    )  # fmt: skip
    record["total_seconds"] = round(time.perf_counter() - start, 1)
    out = args.results_dir / args.variant / EXPERIMENT / "gpu_plan.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
