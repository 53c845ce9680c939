"""Checkpoint and resume: a sweep killed with SIGKILL mid-run and resumed ends bit-identical to
one that ran straight through; broken or foreign checkpoints give one-line errors."""

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax import cli, sweep
from hyperjax.checkpoint import CHECKPOINT_DIR, SweepCheckpointer
from hyperjax.experiment import spec_from_dict
from hyperjax.runlog import RunDirectory
from hyperjax.sweep import GroupProgram, plan_runs

CHUNKS = 12
# VariBAD on the grid world (so trial buffers, both optimizers and normalisers are in the state),
# two policy kinds (two compiled groups), tiny nets, 12 short chunks, a checkpoint every chunk.
SWEEP = [
    "sweep", "--algo", "varibad", "--env", "grid-world",
    "--inits", "standard", "bias_hyperinit", "--seeds", "0", "1",
    "--train.total-env-steps", str(8 * 60 * 2 * CHUNKS),
    "--train.updates-per-chunk", "2",
    "--train.ppo.num-envs", "8", "--train.ppo.num-steps", "60", "--train.ppo.minibatches", "2",
    "--train.policy.state-embed-dim", "16", "--train.policy.hidden", "16",
    "--train.policy.task-embed-dim", "8", "--train.encoder.gru-dim", "16",
    "--train.vae.buffer-trials", "32", "--train.vae.precollect-steps", "0",
    "--train.vae.updates-per-ppo", "2",
    "--keep-checkpoints", "3", "--no-progress", "--no-plot",
    "--eval-every", "4", "--eval-trials", "4",  # evaluations after chunks 3, 7 and 11
]  # fmt: skip
TIMING_COLUMNS = ("sps", "chunk_seconds")


def metrics_rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def final_states(run_dir: Path) -> dict:
    """The latest checkpoint's states, restored through the library's own path."""
    from hyperjax.checkpoint import SweepCheckpointer

    config = RunDirectory(run_dir).read_config()
    spec = spec_from_dict(config["spec"])
    runs = plan_runs(spec.inits, spec.seeds, spec.learning_rates)
    like = {}
    for kind in ("standard", "hypernet"):
        group = [r for r in runs if r.kind == kind]
        like[kind] = GroupProgram.build(spec.train, kind, group).initial_state()
    checkpointer = SweepCheckpointer(run_dir)
    step, states = checkpointer.restore(like, config["spec"])
    checkpointer.close()
    assert step == CHUNKS
    return states


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("straight")
    assert cli.main([*SWEEP, "--name", "sweep", "--runs-dir", str(runs_dir)]) == 0
    return runs_dir / "sweep"


# A second process: 1 minute cold. In make test, test_killed_between_evaluation_and_checkpoint
# resumes in-process and compares with the uninterrupted run.
@pytest.mark.slow
def test_kill_9_then_resume_is_bit_identical(straight, tmp_path):
    run_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "hyperjax.cli", *SWEEP, "--name", "sweep"]
    command += ["--runs-dir", str(tmp_path)]
    # The child shares the persistent compilation cache, so it starts in seconds.
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint_3 = run_dir / CHECKPOINT_DIR / "3"
    deadline = time.monotonic() + 300
    while not checkpoint_3.is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-run, not finished
    done = sorted(int(p.name) for p in (run_dir / CHECKPOINT_DIR).iterdir() if p.name.isdigit())
    assert 3 <= max(done) < CHUNKS, done

    assert cli.main(["resume", str(run_dir), "--no-progress", "--no-plot"]) == 0

    assert metrics_rows(run_dir) == metrics_rows(straight)  # every chunk once, same values
    resumed, reference = final_states(run_dir), final_states(straight)
    for kind in reference:
        leaves_a = jax.tree.leaves(jax.tree.map(_raw, resumed[kind]))
        leaves_b = jax.tree.leaves(jax.tree.map(_raw, reference[kind]))
        for a, b in zip(leaves_a, leaves_b, strict=True):
            np.testing.assert_array_equal(a, b)


