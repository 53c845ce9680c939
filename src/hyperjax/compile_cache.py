"""The persistent XLA compilation cache, on for every entry point (CLI, library, scripts).

Brax envs take 10-40 s each to compile on a CPU, so compiled programs are kept in
`~/.cache/hyperjax/jax`, outside the repo. `JAX_COMPILATION_CACHE_DIR` (JAX's own variable)
moves it; `HYPERJAX_COMPILATION_CACHE=off` turns it off.
"""

from __future__ import annotations

import os

DEFAULT_DIR = os.path.join("~", ".cache", "hyperjax", "jax")
OFF = ("0", "off", "false", "no")


def cache_dir() -> str | None:
    """Where compiled programs are cached, or None when the cache is turned off."""
    if os.environ.get("HYPERJAX_COMPILATION_CACHE", "").strip().lower() in OFF:
        return None
    return os.path.expanduser(os.environ.get("JAX_COMPILATION_CACHE_DIR") or DEFAULT_DIR)


def install() -> None:
    """Point JAX at `cache_dir()`; small programs (under half a second) are not worth a file."""
    import jax

    folder = cache_dir()
    jax.config.update("jax_compilation_cache_dir", folder)
    if folder is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
