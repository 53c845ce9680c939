"""The compilation cache is on for every entry point, outside the repo, movable and switchable."""

import os
import subprocess
import sys

import pytest

from hyperjax import compile_cache


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, os.path.expanduser("~/.cache/hyperjax/jax")),
        ({"JAX_COMPILATION_CACHE_DIR": "/tmp/elsewhere"}, "/tmp/elsewhere"),
        ({"HYPERJAX_COMPILATION_CACHE": "off"}, None),
        ({"HYPERJAX_COMPILATION_CACHE": "0", "JAX_COMPILATION_CACHE_DIR": "/tmp/x"}, None),
    ],
)
def test_cache_dir_follows_the_environment(monkeypatch, env, expected):
    for name in ("JAX_COMPILATION_CACHE_DIR", "HYPERJAX_COMPILATION_CACHE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert compile_cache.cache_dir() == expected


def test_a_plain_library_import_turns_the_cache_on(tmp_path):
    """Not only the Makefile: `import hyperjax` in any program points JAX at the cache."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("COMPILATION_CACHE_DIR")}
    env["HOME"] = str(tmp_path)
    code = "import hyperjax, jax; print(jax.config.jax_compilation_cache_dir)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(tmp_path / ".cache" / "hyperjax" / "jax")
