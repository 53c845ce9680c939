"""Linux's cap on a process's memory mappings, checked before compiling many-scene programs.

XLA:CPU maps each compiled kernel's code and data on its own, so a program that steps many MJX
scenes holds tens of thousands of mappings (a ten-scene ML10 training program about 20,000).
Past `vm.max_map_count` (65,530 by default) mmap fails, and LLVM ends the process in the middle
of a compile with "Cannot allocate memory", with RAM to spare: the ML10 quick sweep died so,
after two hours of this CPU. A process that would hold more is refused before it compiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax

from hyperjax import envs
from hyperjax.errors import ConfigError

MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
# Mappings of a Python process with jax, MJX and the envs loaded, before any big program.
PROCESS_MAPPINGS = 3_000
# What to suggest: four times Linux's default, about 4 MB of kernel memory at most.
SUGGESTED_LIMIT = 262_144


def scene_count(env) -> int:
    """MJX scenes a program stepping `env` holds: a family's members (ML10's classes), else one."""
    return len(getattr(env, "members", ())) or 1


def mappings_needed(env_name: str, program_scenes: Sequence[int]) -> int | None:
    """Mappings a process holding compiled programs of `env_name` that step `program_scenes`
    scenes each needs on XLA:CPU; None for envs whose programs stay small."""
    per_scene = envs.cpu_mappings_per_scene(env_name)
    if per_scene is None or jax.default_backend() != "cpu":
        return None
    return PROCESS_MAPPINGS + per_scene * sum(program_scenes)


def check_map_count(
    env_name: str, program_scenes: Sequence[int], limit_file: Path | None = None
) -> None:
    """ConfigError if this host's `vm.max_map_count` (read from `limit_file`, by default
    /proc/sys/vm/max_map_count) is below what the programs need."""
    need = mappings_needed(env_name, program_scenes)
    limit_file = limit_file or MAX_MAP_COUNT
    if need is None or not limit_file.exists():  # not Linux: no such limit to check
        return
    limit = int(limit_file.read_text())
    if limit < need:
        raise ConfigError(
            f"vm.max_map_count: this host lets a process hold {limit:,} memory mappings, and "
            f"the {len(program_scenes)} compiled {env_name} programs of this command need about "
            f"{need:,} on XLA:CPU (past the limit LLVM dies mid-compile with 'Cannot allocate "
            f"memory'); raise it: sudo sysctl -w vm.max_map_count={max(SUGGESTED_LIMIT, 2 * need)}"
        )
