"""The sweep axis sharded over 4 (forced CPU) devices, on one host or two, gives the results of
one device."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from hyperjax import cli
from hyperjax.errors import ConfigError
from hyperjax.runlog import EVAL_FILE, read_metrics

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
import sweep_on_devices  # noqa: E402


def _with_devices(count: int) -> str:
    """This process's XLA flags (make test's optimisation level among them: the children must
    compile as the parent does, and hit its cache) plus `count` host CPU devices."""
    return f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"


def test_four_device_sweep_matches_one_device(tmp_path):
    out = tmp_path / "four.npz"
    env = dict(
        os.environ,
        XLA_FLAGS=_with_devices(4),
        JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
    )
    script = Path(sweep_on_devices.__file__)
    subprocess.run([sys.executable, str(script), str(out)], env=env, check=True, timeout=600)
    four = np.load(out)
    assert int(four["devices"]) == 4  # 4 runs: one per device

    assert jax.device_count() == 1
    params, metrics, devices = sweep_on_devices.train()
    assert devices == 1
    for name, value in params.items():
        np.testing.assert_allclose(four[f"p{name}"], value, rtol=1e-5, atol=1e-6, err_msg=name)
    for name, value in metrics.items():
        np.testing.assert_allclose(four[f"m{name}"], value, rtol=1e-5, atol=1e-6, err_msg=name)
    # The runs differ from each other (the comparison is not between copies of one run).
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])


# Two processes ("hosts") of two CPU devices each, joined by the JAX_* variables, run one sweep
# of 4 runs; the first process alone writes the run folder.
HOST_SWEEP = [
    "sweep", "--inits", "hfi", "bias_hyperinit", "--seeds", "0", "1", "--train.env", "bandit",
    "--train.total-env-steps", "1920", "--train.ppo.num-envs", "16", "--train.ppo.num-steps",
    "20", "--train.updates-per-chunk", "3", "--name", "sweep", "--no-progress", "--no-plot",
]  # fmt: skip
TIMING_COLUMNS = {"sps", "chunk_seconds"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _on_two_hosts(argv: list[str]) -> None:
    """Run `hyperjax argv` as two processes ("hosts") of two CPU devices each."""
    port = _free_port()
    hosts = [
        subprocess.Popen(
            [sys.executable, "-m", "hyperjax.cli", *argv],
            env=dict(
                os.environ,
                XLA_FLAGS=_with_devices(2),
                JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(process_id),
            ),
        )
        for process_id in range(2)
    ]
    assert [host.wait(timeout=600) for host in hosts] == [0, 0]


def _assert_rows_match(rows: list[dict], expected: list[dict]) -> None:
    """Same runs in the same order, numbers equal to float rounding (each process compiles its
    own program)."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (row["run"], row["chunk"]) == (want["run"], want["chunk"])
        for key in want.keys() - TIMING_COLUMNS - {"run", "policy", "init", "split"}:
            np.testing.assert_allclose(row[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.slow  # two processes compile the same program: 4 minutes cold; four devices above
def test_two_host_sweep_and_eval_match_one_process(tmp_path):
    _on_two_hosts([*HOST_SWEEP, "--runs-dir", str(tmp_path / "h")])
    assert cli.main([*HOST_SWEEP, "--runs-dir", str(tmp_path / "one")]) == 0
    two_hosts = read_metrics(tmp_path / "h" / "sweep")
    one = read_metrics(tmp_path / "one" / "sweep")
    assert len(one) == 4 * 2  # 4 runs x 2 chunks: each row written once, by process 0
    _assert_rows_match(two_hosts, one)
    # The runs differ from each other far more than that (not copies of one run): over every
    # logged number of the first chunk (losses, gradient norm, diagnostics), not one column.
    numbers = [k for k, v in one[0].items() if isinstance(v, float) and k not in TIMING_COLUMNS]
    assert np.nanmax([abs(one[0][k] - one[1][k]) for k in numbers]) > 1e-2
    assert (tmp_path / "h" / "sweep" / "checkpoints").is_dir()

    # The same checkpoint evaluated on two hosts, then in one process: one set of rows each.
    evaluate = ["eval", str(tmp_path / "one" / "sweep"), "--trials", "8"]
    _on_two_hosts(evaluate)
    assert cli.main(evaluate) == 0
    rows = read_metrics(tmp_path / "one" / "sweep", file=EVAL_FILE)
    assert len(rows) == 2 * 4 * 2  # two evaluations x 4 runs x 2 splits
    assert {row["split"] for row in rows} == {"train", "test"}
    _assert_rows_match(rows[:8], rows[8:])


@pytest.mark.parametrize(
    "environ, field",
    [
        ({"JAX_COORDINATOR_ADDRESS": "localhost:1"}, "JAX_NUM_PROCESSES, JAX_PROCESS_ID"),
        (
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "x"},
            "must be integers",
        ),
        (
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"},
            r"JAX_PROCESS_ID: must be in 0\.\.1",
        ),
    ],
)
def test_incomplete_host_variables_are_refused_before_joining(environ, field):
    with pytest.raises(ConfigError, match=field):
        cli.join_hosts_from_env(environ)
    cli.join_hosts_from_env({})  # none set: a one-host run, nothing happens
