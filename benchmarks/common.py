"""Shared benchmark helpers: the machine line, median timing of compiled calls, tables and CSV."""

from __future__ import annotations

import csv
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax

jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/hyperjax/jax"))

RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> str:
    device = jax.devices()[0]
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__}, {len(jax.devices())} x {device.platform}:{device.device_kind}"
    )


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


def write_csv(rows: list[dict], name: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.csv"
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
