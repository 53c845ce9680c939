"""The sweep axis sharded over 4 (forced CPU) devices gives the results of one device."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
import sweep_on_devices  # noqa: E402


def test_four_device_sweep_matches_one_device(tmp_path):
    out = tmp_path / "four.npz"
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
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
