"""Shared test setup: a persistent XLA compilation cache outside the repo (Brax envs take
10-40 s each to compile on CPU; the cache makes re-runs fast)."""

import os

import jax

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/hyperjax/jax")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