def _raw(x):
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def _broken_copy(straight: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "copy"
    shutil.copytree(straight, run_dir)
    return run_dir


def _files(run_dir: Path) -> dict[str, bytes]:
    """metrics.csv, eval.csv and config.json as bytes: what a refused resume must not touch."""
    names = ("metrics.csv", "eval.csv", "config.json")
    return {name: (run_dir / name).read_bytes() for name in names if (run_dir / name).exists()}


def _largest_file(step_dir: Path) -> Path:
    return max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _overwrite_middle(path: Path, count: int = 256) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes((b + 1) % 256 for b in data[middle : middle + count])
    path.write_bytes(bytes(data))


def _resume(run_dir: Path) -> int:
    return cli.main(["resume", str(run_dir), "--no-progress", "--no-plot"])


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: ") and "\n" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_corrupt_newest_checkpoint_falls_back_to_an_intact_one(straight, tmp_path, capsys):
    """256 bytes changed in the middle of the newest checkpoint's largest file: refused by its
    checksum, named, and the resume goes on from the checkpoint before it, to the same end."""
    run_dir = _broken_copy(straight, tmp_path)
    _overwrite_middle(_largest_file(run_dir / CHECKPOINT_DIR / str(CHUNKS)))
    assert _resume(run_dir) == 0
    err = capsys.readouterr().err
    assert f"checkpoint {run_dir / CHECKPOINT_DIR / str(CHUNKS)} is corrupt" in err, err
    assert f"using step {CHUNKS - 1}" in err, err
    assert metrics_rows(run_dir) == metrics_rows(straight)
    assert (run_dir / "eval.csv").read_text() == (straight / "eval.csv").read_text()
    assert (run_dir / "corrupt-checkpoints" / str(CHUNKS)).is_dir()  # kept, not deleted


@pytest.mark.parametrize("damage", ["bytes", "truncated"])
def test_no_intact_checkpoint_is_a_one_line_error_and_loses_nothing(
    straight, tmp_path, capsys, damage
):
    run_dir = _broken_copy(straight, tmp_path)
    for step_dir in (run_dir / CHECKPOINT_DIR).iterdir():
        largest = _largest_file(step_dir)
        if damage == "bytes":
            _overwrite_middle(largest)
        else:
            largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
    before = _files(run_dir)
    assert _resume(run_dir) == 2
    _one_line_error(capsys, "checkpoint: every checkpoint in", "is corrupt")
    assert _files(run_dir) == before  # nothing lost or rewritten


def test_checkpoint_of_another_config_is_refused_before_anything_changes(
    straight, tmp_path, capsys, monkeypatch
):
    """The issue's case: the config changed and the last checkpoint deleted. Refused before
    any compilation, with metrics.csv and eval.csv as they were."""
    run_dir = _broken_copy(straight, tmp_path)
    shutil.rmtree(run_dir / CHECKPOINT_DIR / str(CHUNKS))
    config_path = run_dir / "config.json"
    config_path.write_text(config_path.read_text().replace('"gru_dim": 16', '"gru_dim": 32'))
    before = _files(run_dir)
    monkeypatch.setattr(GroupProgram, "build", lambda *a, **k: pytest.fail("compiled"))
    assert _resume(run_dir) == 2
    _one_line_error(capsys, "belongs to another config", "gru_dim")
    assert _files(run_dir) == before


def test_resume_without_the_rows_before_the_checkpoint_is_refused(straight, tmp_path, capsys):
    run_dir = _broken_copy(straight, tmp_path)
    shutil.rmtree(run_dir / CHECKPOINT_DIR / str(CHUNKS))
    (run_dir / "metrics.csv").unlink()
    before = _files(run_dir)
    assert _resume(run_dir) == 2
    _one_line_error(capsys, "run_dir:", "lacks the rows of chunk 0")
    assert _files(run_dir) == before


def test_resume_of_a_finished_run_says_so_and_changes_nothing(
    straight, tmp_path, capsys, monkeypatch
):
    run_dir = _broken_copy(straight, tmp_path)
    before = _files(run_dir)
    monkeypatch.setattr(GroupProgram, "build", lambda *a, **k: pytest.fail("compiled"))
    assert _resume(run_dir) == 0
    assert f"is finished ({CHUNKS} of {CHUNKS} chunks)" in capsys.readouterr().out
    assert _files(run_dir) == before


def _eval_chunks(run_dir: Path) -> list[str]:
    return [row["chunk"] for row in csv.DictReader((run_dir / "eval.csv").open())]


def test_killed_during_an_evaluation_keeps_the_chunk_and_evaluates_it_on_resume(
    straight, tmp_path, monkeypatch
):
    """Killed while evaluating chunk 7 (the way the ML10 sweep died compiling its evaluation):
    its checkpoint is already saved, so the resume starts after chunk 7, evaluates the restored
    states first, and ends as the run that was never interrupted, every evaluation row once."""
    run_dir = tmp_path / "sweep"
    evaluate = sweep.evaluate_groups

    def killed_at_7(programs, states, trials, chunk, **kwargs):
        if chunk == 7:
            raise KeyboardInterrupt  # the process dies here
        return evaluate(programs, states, trials, chunk, **kwargs)

    monkeypatch.setattr(sweep, "evaluate_groups", killed_at_7)
    with pytest.raises(KeyboardInterrupt):
        cli.main([*SWEEP, "--name", "sweep", "--runs-dir", str(tmp_path)])
    monkeypatch.setattr(sweep, "evaluate_groups", evaluate)
    assert (run_dir / CHECKPOINT_DIR / "8").is_dir()  # chunk 7's training is kept
    assert set(_eval_chunks(run_dir)) == {"3"}
    assert _resume(run_dir) == 0
    assert metrics_rows(run_dir) == metrics_rows(straight)
    assert (run_dir / "eval.csv").read_text() == (straight / "eval.csv").read_text()


# Slow: a third sweep; make test's corrupt-checkpoint case also redoes a chunk and its evaluation.
@pytest.mark.slow
def test_killed_before_a_checkpoint_redoes_its_chunk(straight, tmp_path, monkeypatch):
    """Killed while saving checkpoint 8: the resume starts after chunk 6 and redoes chunk 7 and
    its evaluation, to the same end."""
    run_dir = tmp_path / "sweep"
    save = SweepCheckpointer.save

    def killed_at_8(self, step, *args, **kwargs):
        if step == 8:
            raise KeyboardInterrupt
        return save(self, step, *args, **kwargs)

    monkeypatch.setattr(SweepCheckpointer, "save", killed_at_8)
    with pytest.raises(KeyboardInterrupt):
        cli.main([*SWEEP, "--name", "sweep", "--runs-dir", str(tmp_path)])
    monkeypatch.setattr(SweepCheckpointer, "save", save)
    assert set(_eval_chunks(run_dir)) == {"3"}
    assert _resume(run_dir) == 0
    assert metrics_rows(run_dir) == metrics_rows(straight)
    assert (run_dir / "eval.csv").read_text() == (straight / "eval.csv").read_text()


def test_a_finished_run_missing_part_of_its_last_evaluation_gets_it_without_training(
    driver, straight, tmp_path, monkeypatch, capsys
):
    """Checkpointed after its last chunk, killed while writing that chunk's evaluation rows
    (only the train split's are there): the driver counts it as cut, and the resume redoes the
    whole evaluation from the checkpoint without compiling a training program."""
    run_dir = _broken_copy(straight, tmp_path)
    text = (run_dir / "eval.csv").read_text().splitlines(keepends=True)
    kept = [line for line in text if f",test,{CHUNKS - 1}," not in line]  # split, chunk
    assert len(text) - len(kept) == 4  # 2 inits x 2 seeds
    (run_dir / "eval.csv").write_text("".join(kept))
    assert driver.sweep_stage(run_dir) == "cut"
    monkeypatch.setattr(GroupProgram, "compile", lambda *a, **k: pytest.fail("compiled"))
    assert _resume(run_dir) == 0
    assert "is finished" not in capsys.readouterr().out
    assert metrics_rows(run_dir) == metrics_rows(straight)
    assert (run_dir / "eval.csv").read_text() == (straight / "eval.csv").read_text()
    assert driver.sweep_stage(run_dir) == "done"


def test_missing_checkpoint_and_missing_run(straight, tmp_path, capsys):
    run_dir = _broken_copy(straight, tmp_path)
    shutil.rmtree(run_dir / CHECKPOINT_DIR)
    assert cli.main(["resume", str(run_dir), "--no-progress"]) == 2
    assert "checkpoint: no checkpoint" in capsys.readouterr().err
    assert cli.main(["resume", str(tmp_path / "nothing-here")]) == 2
    assert "holds no run" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["arrays", "shapes"])
