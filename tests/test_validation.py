"""Bad input through the CLI: each case exits 2 with one line that names the field, before
anything compiles, and writes nothing."""

import os
from pathlib import Path

import pytest

from hyperjax import cli
from hyperjax.config import check_kind_of_schemes
from hyperjax.errors import ConfigError

DEMO_FILE = str(Path(__file__).parents[1] / "experiments" / "demo.yaml")

# (extra sweep arguments, the field the message must start with)
SWEEP_CASES = [
    (["--inits", "bogus"], "init"),
    (["--inits", "hfi", "hfi"], "inits/seeds/lrs"),
    (["--train.env", "nope"], "env"),
    (["--env", "cheetah"], "env"),
    (["--algo", "ppo2"], "algo"),
    (["--train.policy.kind", "mlp"], "policy.kind"),
    (["--train.ppo.minibatches", "3"], "ppo.minibatches"),
    (["--train.ppo.num-envs", "0"], "ppo.num_envs"),
    (["--train.ppo.num-steps", "-5"], "ppo.num_steps"),
    (["--train.ppo.lr", "0"], "ppo.lr"),
    (["--train.ppo.gamma", "1.5"], "ppo.gamma"),
    (["--train.ppo.clip-eps", "-0.1"], "ppo.clip_eps"),
    (["--lrs", "-1e-3"], "lrs"),
    (["--lrs", "0"], "lrs"),
    (["--train.episodes-per-trial", "0"], "episodes_per_trial"),
    (["--train.episode-length", "0"], "episode_length"),
    (["--train.total-env-steps", "10"], "total_env_steps"),
    (["--size", "XXXL"], "size"),
    (["--train.policy.hidden", "0"], "policy.hidden"),
    (["--train.policy.task-embed-dim", "0"], "policy.task_embed_dim"),
    (["--train.encoder.gru-dim", "0"], "encoder.gru_dim"),
    (["--algo", "varibad", "--train.vae.buffer-trials", "4"], "vae.buffer_trials"),
    (["--train.vae.kl-weight", "-1"], "vae.kl_weight"),
    (["--train.vae.elbo-steps", "0"], "vae.elbo_steps"),
    (["--train.backend", "warp", "--env", "cheetah-dir"], "env.backend"),
    (["--train.backend", "positional"], "env.backend"),  # grid-world has no physics backend
    # reacher-goal has no authors' MuJoCo model (the error lists the Brax pipelines it allows).
    (["--train.backend", "mujoco", "--env", "reacher-goal"], "env.backend"),
    (["--checkpoint-every", "0"], "checkpoint_every"),
    (["--keep-checkpoints", "0"], "keep_checkpoints"),
    (["--eval-trials", "0"], "eval_trials"),
    (["--eval-every", "-1"], "eval_every"),
    # A policy kind that an init scheme would silently override is an error, not ignored.
    (["--inits", "hfi", "--train.policy.kind", "film"], "train.policy.kind"),
    (["--inits", "film_normc", "--train.policy.kind=hypernet"], "train.policy.kind"),
    # A run name is one folder under --runs-dir.
    (["--name", "../../x"], "name"),
    (["--name", "a/b"], "name"),
    (["--name", ".."], "name"),
    (["--experiment", "no/such/file.yaml"], "experiment"),
    # Issue 35: non-finite or out-of-range numbers, conflicting flags, impossible names.
    (["--train.ppo.lr", "inf"], "ppo.lr"),
    (["--train.ppo.lr", "nan"], "ppo.lr"),
    (["--lrs", "inf"], "lrs"),
    (["--train.ppo.ent-coef", "nan"], "ppo.ent_coef"),
    (["--train.ppo.clip-eps", "inf"], "ppo.clip_eps"),
    (["--train.ppo.adam-eps", "-1e-8"], "ppo.adam_eps"),
    (["--train.vae.kl-weight", "nan"], "vae.kl_weight"),
    (["--train.vae.lr", "inf"], "vae.lr"),
    (["--seeds", str(2**40)], "seeds"),
    (["--seeds", "-1"], "seeds"),
    (["--env", "bandit", "--train.env", "grid-world"], "env"),
    (["--algo", "rl2", "--train.algo=varibad"], "algo"),
    (
        ["--algo", "varibad", "--train.vae.batch-trials", "30", "--train.vae.buffer-trials", "40"],
        "vae.batch_trials",
    ),
    (["--name", "x" * 300], "name"),
    (["--variant", "quick"], "variant"),
    (["--algo", "varibad", "--train.ppo.minibatches", "7"], "ppo.minibatches"),  # 16 x 60 steps
    # ML10 splits a batch evenly over its 10 training classes (and 5 test classes).
    (["--env", "ml10", "--train.ppo.num-envs", "8"], "ppo.num_envs"),
    (
        [
            "--env",
            "ml10",
            "--train.ppo.num-envs",
            "10",
            "--train.ppo.minibatches",
            "2",
            "--eval-every",
            "1",
            "--eval-trials",
            "8",
        ],
        "eval_trials",
    ),  # fmt: skip
    (["--experiment", DEMO_FILE, "--variant", "nope"], "variant"),
]


def _assert_one_line_error(capsys, field: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hyperjax: error: {field}"), err
    assert "\n" not in err, err


@pytest.mark.parametrize("args, field", SWEEP_CASES, ids=[" ".join(a) for a, _ in SWEEP_CASES])
def test_bad_sweep_input(tmp_path, capsys, args, field):
    argv = ["sweep", "--name", "bad", "--runs-dir", str(tmp_path), "--no-progress", *args]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, field)
    assert list(tmp_path.iterdir()) == []  # nothing written


