"""Raw env throughput through the trial wrapper: steps/s with random actions.

For each env, physics backend and batch size: one jit(scan(vmap(step))) of `--steps` steps,
compiled once (its compile seconds reported apart), then timed as the median over `--repeats`
runs. Backends: `default` is the env's own default (a Brax pipeline for the physics tasks);
`mujoco` is the authors' gym MuJoCo model on MJX, where the env has one. Prints a table and
writes CSV to benchmarks/results/env_throughput.csv.

    python benchmarks/env_throughput.py --envs cheetah-dir ant-dir --backends default mujoco \
        --batch-sizes 16 64
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time

import jax
from common import add_output_args, results_path  # also sets the compilation cache

import hyperjax.envs as envs  # noqa: E402  (after the cache is configured)
from hyperjax.errors import ConfigError  # noqa: E402

COLUMNS = ("env", "backend", "batch", "steps_per_s", "compile_s", "status", "cpus", "device")


def _random_actions(
    key: jax.Array, env: envs.TrialWrapper | envs.Mixture, shape: tuple[int, ...]
) -> jax.Array:
    if env.discrete:
        return jax.random.randint(key, shape, 0, env.action_size)
    return jax.random.uniform(key, (*shape, env.action_size), minval=-1.0, maxval=1.0)


def measure(
    name: str, backend: str, batch: int, steps: int, repeats: int, **env_overrides: object
) -> dict[str, object]:
    """Steps/s (env steps, summed over the batch) and compile seconds for one env and batch.
    `backend` "default" keeps the env's own; `env_overrides` go to `envs.make` (e.g. the trial's
    `episode_length`, as a training config's `env_overrides()` gives them)."""
    if backend != "default":
        env_overrides["backend"] = backend
    env = envs.make(name, **env_overrides)

    def run(key: jax.Array):
        reset_key, act_key = jax.random.split(key)
        state = env.reset_batch(jax.random.split(reset_key, batch))
        actions = _random_actions(act_key, env, (steps, batch))

        def body(s, a):
            s = env.step_batch(s, a)
            return s, s.reward.sum()

        _, rewards = jax.lax.scan(body, state, actions)
        return rewards.sum()

    start = time.perf_counter()
    compiled = (
        jax.jit(run, compiler_options=envs.compiler_options(name))
        .lower(jax.random.PRNGKey(0))
        .compile()
    )
    compile_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1)))
        times.append(time.perf_counter() - start)
    return {
        "env": name,
        "backend": env.backend,
        "batch": batch,
        "steps_per_s": round(batch * steps / statistics.median(times)),
        "compile_s": round(compile_s, 1),
        "status": "ok",
    }


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(envs.names()), choices=envs.names())
    parser.add_argument("--backends", nargs="+", default=["default"], help="default, or a backend")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--steps", type=int, default=200, help="steps per timed scan")
    parser.add_argument("--repeats", type=int, default=3)
    add_output_args(parser, "env_throughput")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    device = jax.devices()[0]
    print(f"machine: {os.cpu_count()} CPUs, jax {jax.__version__} on {device.platform} ({device})")
    print(f"{'env':14s} {'backend':12s} {'batch':>6s} {'steps/s':>10s} {'compile s':>10s}")
    rows = []
    for name in args.envs:
        for backend in args.backends:
            for batch in args.batch_sizes:
                try:
                    row = measure(name, backend, batch, args.steps, args.repeats)
                except ConfigError as err:  # e.g. "mujoco" on a task without the authors' model
                    row = dict(env=name, backend=backend, batch=batch, steps_per_s="", compile_s="")
                    row["status"] = f"n/a: {err}".split(";")[0]
                row.update(cpus=os.cpu_count(), device=f"{device.platform}:{device.device_kind}")
                rows.append(row)
                print(
                    f"{row['env']:14s} {row['backend']:12s} {row['batch']:>6d} "
                    f"{row['steps_per_s']!s:>10s} {row['compile_s']!s:>10s}  {row['status']}",
                    flush=True,
                )
                if row["status"] != "ok":
                    break
    out = results_path(args.csv_name, args.out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