def test_checkpoint_round_trip_keeps_zero_size_arrays_and_keys(tmp_path, target):
    """MJX's data holds zero-size arrays (no actuator activations), which orbax refuses to write:
    they are left out and rebuilt, next to keys and ordinary arrays. The restore target may be
    arrays or only their shapes and shardings (what a resumed sweep passes, to save memory)."""
    state = {
        "g": {
            "act": jnp.zeros((3, 0), jnp.float32),
            "key": jax.random.split(jax.random.key(1), 3),
            "qpos": jnp.arange(6.0).reshape(3, 2),
        }
    }
    checkpointer = SweepCheckpointer(tmp_path, every=1, keep=1)
    checkpointer.save(1, state, {"name": "x"}, final=True)
    fresh = jax.tree.map(lambda x: x, state)
    fresh["g"]["qpos"] = jnp.zeros((3, 2))
    if target == "shapes":
        fresh = jax.eval_shape(jax.jit(lambda tree: tree), fresh)
        assert isinstance(fresh["g"]["key"], jax.ShapeDtypeStruct)
    step, restored = checkpointer.restore(fresh, {"name": "x"})
    checkpointer.close()
    assert step == 1
    assert isinstance(restored["g"]["act"], jax.Array)
    assert restored["g"]["act"].shape == (3, 0)
    assert restored["g"]["key"].dtype == state["g"]["key"].dtype
    np.testing.assert_array_equal(restored["g"]["qpos"], state["g"]["qpos"])
    np.testing.assert_array_equal(
        jax.random.key_data(restored["g"]["key"]), jax.random.key_data(state["g"]["key"])
    )


