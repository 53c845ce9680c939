"""benchmarks/vs_reference.py without the authors' code or torch: the patching, the argument
checks, the iteration timer (benchmarks/reference/time_main.py) on a fake tree shaped like
theirs, their command lines against our paper cases, and the table's arithmetic and round order
on stub measurements."""

from __future__ import annotations

import csv
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def vs():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("vs_reference")


DUMMY_VEC_ENV = """class DummyVecEnv:
    def __init__(self):
        self.buf_dones = np.zeros((self.num_envs,), dtype=np.bool)
        self.buf_rews = np.zeros((self.num_envs,), dtype=np.float32)
"""

# A tree shaped like theirs for the timer: 2 pre-collection iterations (no update) and a slow
# first update, then fast updates; main.py records its flags and the last iteration it reached.
FAKE_TREE = {
    "algorithms/online_storage.py": "class OnlineStorage:\n    def after_update(self):\n"
    "        pass\n",
    "metalearner.py": """class Args:
    num_processes, policy_num_steps = 4, 6


class MetaLearner:
    args = Args()

    def update(self):
        pass
""",
    "main.py": """import os, sys, time
from algorithms.online_storage import OnlineStorage
from metalearner import MetaLearner


def main():
    open("argv.txt", "w").write(" ".join(sys.argv[1:]))
    learner, storage = MetaLearner(), OnlineStorage()
    for i in range(int(os.environ.get("FAKE_ITERATIONS", "50"))):
        time.sleep(0.2 if i < 3 else 0.01)
        if i >= 2:
            learner.update()
        open("reached.txt", "w").write(str(i))
        storage.after_update()
""",
    "config/gridworld/args_grid_varibad.py": "",
    "environments/env_utils/vec_env/dummy_vec_env.py": DUMMY_VEC_ENV,
}


def make_tree(root: Path, files: dict[str, str] = FAKE_TREE) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_patches_replace_the_line_once_and_accept_a_patched_tree(vs, tmp_path):
    make_tree(tmp_path)
    vs.apply_patches(tmp_path)
    text = (tmp_path / "environments/env_utils/vec_env/dummy_vec_env.py").read_text()
    assert "np.bool)" not in text and "dtype=bool)" in text
    assert text == DUMMY_VEC_ENV.replace("dtype=np.bool)", "dtype=bool)")
    vs.apply_patches(tmp_path)  # already fixed: left as it is
    assert (tmp_path / "environments/env_utils/vec_env/dummy_vec_env.py").read_text() == text


def test_patches_fail_clearly_on_a_missing_or_repeated_line(vs, tmp_path):
    make_tree(tmp_path, {"a.py": "x = 1\nx = 1\n", "b.py": "y = 2\n"})
    with pytest.raises(vs.SetupError, match=r"b.py: expected line not found: 'x = 1'"):
        vs.apply_patches(tmp_path, (vs.Patch("b.py", "x = 1", "x = 2"),))
    with pytest.raises(vs.SetupError, match=r"nope.py: expected line not found"):
        vs.apply_patches(tmp_path, (vs.Patch("nope.py", "x = 1", "x = 2"),))
    with pytest.raises(vs.SetupError, match=r"a.py: line found more than once"):
        vs.apply_patches(tmp_path, (vs.Patch("a.py", "x = 1", "x = 2"),))
    assert (tmp_path / "a.py").read_text() == "x = 1\nx = 1\n"


def test_the_checkout_and_the_python_are_checked(vs, tmp_path):
    with pytest.raises(vs.SetupError, match="--ref is required"):
        vs.check_ref(None)
    with pytest.raises(vs.SetupError, match="is not a checkout of .*jacooba/hyper.*main.py"):
        vs.check_ref(tmp_path)
    assert vs.check_ref(make_tree(tmp_path / "hyper")) == (tmp_path / "hyper").resolve()

    with pytest.raises(vs.SetupError, match="does not exist"):
        vs.check_ref_python(tmp_path / "missing")
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("#!/bin/sh\necho 2.13.0+cpu 0.17.2 1.26.4\n")
    bad.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'gym'\" >&2\nexit 1\n")
    for script in (good, bad):
        script.chmod(0o755)
    assert vs.check_ref_python(good) == "torch 2.13.0+cpu, gym 0.17.2, numpy 1.26.4"
    with pytest.raises(vs.SetupError, match="lacks torch/gym/numpy .*No module named 'gym'"):
        vs.check_ref_python(bad)


