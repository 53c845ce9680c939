"""Shared test setup: the persistent XLA compilation cache outside the repo that every hyperjax
import turns on (Brax envs take 10-40 s each to compile on CPU; the cache makes re-runs fast),
and the reproduction driver (experiments/reproduce.py, a script rather than a package module)
as a fixture."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import hyperjax  # noqa: F401  (installs the compilation cache: hyperjax.compile_cache)


@pytest.fixture
def driver() -> ModuleType:
    """experiments/reproduce.py, imported as the module `reproduce`."""
    path = Path(__file__).parents[1] / "experiments" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("reproduce", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