def test_reproduce_continue_resumes_only_what_was_cut(driver, straight, tmp_path, monkeypatch):
    """`reproduce.py --continue` picks, per sweep, resume (cut), nothing (done) or a fresh sweep
    (never checkpointed); `--eval-only` refuses a sweep that is not finished."""
    commands = []
    monkeypatch.setattr(driver, "timed", lambda command, log: commands.append(command[1]))
    experiment = driver.EXPERIMENTS["grid-world"]
    run_dir = tmp_path / "medium" / "grid-world"
    shutil.copytree(straight, run_dir)

    def continue_():
        commands.clear()
        driver.sweep_and_eval(
            "grid-world", experiment, "medium", run_dir.parent, [], None, "continue"
        )
        return commands

    assert driver.sweep_stage(run_dir) == "done"
    assert continue_() == ["eval"]
    # The sweep evaluated its last chunk on 4 trials: `hyperjax eval --trials 4` would add
    # the same rows again, so the driver does not run it; on 64 trials it does (above).
    experiment_4 = dataclasses.replace(experiment, eval_trials=4)
    commands.clear()
    driver.sweep_and_eval(
        "grid-world", experiment_4, "medium", run_dir.parent, [], None, "continue"
    )
    assert commands == []
    for step in (CHUNKS, CHUNKS - 1):  # cut: the latest checkpoint lies before the last chunk
        shutil.rmtree(run_dir / CHECKPOINT_DIR / str(step))
    assert driver.sweep_stage(run_dir) == "cut"
    assert continue_() == ["resume", "eval"]
    with pytest.raises(SystemExit, match="no finished sweep \\(cut\\); finish it with --continue"):
        driver.sweep_and_eval(
            "grid-world", experiment, "medium", run_dir.parent, [], None, "eval-only"
        )
    shutil.rmtree(run_dir / CHECKPOINT_DIR)  # started, killed before its first checkpoint
    assert driver.sweep_stage(run_dir) == "new"
    assert continue_() == ["sweep", "eval"]
    assert driver.sweep_stage(tmp_path / "nothing") == "new"


class SessionEnded(Exception):
    pass


