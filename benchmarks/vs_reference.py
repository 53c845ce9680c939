"""Training speed against the authors' PyTorch code (jacooba/hyper), both measured in one sitting.

For each paper grid-world case (training_speed.py's `paper-grid-*`), runs the authors' training
(their unmodified `main.main` under benchmarks/reference/time_main.py, which times each training
iteration, in their own Python environment) and ours (`training_speed.measure_case`, our VAE
doing the reference's work), alternating the two programs case by case for `--rounds` rounds
(which one goes first flips each round). Prints the median frames/s of each side, the ratio of the
medians, and the 1-minute load average before each measurement; writes
benchmarks/results/vs_reference.csv. Evaluation, visualisation, logging and saving are outside
the timed window on both sides. Only a ratio from one sitting means anything: both sides'
absolute figures move by up to 2x between days on the same machine. The load average lags by
about a minute, so it includes the previous measurement (the authors' code runs 16 env
processes: 2-4 on 2 cores); only a figure above that says something else was running.

Their code is not copied into this repo: it is copied to a temporary folder, where the one-line
fixes in `REF_PATCHES` are applied by exact string replacement.

    make bench-reference REF=/path/to/hyper         # builds .venv-ref first
    python benchmarks/vs_reference.py --make-venv .venv-ref
    python benchmarks/vs_reference.py --ref /path/to/hyper --ref-python .venv-ref/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import add_output_args, machine, print_table, write_csv
from training_speed import CASES, measure_case

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TIMER = HERE / "reference" / "time_main.py"
REQUIREMENTS = HERE / "reference" / "requirements.txt"
DEFAULT_REF_PYTHON = REPO / ".venv-ref" / "bin" / "python"
REF_URL = "https://github.com/jacooba/hyper"


@dataclasses.dataclass(frozen=True)
class Patch:
    """Replace the line `old` of `path` (relative to their checkout) by `new`."""

    path: str
    old: str
    new: str


# numpy 1.24 removed the alias `np.bool`: their DummyVecEnv, the single-env vector that their
# visualisation builds at iteration 0, raises on it (their code catches and skips the plot).
REF_PATCHES = (
    Patch(
        "environments/env_utils/vec_env/dummy_vec_env.py",
        "self.buf_dones = np.zeros((self.num_envs,), dtype=np.bool)",
        "self.buf_dones = np.zeros((self.num_envs,), dtype=bool)",
    ),
)
# Files that say a folder is the authors' checkout (and that the timer imports).
REF_FILES = (
    "main.py",
    "metalearner.py",
    "algorithms/online_storage.py",
    "config/gridworld/args_grid_varibad.py",
)

# Their command line for each case. config/gridworld/args_grid_varibad.py's defaults are the small
# cases; the XL cases add the grid run's shared arguments (experiment_sets/all_envs.py:22-35) with
# the XL policy (experiment_sets/models.py:393,558-559). Hypernetwork: Bias-HyperInit
# (models.py:536), one generated layer per hidden layer and the head. Their evaluation,
# visualisation, logging and saving run when `iter_idx % interval == 0`: at iteration 0 only,
# before the timed iterations, with these intervals.
NEVER = str(10**9)
REF_COMMON = [
    *("--env-type", "gridworld_varibad", "--env_name", "GridNavi-v0"),
    *("--hypernet_input", "latent", "--init_hyper_for_policy", "True"),
    *(x for k in ("eval", "vis", "log", "save") for x in (f"--{k}_interval", NEVER)),
]
REF_XL = [
    *("--policy_layers", "256", "128", "--policy_state_embedding_dim", "256"),
    *("--policy_latent_embedding_dim", "25", "--policy_task_embedding_dim", "25"),
    *("--encoder_gru_hidden_size", "256", "--tbptt_stepsize", "None"),
]


def ref_hypernet(layers: int) -> list[str]:
    """Their Bias-HyperInit hypernetwork flags for a policy with `layers` hidden layers."""
    generated = ["1"] * (layers + 1)
    return [
        *("--use_hypernet", "True", "--hypernet_head_bias", "True"),
        *("--init_adjust_weights", "False", "--init_adjust_bias", "True"),
        *("--policy_layers_hyper", *generated),
    ]


REF_FLAGS: dict[str, list[str]] = {
    "paper-grid-xl-hn": [*REF_COMMON, *REF_XL, *ref_hypernet(2)],
    "paper-grid-xl-standard": [*REF_COMMON, *REF_XL],
    "paper-grid-small-hn": [*REF_COMMON, *ref_hypernet(1)],
    "paper-grid-small-standard": REF_COMMON,
}
LABELS = {
    "paper-grid-xl-hn": "XL VariBAD + hypernetwork",
    "paper-grid-xl-standard": "XL VariBAD standard",
    "paper-grid-small-hn": "small default VariBAD + hypernetwork",
    "paper-grid-small-standard": "small default VariBAD standard",
}
assert set(REF_FLAGS) <= set(CASES)


class SetupError(Exception):
    """A missing or wrong --ref / --ref-python: reported as one line."""


def check_ref(ref: Path | None) -> Path:
    """`ref` resolved, if it looks like a checkout of the authors' code."""
    if ref is None:
        raise SetupError(f"--ref is required: a checkout of {REF_URL} (git clone {REF_URL})")
    missing = [f for f in REF_FILES if not (ref / f).is_file()]
    if missing:
        raise SetupError(f"--ref {ref} is not a checkout of {REF_URL}: it has no {missing[0]}")
    return ref.resolve()


