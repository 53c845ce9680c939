"""Shared benchmark helpers: the machine line, median timing of compiled calls, tables and CSV."""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp

# Compiled programs are cached across runs (hyperjax.compile_cache, on at import) unless
# JAX_COMPILATION_CACHE_DIR names another place (an empty folder there measures cold compile
# times) or HYPERJAX_COMPILATION_CACHE=off.
import hyperjax  # noqa: E402, F401

# CSVs land here; HYPERJAX_BENCH_DIR redirects them (e.g. to a device machine's output folder).
RESULTS_DIR = Path(os.environ.get("HYPERJAX_BENCH_DIR", Path(__file__).parent / "results"))


def add_output_args(parser: argparse.ArgumentParser, csv_name: str) -> None:
    """`--out-dir` (default: RESULTS_DIR) and `--csv-name` (default: `csv_name`)."""
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=RESULTS_DIR,
        help="folder for the CSV (default: $HYPERJAX_BENCH_DIR or benchmarks/results)",
    )
    parser.add_argument("--csv-name", default=csv_name, help="CSV name (without .csv)")


def results_path(name: str, out_dir: Path | None = None) -> Path:
    """CSV path for benchmark `name` in `out_dir` (default RESULTS_DIR); off the CPU the
    platform is in the name (`x.gpu.csv`), so an accelerator's figures never overwrite the CPU
    ones."""
    platform_name = jax.devices()[0].platform
    suffix = "" if platform_name == "cpu" else f".{platform_name}"
    return (out_dir or RESULTS_DIR) / f"{name}{suffix}.csv"


def machine() -> str:
    device = jax.devices()[0]
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__}, {len(jax.devices())} x {device.platform}:{device.device_kind}"
    )


def patch_brax_replicate() -> None:
    """Put back `jax.device_put_replicated`, which Brax 0.14's PPO trainer still calls and
    jax 0.10 removed (for this process only)."""

    def replicate(tree, devices):
        stack = lambda a: jnp.broadcast_to(a, (len(devices), *jnp.shape(a)))  # noqa: E731
        return jax.device_put(jax.tree.map(stack, tree), devices[0])

    jax.device_put_replicated = replicate


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `repeats` calls of `fn` (blocking on its result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_chunks(program, repeats: int) -> tuple[float, float]:
    """(median seconds of one training chunk, compile seconds) of a `GroupProgram`, after a
    warm-up chunk; the state is threaded from chunk to chunk, as the product runs it."""
    state = program.initial_state()
    chunk, compile_s = program.compile(state)
    holder = {"state": chunk(state)[0]}  # warm-up (and VariBAD's buffer fills)

    def one_chunk():
        holder["state"], metrics = chunk(holder["state"])
        return metrics

    return median_seconds(one_chunk, repeats), compile_s


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).rjust(widths[c]) for c in columns), flush=True)


def write_csv(rows: list[dict], name: str, out_dir: Path | None = None) -> Path:
    """Write `rows` (and the machine line) to `results_path(name, out_dir)`; returns the path."""
    path = results_path(name, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns + ["machine"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "machine": machine()})
    return path


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return "" if value is None else str(value)