EXPERIMENT_FILES = {
    "unknown_key.yaml": ("train:\n  ppo:\n    num_envz: 3\n", "train.ppo.num_envz"),
    "malformed.yaml": ("train: [unclosed\n", "experiment"),
    "wrong_type.yaml": ("seeds: three\n", "seeds"),
    "not_a_mapping.yaml": ("- 1\n- 2\n", "experiment"),
    "bad_value.yaml": ("train:\n  ppo:\n    minibatches: 5\n", "ppo.minibatches"),
    "kind_conflict.yaml": (
        "inits: [hfi]\ntrain:\n  policy:\n    kind: film\n",
        "train.policy.kind",
    ),
    "bad_name.yaml": ("name: ../outside\n", "name"),
}


@pytest.mark.parametrize("name", EXPERIMENT_FILES)
def test_bad_experiment_file(tmp_path, capsys, name):
    text, field = EXPERIMENT_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    runs_dir = tmp_path / "runs"
    argv = ["sweep", "--experiment", str(path), "--runs-dir", str(runs_dir), "--no-progress"]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, field)
    assert not runs_dir.exists()


def test_eval_and_resume_of_missing_runs(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path / "none")]) == 2
    _assert_one_line_error(capsys, "run_dir")
    assert cli.main(["eval", str(tmp_path / "none")]) == 2
    _assert_one_line_error(capsys, "run_dir")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert cli.main(["eval", str(tmp_path / "broken")]) == 2
    _assert_one_line_error(capsys, "run_dir")
    assert cli.main(["plot", str(tmp_path / "none")]) == 2
    _assert_one_line_error(capsys, "run_dirs")


def test_train_command_refuses_a_conflicting_kind_and_a_path_as_name(tmp_path, capsys):
    base = ["train", "--runs-dir", str(tmp_path), "--no-progress"]
    assert cli.main([*base, "--init", "hfi", "--train.policy.kind", "standard"]) == 2
    _assert_one_line_error(capsys, "train.policy.kind")
    assert cli.main([*base, "--name", "../x"]) == 2
    _assert_one_line_error(capsys, "name")
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "x").exists()


def test_a_kind_that_agrees_with_every_scheme_is_accepted():
    check_kind_of_schemes("hypernet", ["hfi", "bias_hyperinit"])
    check_kind_of_schemes("film", ["film_normc"])
    with pytest.raises(ConfigError, match="conflicts with init 'standard'"):
        check_kind_of_schemes("hypernet", ["hfi", "standard"])


def test_runs_dir_that_is_a_file_or_read_only(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["sweep", "--name", "x", "--runs-dir", str(blocker / "runs"), "--no-progress"]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, "runs_dir")
    # Root may write anywhere, so the permission check is exercised through os.access.
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "hyperjax.runlog.os.access",
        lambda path, mode: Path(path) != read_only and real_access(path, mode),
    )
    argv = ["sweep", "--name", "x", "--runs-dir", str(read_only), "--no-progress"]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, "runs_dir")
    assert list(read_only.iterdir()) == []


def test_duplicate_yaml_keys_are_an_error(tmp_path, capsys):
    path = tmp_path / "twice.yaml"
    path.write_text("train:\n  ppo:\n    lr: 0.001\n    lr: 0.1\n")
    argv = ["sweep", "--experiment", str(path), "--runs-dir", str(tmp_path / "runs")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: experiment:") and "duplicate key 'lr'" in err, err
    assert "\n" not in err and not (tmp_path / "runs").exists()


def test_plot_without_runs_or_rows_and_outputs_under_a_file(tmp_path, capsys):
    assert cli.main(["plot"]) == 2
    _assert_one_line_error(capsys, "run_dirs")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.csv").write_text("")
    assert cli.main(["plot", str(empty)]) == 2
    _assert_one_line_error(capsys, "run_dirs")
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["inspect", "--env", "bandit", "--out", str(blocker / "inspect")]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, "out")


def test_wandb_without_credentials_is_refused_at_the_start(tmp_path, capsys, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc holding a key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    runs = tmp_path / "runs"
    argv = ["sweep", "--train.env", "bandit", "--inits", "standard", "--seeds", "0"]
    argv += ["--wandb-project", "p", "--runs-dir", str(runs), "--name", "w", "--no-progress"]
    assert cli.main(argv) == 2
    _assert_one_line_error(capsys, "wandb_project")
    assert not runs.exists()


def test_a_coordinator_that_never_answers_is_one_line_after_the_stated_timeout(capsys):
    """Process 1 of 2 waits for process 0's port (an unused one here) for the stated time."""
    import socket

    with socket.socket() as probe:  # a free local port, closed again: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {
        "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
        "JAX_NUM_PROCESSES": "2",
        "JAX_PROCESS_ID": "1",
        "HYPERJAX_JOIN_TIMEOUT": "1",
    }
    with pytest.raises(ConfigError, match="no coordinator answered .* within 1 s"):
        cli.join_hosts_from_env(environ)
    assert "waiting up to 1 s" in capsys.readouterr().err


def test_a_run_folder_that_is_a_symlink_is_refused(tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "x").symlink_to(target)
    argv = ["sweep", "--name", "x", "--runs-dir", str(tmp_path / "runs"), "--overwrite"]
    assert cli.main([*argv, "--no-progress"]) == 2
    _assert_one_line_error(capsys, "name")
    assert target.is_dir() and (tmp_path / "runs" / "x").is_symlink()