def check_ref_python(python: Path) -> str:
    """The versions of torch, gym and numpy in `python`'s environment, as one line."""
    if not Path(python).exists():
        raise SetupError(f"--ref-python {python} does not exist (create it: --make-venv)")
    code = "import torch, gym, numpy; print(torch.__version__, gym.__version__, numpy.__version__)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SetupError(f"--ref-python {python} lacks torch/gym/numpy ({last}); see --make-venv")
    torch, gym, numpy = done.stdout.split()
    return f"torch {torch}, gym {gym}, numpy {numpy}"


def apply_patches(root: Path, patches: tuple[Patch, ...] = REF_PATCHES) -> None:
    """Apply `patches` to the tree at `root`; each old line must occur exactly once (or the fix
    be there already), else SetupError."""
    for patch in patches:
        path = root / patch.path
        text = path.read_text() if path.is_file() else ""
        if text.count(patch.old) == 1:
            path.write_text(text.replace(patch.old, patch.new))
        elif patch.old not in text and patch.new not in text:
            raise SetupError(f"{patch.path}: expected line not found: {patch.old!r}")
        elif patch.old in text:
            raise SetupError(f"{patch.path}: line found more than once: {patch.old!r}")


def prepare_ref(ref: Path, scratch: Path) -> Path:
    """A patched copy of their checkout `ref` under `scratch`; its path."""
    copy = scratch / "hyper"
    shutil.copytree(ref, copy, ignore=shutil.ignore_patterns(".git"))
    apply_patches(copy)
    return copy


