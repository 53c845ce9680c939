"""Sweep scaling: N runs vmapped as one program against N separate runs.

For N in `--runs`: the grid-world RL2 hypernetwork (small sizes), N seeds of Bias-HyperInit as
one vmapped, jit-compiled program. Reported: compile seconds, device memory of the chunk program
(XLA's count: arguments + outputs - donated aliases + temporaries), median chunk seconds, total
frames/s, and the speed-up over running the N runs one after another, whose time is N times the
N = 1 chunk time measured in the same process. Prints a table, writes CSV.

    python benchmarks/sweep_scaling.py --runs 1 4 16 64
"""

from __future__ import annotations

import argparse
import dataclasses

from common import add_output_args, machine, print_table, time_chunks, write_csv

from hyperjax.config import EncoderConfig, PolicyConfig, PPOConfig, TrainConfig
from hyperjax.sweep import GroupProgram, plan_runs

CFG = TrainConfig(
    env="grid-world",
    algo="rl2",
    policy=PolicyConfig.sized("XS"),
    encoder=EncoderConfig(gru_dim=64),
    ppo=PPOConfig(num_envs=16, num_steps=60, epochs=2, minibatches=4),
)


def measure(
    num_runs: int, updates: int, repeats: int, num_envs: int = CFG.ppo.num_envs
) -> dict[str, float]:
    ppo = dataclasses.replace(CFG.ppo, num_envs=num_envs)
    cfg = CFG.replace(
        ppo=ppo, updates_per_chunk=updates, total_env_steps=num_envs * ppo.num_steps * updates
    )
    runs = plan_runs(["bias_hyperinit"], list(range(num_runs)), [cfg.ppo.lr])
    program = GroupProgram.build(cfg, "hypernet", runs)
    memory = program.memory_bytes()  # compiles the chunk program (kept for the run)
    seconds, compile_s = time_chunks(program, repeats)
    return {
        "runs": num_runs,
        "compile_s": compile_s,
        "memory_MB": memory / 2**20,
        "chunk_s": seconds,
        "frames_s": num_runs * cfg.steps_per_chunk / seconds,
    }


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--updates", type=int, default=2, help="PPO updates per timed chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--num-envs", type=int, default=CFG.ppo.num_envs, help="envs per run (multiple of 4)"
    )
    add_output_args(parser, "sweep_scaling")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    print(f"machine: {machine()}")
    sizes = sorted(set(args.runs) | {1})
    rows = []
    for n in sizes:  # printed as measured: the largest sweeps may outrun a time limit
        rows.append(measure(n, args.updates, args.repeats, args.num_envs))
        print(rows[-1], flush=True)
    single = rows[0]["chunk_s"]
    for row in rows:
        row["separate_s"] = row["runs"] * single  # N one-run programs, one after another
        row["speedup"] = row["separate_s"] / row["chunk_s"]
    print_table(
        rows, ["runs", "compile_s", "memory_MB", "chunk_s", "frames_s", "separate_s", "speedup"]
    )
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