def test_size_scan_continue_skips_sizes_collected_in_an_earlier_session(
    driver, straight, tmp_path, monkeypatch, capsys
):
    """A size scan collects each size (files and run.json) as soon as it is evaluated. Run
    folders do not outlive a session, so `--continue` in the next one sweeps only the sizes
    not collected whole; `--sizes` runs a chosen few; the scan's run.json waits for all sizes,
    and the summary adds up every size's own wall time and commands."""
    swept, cut_during = [], ["M"]

    def sweep(name, experiment, variant, runs_dir, log, size, mode, total_env_steps):
        swept.append(size)
        if size in cut_during:
            cut_during.remove(size)
            raise SessionEnded
        log.append({"command": f"hyperjax sweep --size {size}", "wall_seconds": 60.0})
        run_dir = tmp_path / "runs" / f"{name}-{size}"
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(straight, run_dir, ignore=shutil.ignore_patterns(CHECKPOINT_DIR))
        (run_dir / "eval.csv").write_text("run,split\n")
        return run_dir

    monkeypatch.setattr(driver, "sweep_and_eval", sweep)
    monkeypatch.setattr(driver, "summarise", lambda run_dirs, out, success: None)
    monkeypatch.setattr(driver, "derive_results", lambda name, out: None)
    name = "figure3-cheetah-dir"
    out = tmp_path / "results" / "medium" / name

    def reproduce(mode, only_sizes=()):
        swept.clear()
        driver.reproduce(name, "medium", tmp_path / "runs", tmp_path / "results", mode, None,
                         only_sizes)  # fmt: skip
        return swept

    assert reproduce("run", ("XL",)) == ["XL"]
    assert "sizes still to run: XS M" in capsys.readouterr().out
    with pytest.raises(SessionEnded):
        reproduce("continue")
    assert swept == ["XS", "M"]
    assert driver.collected(out / f"{name}-XS") and not (out / f"{name}-M").exists()
    assert not (out / "run.json").exists()  # the scan is not finished
    (tmp_path / "runs").rename(tmp_path / "gone")  # a new session: no run folders

    assert reproduce("continue") == ["M"]
    record = json.loads((out / "run.json").read_text())
    assert record["mode"] == "continue" and record["sizes_collected_earlier"] == ["XS", "XL"]
    assert [c["command"] for c in record["commands"]] == ["hyperjax sweep --size M"]
    assert all(driver.collected(out / f"{name}-{s}") for s in ("XS", "M", "XL"))
    for size in ("XS", "M", "XL"):  # ten minutes each
        size_record = json.loads((out / f"{name}-{size}" / "run.json").read_text())
        size_record["wall_seconds"] = 600.0
        (out / f"{name}-{size}" / "run.json").write_text(json.dumps(size_record))
    summary = driver.write_summary(tmp_path / "results", "medium", redraw=False).read_text()
    assert "hyperjax sweep --size XS\nhyperjax sweep --size M\nhyperjax sweep --size XL" in summary
    assert "Wall time 30.0 min" in summary and "By size: XS 10.0 min" in summary

    # A size whose metrics stop short of the last chunk, or that was never evaluated, is not
    # collected whole.
    metrics = out / f"{name}-XL" / "metrics.csv"
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(metrics, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if int(row["chunk"]) < CHUNKS - 1)
    assert not driver.collected(out / f"{name}-XL")
    (out / f"{name}-M" / "eval.csv").unlink()
    assert not driver.collected(out / f"{name}-M")
    assert reproduce("continue") == ["M", "XL"]
    assert json.loads((out / "run.json").read_text())["sizes_collected_earlier"] == ["XS"]
    record_bytes = (out / "run.json").read_bytes()
    assert reproduce("continue") == []  # nothing left: the scan's record is kept as it was
    assert (out / "run.json").read_bytes() == record_bytes
    assert reproduce("run", ("XL",)) == ["XL"]  # one size again: the others stay
    record = json.loads((out / "run.json").read_text())
    assert record["mode"] == "run" and record["sizes_collected_earlier"] == ["XS", "M"]
    assert driver.collected(out / f"{name}-XS") and driver.collected(out / f"{name}-M")
    assert not driver.collected(out / f"{name}-XS", total_env_steps=10**9)  # another budget

    # A scan collected before sizes had records of their own: its record speaks for all sizes.
    (out / f"{name}-XS" / "run.json").unlink()
    summary = driver.write_summary(tmp_path / "results", "medium", redraw=False).read_text()
    assert "By size" not in summary and "hyperjax sweep --size XL\n```" in summary

    with pytest.raises(SystemExit):
        driver.main([name, "--variant", "medium", "--sizes", "S", "XL"])
    assert "sizes: S not in figure3-cheetah-dir's medium scan; allowed: XS M XL" in (
        capsys.readouterr().err
    )


def test_killed_while_writing_a_csv_row_resumes_without_it(straight, tmp_path):
    """Killed in the middle of appending chunk 11's rows: half a row ends metrics.csv and
    eval.csv. The resume drops it with the rest of chunk 11 and ends as the straight run."""
    run_dir = _broken_copy(straight, tmp_path)
    shutil.rmtree(run_dir / CHECKPOINT_DIR / str(CHUNKS))  # killed before chunk 11's checkpoint
    for name in ("metrics.csv", "eval.csv"):
        text = (run_dir / name).read_text()
        last = text.rstrip("\n").rsplit("\n", 1)[1]
        (run_dir / name).write_text(text + last[: len(last) // 2])  # half a row, no newline
    assert _resume(run_dir) == 0
    assert metrics_rows(run_dir) == metrics_rows(straight)
    assert (run_dir / "eval.csv").read_text() == (straight / "eval.csv").read_text()


def test_an_unreadable_checkpoint_item_is_named_in_one_line(straight, tmp_path):
    """A checkpoint's JSON item (here the runs' grouping) that orbax cannot parse: the error
    names that item's folder, not only the step."""
    from hyperjax.errors import ConfigError

    run_dir = _broken_copy(straight, tmp_path)
    item = run_dir / CHECKPOINT_DIR / str(CHUNKS) / "programs"
    files = [f for f in item.rglob("*") if f.is_file()]
    assert files
    for f in files:
        f.write_text("{not json")
    checkpointer = SweepCheckpointer(run_dir)
    try:
        with pytest.raises(ConfigError) as error:
            checkpointer.saved_programs(CHUNKS)
    finally:
        checkpointer.close()
    message = str(error.value)
    assert message.startswith(f"checkpoint: {item} is unreadable ("), message
    assert "\n" not in message