def run_reference(case: str, ref_copy: Path, python: Path, warmup: int, updates: int) -> float:
    """Steady frames/s of their training on `case`: frames per iteration over the median
    seconds of `updates` training iterations, after `warmup` (and their pre-collection)."""
    out, log = ref_copy / f"{case}.json", ref_copy / f"{case}.log"
    logs = ["--results_log_dir", str(ref_copy / "logs")]
    # Their code runs in its copy's folder: a relative --ref-python must not be read from there.
    # absolute(), not resolve(): resolving a venv's python symlink would leave the venv.
    command = [str(Path(python).absolute()), str(TIMER), str(out), str(warmup), str(updates)]
    with log.open("w") as f:
        done = subprocess.run(
            [*command, *REF_FLAGS[case], *logs], cwd=ref_copy, stdout=f, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise RuntimeError(f"the authors' code failed on {case} (log {log}):\n{tail}")
    result = json.loads(out.read_text())
    return result["frames_per_iteration"] / statistics.median(result["seconds"])


def measure(program: str, case: str, args: argparse.Namespace, ref_copy: Path) -> float:
    """Frames/s of one program ("authors" or "ours") on `case`."""
    if program == "authors":
        return run_reference(case, ref_copy, args.ref_python, args.ref_warmup, args.ref_updates)
    return float(measure_case(case, args.updates, args.repeats, vae="reference")["loop_frames_s"])


def summarise(measurements: list[dict]) -> list[dict]:
    """One row per case from the measurements ({case, program, frames_s, load}): each side's
    median frames/s over the rounds, the ratio of the medians (ours / authors'), and each
    measurement's figure and prior load, in order."""
    rows = []
    for case in dict.fromkeys(m["case"] for m in measurements):
        row: dict[str, object] = {"case": case, "config": LABELS.get(case, case)}
        for program in ("authors", "ours"):
            mine = [m for m in measurements if m["case"] == case and m["program"] == program]
            row[f"{program}_frames_s"] = statistics.median(m["frames_s"] for m in mine)
            row[f"{program}_rounds"] = " ".join(f"{m['frames_s']:.0f}" for m in mine)
            row[f"{program}_load"] = " ".join(f"{m['load']:.2f}" for m in mine)
        row["ratio"] = row["ours_frames_s"] / row["authors_frames_s"]
        row["rounds"] = len(mine)
        rows.append(row)
    return rows


def make_ref_venv(venv: Path, python: str = "python3.11") -> None:
    """Create the authors' environment at `venv` with the pins of reference/requirements.txt."""
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, help=f"a checkout of {REF_URL}")
    parser.add_argument("--ref-python", type=Path, default=DEFAULT_REF_PYTHON)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(REF_FLAGS), choices=list(REF_FLAGS))
    parser.add_argument("--ref-warmup", type=int, default=3, help="their untimed updates")
    parser.add_argument("--ref-updates", type=int, default=20, help="their timed updates")
    parser.add_argument("--updates", type=int, default=5, help="our PPO updates per timed chunk")
    parser.add_argument("--repeats", type=int, default=5, help="our timed chunks")
    parser.add_argument("--make-venv", type=Path, help="only create the authors' environment here")
    parser.add_argument("--python", default="python3.11", help="the Python for --make-venv")
    add_output_args(parser, "vs_reference")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure both programs, print the table and write the CSV; returns the table's rows."""
    args = make_parser().parse_args(argv)
    if args.make_venv:
        make_ref_venv(args.make_venv, args.python)
        return []
    if min(args.rounds, args.ref_warmup, args.ref_updates, args.updates, args.repeats) < 1:
        raise SystemExit(
            "vs_reference: --rounds, --ref-warmup, --ref-updates, --updates, --repeats must be >= 1"
        )
    try:
        ref = check_ref(args.ref)
        versions = check_ref_python(args.ref_python)
    except SetupError as e:
        raise SystemExit(f"vs_reference: {e}") from None
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sitting = f"{date}; {args.rounds} round(s); machine: {machine()}; authors' code: {versions}"
    print(sitting)
    measurements = []
    with tempfile.TemporaryDirectory(prefix="hyper-ref-") as scratch:
        try:
            ref_copy = prepare_ref(ref, Path(scratch))
        except SetupError as e:
            raise SystemExit(f"vs_reference: {e} (is --ref {ref} the authors' code?)") from None
        for round_ in range(args.rounds):
            programs = ("authors", "ours") if round_ % 2 == 0 else ("ours", "authors")
            for case in args.cases:
                for program in programs:
                    load, start = os.getloadavg()[0], time.perf_counter()
                    frames_s = measure(program, case, args, ref_copy)
                    measurements.append(
                        {"case": case, "program": program, "frames_s": frames_s, "load": load}
                    )
                    took = time.perf_counter() - start
                    print(
                        f"round {round_ + 1} {case} {program}: {frames_s:,.0f} frames/s "
                        f"(load before {load:.2f}; {took:.0f} s)",
                        flush=True,
                    )
    rows = summarise(measurements)
    columns = ["config", "authors_frames_s", "ours_frames_s", "ratio"]
    print_table(rows, [*columns, "authors_load", "ours_load"])
    print(f"frames/s: medians over rounds; ratio: ours / authors'; {sitting}")
    for row in rows:
        row.update(date=date, authors_env=versions)
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
