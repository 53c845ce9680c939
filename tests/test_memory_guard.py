"""A sweep too large for the device is split into sequential programs that fit, with the
results of the unsplit sweep."""

import jax
import numpy as np
import pytest
from test_divergence import CFG

from hyperjax import sweep
from hyperjax.errors import ConfigError
from hyperjax.sweep import GroupProgram, fit_to_memory, plan_groups, plan_runs, run_sweep

RUNS = plan_runs(["standard", "hfi", "bias_hyperinit"], [0, 1], [1e-3])


def test_plan_groups_names_and_sizes():
    assert {k: len(v) for k, v in plan_groups(RUNS).items()} == {"standard": 2, "hypernet": 4}
    groups = plan_groups(RUNS, max_runs=3)
    assert {k: len(v) for k, v in groups.items()} == {
        "standard": 2,
        "hypernet-0": 3,
        "hypernet-1": 1,
    }
    assert [r for g in groups.values() for r in g] == RUNS  # every run once, in order
    with pytest.raises(ConfigError, match="max_runs_per_program"):
        plan_groups(RUNS, max_runs=0)


def test_split_sweep_matches_the_unsplit_one():
    runs = RUNS[2:]  # the 4 hypernetwork runs
    whole = run_sweep(CFG, runs, progress=False, max_runs_per_program=4)
    split = run_sweep(CFG, runs, progress=False, max_runs_per_program=2)
    assert set(whole.states) == {"hypernet"} and set(split.states) == {"hypernet-0", "hypernet-1"}
    for part, members in (("hypernet-0", slice(0, 2)), ("hypernet-1", slice(2, 4))):
        for a, b in zip(
            jax.tree.leaves(split.states[part].params),
            jax.tree.leaves(whole.states["hypernet"].params),
            strict=True,
        ):
            np.testing.assert_allclose(a, np.asarray(b)[members], rtol=2e-4, atol=2e-5)
    by_key = {(r["run"], r["chunk"]): r["trial_return"] for r in whole.rows}
    for row in split.rows:
        assert abs(by_key[(row["run"], row["chunk"])] - row["trial_return"]) < 1e-4


def test_fit_to_memory_splits_what_does_not_fit(monkeypatch):
    runs = RUNS[2:]
    one_run = GroupProgram.build(CFG, "hypernet", runs[:1]).memory_bytes()
    four_runs = GroupProgram.build(CFG, "hypernet", runs).memory_bytes()
    assert four_runs > 2 * one_run  # memory grows with the runs: the estimate is not constant
    # A device with room for about 2 runs' worth (at the 0.8 budget).
    monkeypatch.setattr(sweep, "available_memory_bytes", lambda: int(2.2 * four_runs / 4 / 0.8))
    programs = fit_to_memory(CFG, [GroupProgram.build(CFG, "hypernet", runs)])
    assert [(p.name, p.runs) for p in programs] == [
        ("hypernet-0", runs[:2]),
        ("hypernet-1", runs[2:]),
    ]
    # With plenty of memory nothing changes, and the program's compilation is kept.
    monkeypatch.setattr(sweep, "available_memory_bytes", lambda: 10**12)
    whole = GroupProgram.build(CFG, "hypernet", runs)
    assert fit_to_memory(CFG, [whole]) == [whole]
    assert whole.compile(whole.initial_state())[0] is whole._compiled[0]


def test_a_run_that_cannot_fit_is_refused_before_compiling_and_leaves_no_folder(
    tmp_path, capsys, monkeypatch
):
    """One run's state alone over the device's memory: no split helps. Refused from the state's
    shapes, before any compilation, and the run folder the command made is gone again, so the
    corrected command needs no --overwrite."""
    from hyperjax import cli

    monkeypatch.setattr(sweep, "available_memory_bytes", lambda: 2**20)  # a 1 MiB device
    monkeypatch.setattr(GroupProgram, "memory_bytes", lambda self: pytest.fail("compiled"))
    argv = ["sweep", "--algo", "varibad", "--env", "grid-world", "--inits", "standard"]
    argv += ["--seeds", "0", "--train.vae.buffer-trials", "2000", "--name", "big"]
    argv += ["--runs-dir", str(tmp_path), "--no-progress", "--no-plot"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: vae.buffer_trials") and "\n" not in err, err
    assert "trial buffer" in err, err
    assert list(tmp_path.iterdir()) == []


def test_eval_and_resume_group_runs_as_the_checkpoint_records(tmp_path, monkeypatch):
    """A sweep the memory guard split (a small device) is evaluated and resumed on a machine
    with room for it whole: both rebuild the checkpoint's two groups, and neither re-runs the
    guard (which compiles every training program: minutes for Meta-World)."""
    from hyperjax.checkpoint import SweepCheckpointer
    from hyperjax.sweep import restore_sweep

    runs = RUNS[2:]  # 4 hypernetwork runs
    small_device = (
        lambda cfg, programs: [  # noqa: E731
            GroupProgram.build(cfg, "hypernet", runs[:3], "hypernet-0"),
            GroupProgram.build(cfg, "hypernet", runs[3:], "hypernet-1"),
        ]
    )
    monkeypatch.setattr(sweep, "fit_to_memory", small_device)
    spec = {"sweep": "grouping"}
    cut = CFG.replace(total_env_steps=CFG.total_env_steps // CFG.num_chunks)  # its first chunk
    checkpointer = SweepCheckpointer(tmp_path)
    first = run_sweep(cut, runs, progress=False, checkpointer=checkpointer, spec=spec)
    checkpointer.close()
    assert set(first.states) == {"hypernet-0", "hypernet-1"}

    monkeypatch.setattr(sweep, "fit_to_memory", lambda *a: pytest.fail("re-decided the groups"))
    checkpointer = SweepCheckpointer(tmp_path)
    assert checkpointer.saved_programs(1) == {
        "hypernet-0": [r.name for r in runs[:3]],
        "hypernet-1": [runs[3].name],
    }
    with pytest.raises(ConfigError, match="groups runs .* not this sweep's"):
        restore_sweep(cut, runs[:3], checkpointer, spec)  # a run of the record is not here
    step, programs, states = restore_sweep(cut, runs, checkpointer, spec)
    assert step == 1 and [(p.name, p.runs) for p in programs] == [
        ("hypernet-0", runs[:3]),
        ("hypernet-1", runs[3:]),
    ]
    for name in states:
        for a, b in zip(
            jax.tree.leaves(states[name].params),
            jax.tree.leaves(first.states[name].params),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    resumed = run_sweep(
        CFG,
        runs,
        progress=False,
        checkpointer=checkpointer,
        spec=spec,
        resume=True,
    )
    checkpointer.close()
    assert resumed.first_chunk == 1 and set(resumed.states) == {"hypernet-0", "hypernet-1"}
    assert {r["chunk"] for r in resumed.rows} == {1}
