"""Smoke tests of benchmarks/: each script runs its smallest case once, in this process (the
scripts share compiled programs through the compilation cache: training_speed and sweep_scaling
build the same small grid-world RL2 run, env_throughput and training_speed the same env scan),
and writes a CSV with the expected columns and finite, positive figures. Three scripts are
checked here on stub measurements (arguments, configs, arithmetic, table and CSV) and run for
real only in `slow` tests: brax_peer and ppo_parity (Brax's trainer: minutes even at their
smallest) and diagnostics_overhead (its second program, without diagnostics, would add 15-20 s
of compile). Every command line of `make bench` and benchmarks/accelerator.sh is parsed by its
script's own parser, so a renamed flag fails here."""

from __future__ import annotations

import csv
import functools
import importlib
import math
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from hyperjax.nets.hyper import HYPER_IMPLS

ROOT = Path(__file__).parents[1]
BENCH = ROOT / "benchmarks"
# vs_reference needs the authors' checkout: `make bench-reference` (tests/test_vs_reference.py).
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in {"common", "vs_reference"})


@functools.cache
def script(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (the scripts import each other as top-level modules)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def check_csv(
    path: Path, positive: Sequence[str], finite: Sequence[str] = (), other: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The CSV's rows, after checking it has rows, the columns `positive` (finite and > 0),
    `finite` (finite, any sign) and `other`, and the machine line."""
    rows = read_csv(path)
    assert rows, f"{path} has no rows"
    missing = {*positive, *finite, *other, "machine"} - set(rows[0])
    assert not missing, f"{path} lacks columns {sorted(missing)}"
    for row in rows:
        for column in [*positive, *finite]:
            value = float(row[column])
            assert math.isfinite(value), (column, row)
            assert value > 0 or column not in positive, (column, row)
    return rows


def run_main(name: str, args: list[str], out_dir: Path) -> list[dict]:
    """`python benchmarks/<name>.py ARGS --out-dir OUT_DIR`, in this process; its rows."""
    return script(name).main([*args, "--out-dir", str(out_dir)])


def test_hypernet_layer(tmp_path):
    run_main("hypernet_layer", ["--sizes", "XS", "--batch", "4", "--repeats", "1"], tmp_path)
    check_csv(
        tmp_path / "hypernet_layer.csv",
        positive=[*(f"{impl}_ms" for impl in HYPER_IMPLS), "gflop", "factorised_gflops"]
        + ["matmul_gflops"],
        finite=["fraction_of_matmul"],  # rounded to 2 decimals: 0.00 is possible at batch 4
        other=["size", "batch"],
    )


def test_env_throughput(tmp_path):
    # The same scan as training_speed's env column below (grid-world, 4 envs, 60 steps).
    args = ["--envs", "grid-world", "--batch-sizes", "4", "--steps", "60", "--repeats", "1"]
    run_main("env_throughput", args, tmp_path)
    rows = read_csv(tmp_path / "env_throughput.csv")
    assert list(rows[0]) == list(script("env_throughput").COLUMNS)
    assert [r["status"] for r in rows] == ["ok"]
    assert float(rows[0]["steps_per_s"]) > 0 and float(rows[0]["compile_s"]) >= 0


# The small grid-world RL2 hypernetwork run, 4 envs, one update per chunk: one program for
# training_speed, sweep_scaling and diagnostics_overhead.
SMALL_RUN = ["--updates", "1", "--num-envs", "4"]


def test_training_speed(tmp_path):
    args = ["--cases", "grid-small-rl2", "--repeats", "1", *SMALL_RUN]
    run_main("training_speed", args, tmp_path)
    check_csv(
        tmp_path / "training_speed.csv",
        positive=["loop_frames_s", "env_steps_s", "loop/env", "compile_s", "envs", "epochs"],
        other=["case", "env", "algo", "init", "hyper_impl", "vae"],
    )


def test_training_speed_env_column_uses_the_runs_env(monkeypatch):
    """The env column times the env as the run makes it: its backend and trial shape."""
    training_speed = script("training_speed")
    calls = []

    def fake_measure(*args: object, **overrides: object) -> dict[str, object]:
        calls.append((args, overrides))
        return {"steps_per_s": 1}

    monkeypatch.setattr(training_speed, "env_steps_per_second", fake_measure)
    training_speed.env_speed(training_speed.PAPER_GRID, updates=2, repeats=3)
    cheetah = training_speed.CASES["cheetah-small-rl2"][0].replace(backend="generalized")
    training_speed.env_speed(cheetah, updates=1, repeats=1)
    assert calls == [
        (("grid-world", "default", 16, 120, 3), {"episode_length": 15, "episodes_per_trial": 4}),
        (("cheetah-dir", "generalized", 16, 200, 1), {}),
    ]


def test_sweep_scaling(tmp_path):
    run_main("sweep_scaling", ["--runs", "1", "--repeats", "1", *SMALL_RUN], tmp_path)
    check_csv(
        tmp_path / "sweep_scaling.csv",
        positive=["runs", "compile_s", "memory_MB", "chunk_s", "frames_s", "separate_s"]
        + ["speedup"],
    )


DIAGNOSTICS_ARGS = ["--cases", "grid-small-rl2", "--rounds", "1", *SMALL_RUN]


def check_diagnostics_csv(path: Path) -> list[dict[str, str]]:
    return check_csv(
        path,
        positive=["updates_per_chunk", "samples", "chunk_s_without", "chunk_s_with"]
        + ["frames_s_without"],
        finite=["overhead_%"],  # noise on one round can make it negative
        other=["case"],
    )


def test_diagnostics_overhead_table(tmp_path, monkeypatch):
    """Configs, pairing and table on stub chunk timers: with diagnostics 0.125 s, without 0.1 s.
    (Its timer compiles the same program as training_speed, without diagnostics: 15-20 s of
    compile that this test skips; the real run is slow, below.)"""
    diagnostics_overhead = script("diagnostics_overhead")
    configs = []

    def stub_timer(cfg, scheme: str):
        configs.append((cfg.diagnostic_samples, cfg.ppo.num_envs, cfg.updates_per_chunk, scheme))
        return lambda: 0.125 if cfg.diagnostic_samples else 0.1

    monkeypatch.setattr(diagnostics_overhead, "chunk_timer", stub_timer)
    run_main("diagnostics_overhead", DIAGNOSTICS_ARGS, tmp_path)
    (row,) = check_diagnostics_csv(tmp_path / "diagnostics_overhead.csv")
    assert configs == [(64, 4, 1, "bias_hyperinit"), (0, 4, 1, "bias_hyperinit")]
    assert float(row["overhead_%"]) == pytest.approx(25.0)
    assert float(row["frames_s_without"]) == pytest.approx(4 * 60 / 0.1)


@pytest.mark.slow
def test_diagnostics_overhead_runs(tmp_path):
    run_main("diagnostics_overhead", DIAGNOSTICS_ARGS, tmp_path)
    check_diagnostics_csv(tmp_path / "diagnostics_overhead.csv")


def test_varibad_update(tmp_path):
    args = ["--cases", "paper-grid-small-standard", "--buffer-trials", "64", "--repeats", "1"]
    run_main("varibad_update", args, tmp_path)
    check_csv(
        tmp_path / "varibad_update.csv",
        positive=["update_ms", "update_gflop", "update_gflop_s", "update_fraction_of_matmul"]
        + ["vae_updates_ms", "vae_update_gflop", "vae_fraction_of_matmul", "vae_peak_mib"]
        + ["encoder_fwd_bwd_ms", "reencode_ms", "frames_s", "vs_pytorch"],
        finite=["decode_and_adam_ms", "rest_ms"],  # differences of medians
        other=["case", "buffer_trials"],
    )


def test_brax_peer_table(tmp_path, monkeypatch):
    """Argument parsing, table and CSV on stub measurements (the real run is slow, below)."""
    brax_peer = script("brax_peer")
    monkeypatch.setattr(brax_peer, "ours", lambda envs, updates, repeats: 2000.0)
    monkeypatch.setattr(brax_peer, "brax_trainer", lambda envs, updates: 1000.0)
    run_main("brax_peer", ["--envs", "4", "--updates", "1", "--repeats", "1"], tmp_path)
    (row,) = check_csv(
        tmp_path / "brax_peer.csv", positive=["ours_frames_s", "brax_ppo_frames_s", "ours/brax"]
    )
    assert float(row["ours/brax"]) == 2.0 and row["envs"] == "4"


@pytest.mark.slow
def test_brax_peer_runs(tmp_path):
    run_main("brax_peer", ["--envs", "4", "--updates", "1", "--repeats", "1"], tmp_path)
    check_csv(
        tmp_path / "brax_peer.csv",
        positive=["ours_frames_s", "brax_ppo_frames_s", "ours/brax", "envs", "unroll"],
    )


def stub_curves(impl: str, seeds: list[int], frames: int, evals: int) -> list[dict]:
    step = frames // evals
    return [
        dict(impl=impl, seed=seed, frames=step * (i + 1), eval_return=100.0 * (i + 1) + seed)
        for seed in seeds
        for i in range(evals)
    ]


def test_ppo_parity_table(tmp_path, monkeypatch):
    """Argument parsing, curves CSV, figure and final-return table on stub learners, and the
    reuse of the other learner's curves from the last CSV."""
    ppo_parity = script("ppo_parity")
    monkeypatch.setattr(
        ppo_parity,
        "ours",
        lambda seeds, frames, evals, backend: stub_curves("hyperjax", seeds, frames, evals),
    )
    monkeypatch.setattr(
        ppo_parity,
        "brax_trainer",
        lambda seed, frames, evals, backend: stub_curves("brax", [seed], frames, evals),
    )
    frames = 2 * ppo_parity.frames_per_update()
    args = ["--frames", str(frames), "--evals", "2", "--seeds", "0", "1"]
    table = run_main("ppo_parity", args, tmp_path)
    rows = check_csv(
        tmp_path / "ppo_parity.csv", positive=["frames", "eval_return"], other=["impl", "seed"]
    )
    assert {r["impl"] for r in rows} == {"hyperjax", "brax"} and len(rows) == 8
    assert (tmp_path / "ppo_parity.png").stat().st_size > 0
    assert [(t["impl"], t["seeds"], t["mean"]) for t in table] == [
        ("hyperjax", 2, 200.5),
        ("brax", 2, 200.5),
    ]
    # Only Brax trained now: our curves come from the CSV just written.
    table = run_main("ppo_parity", [*args, "--impls", "brax"], tmp_path)
    assert [t["impl"] for t in table] == ["hyperjax", "brax"]
    assert len(read_csv(tmp_path / "ppo_parity.csv")) == 8


@pytest.mark.slow
def test_ppo_parity_runs(tmp_path):
    ppo_parity = script("ppo_parity")
    frames = ppo_parity.frames_per_update()
    args = ["--frames", str(frames), "--evals", "1", "--seeds", "0", "1"]
    run_main("ppo_parity", args, tmp_path)
    check_csv(tmp_path / "ppo_parity.csv", positive=["frames"], finite=["eval_return"])


def command_lines(text: str, pattern: str) -> list[list[str]]:
    """The (script, *args) of every line of `text` matching `pattern` (whose group 1 is the
    script's path), with backslash-continued lines joined."""
    text = text.replace("\\\n", " ")
    lines = [re.match(pattern, line) for line in text.splitlines()]
    return [shlex.split(m.group(1)) for m in lines if m]


def make_bench_lines() -> list[list[str]]:
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    return command_lines(target, r"\s+\$\(BIN\)/python benchmarks/(.*)")


def accelerator_lines() -> list[list[str]]:
    return command_lines((BENCH / "accelerator.sh").read_text(), r"step (.*)")


def check_parses(command: list[str]) -> None:
    name, *args = command
    assert name.endswith(".py") and Path(name).stem in SCRIPTS, command
    script(Path(name).stem).make_parser().parse_args(args)


def test_make_bench_runs_every_script_with_valid_flags():
    commands = make_bench_lines()
    assert sorted({Path(c[0]).stem for c in commands}) == SCRIPTS
    for command in commands:
        check_parses(command)


def test_accelerator_script_parses_and_its_flags_are_valid():
    subprocess.run(["bash", "-n", str(BENCH / "accelerator.sh")], check=True)
    commands = accelerator_lines()
    assert len(commands) >= 8
    for command in commands:
        check_parses(command)
