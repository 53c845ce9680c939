"""What the always-on policy diagnostics cost: training chunks with them (the default, 64
samples) against the same program without (`train.diagnostic_samples 0`), timed alternately in
one process so that both see the same machine state. Overhead = median over rounds of the
paired ratio (with / without) - 1. The diagnostics run once per chunk, so their share falls with
the updates per chunk: the product's default (10) and the worst case (1) are both measured.
Prints a table and writes benchmarks/results/diagnostics_overhead.csv (or to `--out-dir`).

    python benchmarks/diagnostics_overhead.py                       # XL grid-world VariBAD + HN
    python benchmarks/diagnostics_overhead.py --cases grid-small-rl2 --updates 10
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import jax
from common import add_output_args, machine, print_table, write_csv
from training_speed import CASES

from hyperjax.config import TrainConfig
from hyperjax.sweep import GroupProgram, plan_runs


def chunk_timer(cfg: TrainConfig, scheme: str):
    """A function timing one more chunk of a compiled one-run program."""
    runs = plan_runs([scheme], [0], [cfg.ppo.lr])
    program = GroupProgram.build(cfg, runs[0].kind, runs)
    state = program.initial_state()
    chunk, _ = program.compile(state)
    holder = {"state": chunk(state)[0]}  # warm-up (and VariBAD's buffer fills)

    def one_chunk() -> float:
        start = time.perf_counter()
        holder["state"], metrics = chunk(holder["state"])
        jax.block_until_ready(metrics)
        return time.perf_counter() - start

    return one_chunk


def measure(
    name: str, updates: int, rounds: int, samples: int, num_envs: int | None = None
) -> dict[str, object]:
    cfg, scheme = CASES[name]
    ppo = dataclasses.replace(cfg.ppo, num_envs=num_envs or cfg.ppo.num_envs)
    cfg = cfg.replace(
        ppo=ppo,
        updates_per_chunk=updates,
        total_env_steps=ppo.num_envs * ppo.num_steps * updates,
        # As training_speed.py: VariBAD updates from the first chunk on.
        vae=dataclasses.replace(cfg.vae, buffer_trials=1000, precollect_steps=0),
    )
    with_diag = chunk_timer(cfg.replace(diagnostic_samples=samples), scheme)
    without = chunk_timer(cfg.replace(diagnostic_samples=0), scheme)
    on, off = [], []
    for _ in range(rounds):  # alternate, so that drifts of the machine hit both alike
        off.append(without())
        on.append(with_diag())
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    return {
        "case": name,
        "updates_per_chunk": updates,
        "samples": samples,
        "chunk_s_without": statistics.median(off),
        "chunk_s_with": statistics.median(on),
        "overhead_%": 100 * (statistics.median(ratios) - 1),
        "frames_s_without": cfg.steps_per_chunk / statistics.median(off),
    }


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["grid-xl-varibad"], choices=list(CASES))
    parser.add_argument("--updates", nargs="+", type=int, default=[10, 1])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--samples", type=int, default=TrainConfig().diagnostic_samples)
    parser.add_argument("--num-envs", type=int, help="override every case's envs (default: 16)")
    add_output_args(parser, "diagnostics_overhead")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    print(f"machine: {machine()}")
    rows = [
        measure(name, updates, args.rounds, args.samples, args.num_envs)
        for name in args.cases
        for updates in args.updates
    ]
    print_table(rows, list(rows[0]))
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