def test_main_fails_in_one_line_before_measuring(vs, tmp_path, monkeypatch):
    def heavy(*args, **kwargs):
        raise AssertionError("measured before the arguments were checked")

    monkeypatch.setattr(vs, "measure_case", heavy)
    monkeypatch.setattr(vs, "run_reference", heavy)
    ref = str(make_tree(tmp_path / "hyper"))
    cases = [
        ([], "--ref is required"),
        (["--ref", str(tmp_path / "nothing")], "is not a checkout"),
        (["--ref", ref, "--ref-python", str(tmp_path / "py")], "does not exist"),
        (["--ref", ref, "--rounds", "0"], "must be >= 1"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_:
            vs.main(argv)
        assert message in str(exit_.value.code) and "\n" not in str(exit_.value.code)


def test_timer_times_the_updates_after_warmup_and_stops_training(vs, tmp_path):
    tree = make_tree(tmp_path)
    out = tmp_path / "out.json"
    command = [sys.executable, str(vs.TIMER), str(out), "1", "3", "--seed", "5"]
    subprocess.run(command, cwd=tree, check=True)
    result = json.loads(out.read_text())
    assert result["frames_per_iteration"] == 24
    # Iterations 0-1 only collect, 2 is the warm-up update (0.2 s), 3-5 are timed; then it stops.
    assert len(result["seconds"]) == 3 and all(0.01 <= s < 0.15 for s in result["seconds"])
    assert (tree / "reached.txt").read_text() == "5"
    assert (tree / "argv.txt").read_text() == "--seed 5"


def test_timer_fails_when_training_ends_too_soon(vs, tmp_path):
    tree = make_tree(tmp_path)
    done = subprocess.run(
        [sys.executable, str(vs.TIMER), str(tmp_path / "out.json"), "1", "5"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "FAKE_ITERATIONS": "4"},
    )
    assert done.returncode != 0 and "ended after 2 of 6 updates" in done.stderr
    assert not (tmp_path / "out.json").exists()


def test_run_reference_passes_the_case_flags_and_reports_frames_per_second(
    vs, tmp_path, monkeypatch
):
    tree = make_tree(tmp_path / "hyper")
    monkeypatch.chdir(tmp_path)  # a relative python (`make bench-reference` passes .venv-ref/...)
    python = Path(os.path.relpath(sys.executable, tmp_path))
    frames_s = vs.run_reference("paper-grid-small-hn", tree, python, 1, 3)
    assert 24 / 0.15 < frames_s <= 24 / 0.01
    argv = (tree / "argv.txt").read_text()
    assert argv.startswith(" ".join(vs.REF_FLAGS["paper-grid-small-hn"]))
    assert argv.endswith(f"--results_log_dir {tree / 'logs'}")
    (tree / "main.py").write_text("def main():\n    raise ValueError('broken')\n")
    with pytest.raises(RuntimeError, match="(?s)failed on paper-grid-xl-hn.*ValueError: broken"):
        vs.run_reference("paper-grid-xl-hn", tree, Path(sys.executable), 1, 3)


def flag(flags: list[str], name: str, default: list[str]) -> list[str]:
    """The values after `name` in their command line, or `default` (their config's)."""
    if name not in flags:
        return default
    rest = flags[flags.index(name) + 1 :]
    return list(itertools.takewhile(lambda f: not f.startswith("--"), rest))


def test_their_command_lines_match_our_paper_cases(vs):
    # Defaults of their config/gridworld/args_grid_varibad.py:24-25,38,55,57,107.
    for case, flags in vs.REF_FLAGS.items():
        cfg, scheme = vs.CASES[case]
        hidden = tuple(int(n) for n in flag(flags, "--policy_layers", ["32"]))
        assert hidden == cfg.policy.hidden, case
        assert flag(flags, "--policy_state_embedding_dim", ["16"]) == [
            str(cfg.policy.state_embed_dim)
        ]
        assert flag(flags, "--policy_latent_embedding_dim", ["16"]) == [
            str(cfg.policy.task_embed_dim)
        ]
        assert flag(flags, "--encoder_gru_hidden_size", ["64"]) == [str(cfg.encoder.gru_dim)]
        assert (cfg.ppo.num_envs, cfg.ppo.num_steps) == (16, 60)  # their defaults too
        hypernet = flag(flags, "--use_hypernet", ["False"]) == ["True"]
        assert hypernet == (scheme == "bias_hyperinit"), case
        if hypernet:
            assert flag(flags, "--policy_layers_hyper", []) == ["1"] * (len(hidden) + 1)
            assert flag(flags, "--init_adjust_bias", []) == ["True"]
        for interval in ("eval", "vis", "log", "save"):
            assert int(flag(flags, f"--{interval}_interval", ["0"])[0]) >= 10**9


def test_summary_is_the_ratio_of_medians(vs):
    figures = {"authors": [100.0, 300.0, 200.0], "ours": [1000.0, 900.0, 5000.0]}
    measurements = [
        {"case": "paper-grid-xl-hn", "program": p, "frames_s": f, "load": 0.5 + r}
        for r in range(3)
        for p in ("authors", "ours")
        for f in [figures[p][r]]
    ]
    (row,) = vs.summarise(measurements)
    assert row["config"] == "XL VariBAD + hypernetwork" and row["rounds"] == 3
    assert (row["authors_frames_s"], row["ours_frames_s"]) == (200.0, 1000.0)
    assert row["ratio"] == 5.0  # the median of the per-round ratios would be 10
    assert row["authors_rounds"] == "100 300 200" and row["ours_rounds"] == "1000 900 5000"
    assert row["authors_load"] == row["ours_load"] == "0.50 1.50 2.50"


def test_main_alternates_the_programs_and_writes_the_table(vs, tmp_path, monkeypatch, capsys):
    calls = []

    def authors(case, ref_copy, python, warmup, updates):
        calls.append(("authors", case))
        return 100.0 + len(calls)

    def ours(case, updates, repeats, vae):
        assert vae == "reference"
        calls.append(("ours", case))
        return {"loop_frames_s": 1000.0}

    monkeypatch.setattr(vs, "check_ref_python", lambda python: "torch 2.13.0+cpu")
    monkeypatch.setattr(vs, "prepare_ref", lambda ref, scratch: scratch)
    monkeypatch.setattr(vs, "run_reference", authors)
    monkeypatch.setattr(vs, "measure_case", ours)
    ref = make_tree(tmp_path / "hyper")
    cases = ["paper-grid-small-hn", "paper-grid-xl-standard"]
    argv = ["--ref", str(ref), "--rounds", "2", "--cases", *cases, "--out-dir", str(tmp_path)]
    rows = vs.main(argv)
    small, xl = cases
    assert calls == [
        ("authors", small), ("ours", small), ("authors", xl), ("ours", xl),
        ("ours", small), ("authors", small), ("ours", xl), ("authors", xl),
    ]  # fmt: skip
    assert [r["case"] for r in rows] == cases
    assert rows[0]["authors_frames_s"] == statistics.median([101.0, 106.0])
    assert rows[1]["ratio"] == pytest.approx(1000.0 / statistics.median([103.0, 108.0]))
    out = capsys.readouterr().out
    assert "2 round(s)" in out and "torch 2.13.0+cpu" in out and "XL VariBAD standard" in out
    with (tmp_path / "vs_reference.csv").open() as f:
        written = list(csv.DictReader(f))
    assert [r["case"] for r in written] == cases and all(r["machine"] for r in written)
