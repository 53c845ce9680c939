"""Raw env throughput through the trial wrapper: steps/s with random actions.

For each env and batch size: one jit(scan(vmap(step))) of `--steps` steps, compiled once (its
compile seconds reported apart), then timed as the median over `--repeats` runs. Prints a table
and writes CSV to benchmarks/results/env_throughput.csv.

    python benchmarks/env_throughput.py --envs cheetah-dir ant-dir --batch-sizes 16 64
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import jax
from common import results_path  # also sets the compilation cache

import hyperjax.envs as envs  # noqa: E402  (after the cache is configured)

COLUMNS = ("env", "backend", "batch", "steps_per_s", "compile_s", "status", "cpus", "device")


def _random_actions(key: jax.Array, env: envs.TrialWrapper, shape: tuple[int, ...]) -> jax.Array:
    if getattr(env.env, "discrete", False):
        return jax.random.randint(key, shape, 0, env.action_size)
    return jax.random.uniform(key, (*shape, env.action_size), minval=-1.0, maxval=1.0)


def measure(name: str, batch: int, steps: int, repeats: int) -> dict[str, object]:
    """Steps/s (env steps, summed over the batch) and compile seconds for one env and batch."""
    env = envs.make(name)

    def run(key: jax.Array):
        reset_key, act_key = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(reset_key, batch))
        actions = _random_actions(act_key, env, (steps, batch))

        def body(s, a):
            s = jax.vmap(env.step)(s, a)
            return s, s.reward.sum()

        _, rewards = jax.lax.scan(body, state, actions)
        return rewards.sum()

    start = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1)))
        times.append(time.perf_counter() - start)
    return {
        "env": name,
        "backend": getattr(env.env, "backend", ""),
        "batch": batch,
        "steps_per_s": round(batch * steps / statistics.median(times)),
        "compile_s": round(compile_s, 1),
        "status": "ok",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(envs.names()), choices=envs.names())
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--steps", type=int, default=200, help="steps per timed scan")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=results_path("env_throughput"))
    args = parser.parse_args(argv)

    device = jax.devices()[0]
    print(f"machine: {os.cpu_count()} CPUs, jax {jax.__version__} on {device.platform} ({device})")
    print(f"{'env':14s} {'backend':12s} {'batch':>6s} {'steps/s':>10s} {'compile s':>10s}")
    rows = []
    for name in args.envs:
        for batch in args.batch_sizes:
            try:
                row = measure(name, batch, args.steps, args.repeats)
            except (ImportError, AttributeError) as err:  # an env not written yet
                row = dict(env=name, backend="", batch=batch, steps_per_s="", compile_s="")
                row["status"] = f"unavailable ({type(err).__name__})"
            row.update(cpus=os.cpu_count(), device=f"{device.platform}:{device.device_kind}")
            rows.append(row)
            print(
                f"{row['env']:14s} {row['backend']:12s} {row['batch']:>6d} "
                f"{row['steps_per_s']!s:>10s} {row['compile_s']!s:>10s}  {row['status']}",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
