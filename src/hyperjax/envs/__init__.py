"""Meta-RL task distributions and the registry: `make(name, **overrides)`, `names()`.

Env modules are imported lazily so that the light tasks do not pay Brax's import time.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import jax

from hyperjax.envs.base import SPLITS, MetaEnv, TrialWrapper
from hyperjax.envs.mixture import Mixture
from hyperjax.errors import ConfigError, check_choice

# Meta-World's ML10 classes but pick-place (`ml1`), each `ml1-<class>` (hyperjax.envs.meta_world
# has them all; listed here so that the registry does not import MuJoCo).
_META_WORLD_CLASSES = (
    "reach", "push", "door-open", "drawer-close", "button-press-topdown", "peg-insert-side",
    "window-open", "sweep", "basketball", "drawer-open", "door-close", "shelf-place",
    "sweep-into", "lever-pull",
)  # fmt: skip

# name -> (module, class) or (module, class, fixed constructor arguments). Brax-backed tasks take
# a `backend` override.
_REGISTRY: dict[str, tuple] = {
    "bandit": ("hyperjax.envs.bandit", "TwoArmedBandit"),
    "grid-world": ("hyperjax.envs.navigation", "GridWorld"),
    "point-robot": ("hyperjax.envs.navigation", "PointRobot"),
    "cheetah-dir": ("hyperjax.envs.locomotion", "CheetahDir"),
    "cheetah-vel": ("hyperjax.envs.locomotion", "CheetahVel"),
    "ant-dir": ("hyperjax.envs.locomotion", "AntDir"),
    "ant-dir-2d": ("hyperjax.envs.locomotion", "AntDir2D"),
    "ant-goal": ("hyperjax.envs.locomotion", "AntGoal"),
    "humanoid-dir": ("hyperjax.envs.locomotion", "HumanoidDir"),
    "walker-params": ("hyperjax.envs.dynamics", "WalkerParams"),
    "hopper-params": ("hyperjax.envs.dynamics", "HopperParams"),
    "reacher-goal": ("hyperjax.envs.manipulation", "ReacherGoal"),
    "pusher-goal": ("hyperjax.envs.manipulation", "PusherGoal"),
    # Meta-World's own scene, tasks and rewards on MJX (needs the `metaworld` package).
    "ml1": ("hyperjax.envs.meta_world", "MetaWorldML1"),  # pick-place, the paper's
    **{
        f"ml1-{task}": ("hyperjax.envs.meta_world", "MetaWorldML1", {"task": task})
        for task in _META_WORLD_CLASSES
    },
    # Train on 10 classes, test on 5 others: one batch split over the classes (envs.mixture).
    "ml10": ("hyperjax.envs.meta_world_ml10", "MetaWorldML10"),
    # Single-task Brax env, for checking the learner against Brax's PPO (benchmarks/ppo_parity.py).
    "halfcheetah": ("hyperjax.envs.single_task", "HalfCheetah"),
}

# Overrides the trial wrapper takes; everything else goes to the env's constructor.
_TRIAL_FIELDS = ("episode_length", "episodes_per_trial", "split")


def names() -> tuple[str, ...]:
    """All registered env names."""
    return tuple(_REGISTRY)


def env_class(name: str) -> type:
    check_choice("env", name, _REGISTRY)
    module, cls = _REGISTRY[name][:2]
    return getattr(importlib.import_module(module), cls)


def _fixed_arguments(name: str) -> dict:
    """Constructor arguments a registered name fixes (`ml1-reach`: task="reach")."""
    entry = _REGISTRY[name]
    return dict(entry[2]) if len(entry) > 2 else {}


def compiler_options(name: str) -> dict | None:
    """XLA options the env's programs compile with on the current backend (None: defaults).

    Set per program, not through XLA_FLAGS, because the same option can help one env and slow
    another (MJX's Meta-World scene steps 100x faster on CPU without XLA's fusion emitters,
    where the gym models step 18% slower)."""
    options = getattr(env_class(name), "cpu_compiler_options", None)
    return dict(options) if options and jax.default_backend() == "cpu" else None


def cpu_mappings_per_scene(name: str) -> int | None:
    """Memory mappings a compiled XLA:CPU program holds per scene of the env it steps (None:
    too few to matter); `hyperjax.map_count` checks them against the host's limit."""
    return getattr(env_class(name), "cpu_mappings_per_scene", None)


def make_meta_env(name: str, **overrides) -> MetaEnv | Any:
    """The bare task distribution (no trial wrapper), or a family of them (`ml10`)."""
    cls = env_class(name)
    fixed = _fixed_arguments(name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *fixed)]
    for key in overrides:
        if key not in allowed:
            raise ConfigError(
                f"env.{key}: unknown option for env {name!r}; allowed: "
                + ", ".join(allowed + list(_TRIAL_FIELDS))
            )
    return cls(**fixed, **overrides)


def make(name: str, **overrides) -> TrialWrapper | Mixture:
    """A task distribution wrapped in trials (a family of them: a `Mixture`, whose batch is split
    over its classes). Overrides: the env's constructor arguments plus `episode_length`,
    `episodes_per_trial` and `split` ("train" or "test")."""
    trial_kwargs = {k: overrides.pop(k) for k in _TRIAL_FIELDS if k in overrides}
    if "split" in trial_kwargs:
        check_choice("env.split", trial_kwargs["split"], SPLITS)
    meta_env = make_meta_env(name, **overrides)
    if isinstance(meta_env, MetaEnv):
        return TrialWrapper(meta_env, **trial_kwargs)
    return meta_env.trials(**trial_kwargs)


__all__ = [
    "MetaEnv",
    "TrialWrapper",
    "Mixture",
    "SPLITS",
    "compiler_options",
    "cpu_mappings_per_scene",
    "make",
    "make_meta_env",
    "names",
    "env_class",
]
