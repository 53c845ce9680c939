"""Shared test setup: a persistent XLA compilation cache outside the repo (Brax envs take
10-40 s each to compile on CPU; the cache makes re-runs fast), and the reproduction driver
(experiments/reproduce.py, a script rather than a package module) as a fixture."""

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import jax
import pytest

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/hyperjax/jax")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def driver() -> ModuleType:
    """experiments/reproduce.py, imported as the module `reproduce`."""
    path = Path(__file__).parents[1] / "experiments" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("reproduce", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
