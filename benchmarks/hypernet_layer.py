"""Hypernetwork policy compute: each generated-layer implementation, against a plain matmul.

For each base size (the paper's XS..XL presets) and batch: forward + backward of the whole
hypernetwork actor-critic (value and log-prob loss, gradient w.r.t. every head) with each
generated-layer implementation (`hyperjax.nets.hyper.HYPER_IMPLS`), timed as the median of
`--repeats` calls of one compiled program. FLOPs are XLA's own count (`lowered.cost_analysis()`,
before device-specific optimisation, so the same on every backend) of the factorised program;
all implementations compute the same function, so GFLOP/s are comparable as useful work per
second.
The reference is a plain (B, K) x (K, N) matmul sized to the same FLOPs, timed the same way: the
rate this device reaches on the simplest dense kernel. Prints a table and writes CSV.

    python benchmarks/hypernet_layer.py                      # XL, batch 1600 (issue default)
    python benchmarks/hypernet_layer.py --sizes XS S M L XL --batch 1600
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from common import (  # also sets the compilation cache
    add_output_args,
    machine,
    print_table,
    write_csv,
)

from hyperjax.config import SIZE_PRESETS, PolicyConfig
from hyperjax.nets import distributions
from hyperjax.nets.hyper import HYPER_IMPLS
from hyperjax.nets.policy import init_policy_params, make_policy

OBS_DIM, Z_DIM, ACTION_DIM = 26, 10, 6  # cheetah-like observation, RL2/VariBAD latent 2 x 5


def time_compiled(fn, *args, repeats: int) -> float:
    """Median seconds of `repeats` calls, after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def policy_step(size: str, batch: int, impl: str):
    """A compiled forward+backward of the hypernet policy and its arguments."""
    state_dim, hidden = SIZE_PRESETS[size]
    cfg = PolicyConfig(kind="hypernet", state_embed_dim=state_dim, hidden=hidden)
    module = make_policy(cfg, ACTION_DIM, discrete=False, hyper_impl=impl)
    keys = jax.random.split(jax.random.key(0), 4)
    params = init_policy_params(cfg, "hfi", keys[0], OBS_DIM, Z_DIM, ACTION_DIM, False)
    obs = jax.random.normal(keys[1], (batch, OBS_DIM))
    z = jax.random.normal(keys[2], (batch, Z_DIM))
    actions = jax.random.normal(keys[3], (batch, ACTION_DIM))

    def loss(p):
        out = module.apply(p, obs, z)
        return jnp.mean(out.value**2) - jnp.mean(distributions.log_prob(out, actions, False))

    lowered = jax.jit(jax.grad(loss)).lower(params)
    return lowered.compile(), params, flops_of(lowered)


def flops_of(lowered: jax.stages.Lowered) -> float:
    """XLA's FLOP count of the program before device optimisation: the same on every backend
    (the compiled count on GPU leaves out the matmuls handed to cuBLAS)."""
    analysis = lowered.cost_analysis()
    if isinstance(analysis, list):  # older jax returns one dict per device
        analysis = analysis[0]
    return float(analysis["flops"])


def matmul_gflops(flops: float, batch: int, repeats: int) -> float:
    """GFLOP/s of a plain (batch, K) @ (K, 512) matmul with about `flops` FLOPs."""
    n = 512
    k = max(1, round(flops / (2 * batch * n)))
    a = jax.random.normal(jax.random.key(1), (batch, k))
    b = jax.random.normal(jax.random.key(2), (k, n))
    compiled = jax.jit(jnp.matmul).lower(a, b).compile()
    return 2 * batch * k * n / time_compiled(compiled, a, b, repeats=repeats) / 1e9


def measure(size: str, batch: int, repeats: int) -> dict[str, object]:
    row: dict[str, object] = {"size": size, "batch": batch}
    for impl in HYPER_IMPLS:  # factorised (the default) first
        compiled, params, program_flops = policy_step(size, batch, impl)
        seconds = time_compiled(compiled, params, repeats=repeats)
        if impl == "factorised":
            flops, fast_s = program_flops, seconds
        row[f"{impl}_ms"] = round(seconds * 1e3, 2)
    matmul = matmul_gflops(flops, batch, repeats)
    row.update(
        gflop=round(flops / 1e9, 3),
        factorised_gflops=round(flops / fast_s / 1e9, 1),
        matmul_gflops=round(matmul, 1),
        fraction_of_matmul=round(flops / fast_s / 1e9 / matmul, 2),
    )
    return row


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["XL"], choices=list(SIZE_PRESETS))
    parser.add_argument("--batch", type=int, default=1600, help="samples (envs x steps / mb)")
    parser.add_argument("--repeats", type=int, default=9)
    add_output_args(parser, "hypernet_layer")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    print(f"machine: {machine()}")
    rows = []
    for size in args.sizes:
        rows.append(measure(size, args.batch, args.repeats))
        print(rows[-1], flush=True)
    print_table(rows, list(rows[0]))
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
