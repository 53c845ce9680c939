"""Orbax checkpoints of a whole sweep: every policy kind's batched training state, per chunk.

`runs/<name>/checkpoints/<step>/` holds, for step = chunks completed, the training state of every
group of runs (params, optimizer states, normaliser statistics, env and memory states, VariBAD's
trial buffers, RNG keys, update counters) and, as JSON, the sweep spec it belongs to. Orbax
writes each step to a temporary folder and renames it when complete, so a process killed at any
moment leaves either a whole checkpoint or none; the last `keep` are kept.

Typed PRNG keys are stored as their raw key data and re-wrapped on restore; zero-size arrays
are left out and rebuilt on restore. Restoring needs only the states' shapes and shardings
(`jax.eval_shape` of the init program): a sweep whose state fills most of the memory (VariBAD's
trial buffers on humanoid hold gigabytes) would not fit a fresh copy beside the restored one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from hyperjax.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_empty(x: Any) -> bool:
    return getattr(x, "size", 1) == 0


def _key_data(key: Any) -> Any:
    """A key array's raw data, or for an abstract key (`jax.ShapeDtypeStruct`) its shape."""
    if isinstance(key, jax.ShapeDtypeStruct):
        data = jax.eval_shape(jax.random.key_data, key)
        return jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=key.sharding)
    return jax.random.key_data(key)


def to_saveable(tree: Any) -> Any:
    """Keys as their raw data; zero-size arrays (e.g. MJX's actuator activations when a model
    has none), which orbax refuses to write, as empty subtrees. Works on arrays and on their
    abstract shapes alike (the latter as a restore target)."""

    def saveable(x):
        if _is_empty(x):
            return None
        return _key_data(x) if _is_key(x) else x

    return jax.tree.map(saveable, tree)


def _wrap_key(data: jax.Array, like: Any) -> jax.Array:
    # An abstract key carries no public handle on its implementation; fresh states are made
    # with the default one, and the dtype check below catches any other.
    impl = jax.random.key_impl(like) if isinstance(like, jax.Array) else None
    key = jax.random.wrap_key_data(data, impl=impl)
    if key.dtype != like.dtype:
        raise ConfigError(f"checkpoint: a PRNG key restored as {key.dtype}, expected {like.dtype}")
    return key


def from_saved(tree: Any, like: Any) -> Any:
    """Re-wrap key data as typed keys where `like` (the live structure, arrays or their
    shapes) holds keys, and rebuild the zero-size arrays `to_saveable` left out."""
    live_leaves, treedef = jax.tree.flatten(like)
    saved_leaves = iter(jax.tree.leaves(tree))
    leaves = []
    for live in live_leaves:
        if _is_empty(live):
            leaves.append(jnp.zeros(live.shape, live.dtype, device=live.sharding))
        elif _is_key(live):
            leaves.append(_wrap_key(next(saved_leaves), live))
        else:
            leaves.append(next(saved_leaves))
    return jax.tree.unflatten(treedef, leaves)


class SweepCheckpointer:
    """Saves and restores {group name: batched TrainState} with the sweep's spec."""

    def __init__(self, run_dir: Path | str, every: int = 1, keep: int = 2):
        if every < 1:
            raise ConfigError(f"checkpoint_every: must be >= 1, got {every}")
        if keep < 1:
            raise ConfigError(f"keep_checkpoints: must be >= 1, got {keep}")
        self.path = Path(run_dir).absolute() / CHECKPOINT_DIR
        self.every = every
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            # Synchronous: the next chunk donates the state's buffers right after the save.
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,  # leftovers of a save that was killed
        )
        self.manager = ocp.CheckpointManager(self.path, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, states: dict[str, Any], spec: dict, final: bool = False) -> None:
        """Save after `step` chunks if it is a checkpoint step (every `every`, and the last)."""
        if step % self.every and not final:
            return
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(to_saveable(states)),
            spec=ocp.args.JsonSave(spec),
        )
        self.manager.save(step, args=args, force=True)
        self.manager.wait_until_finished()

    def restore(self, like: dict[str, Any], spec: dict) -> tuple[int, dict[str, Any]]:
        """The latest checkpoint's (step, states), checked against this sweep's `spec` and
        `like`: the states' shapes and shardings (`jax.ShapeDtypeStruct`s, or arrays). Raises
        ConfigError on any mismatch."""
        step = self.latest_step()
        if step is None:
            raise ConfigError(f"checkpoint: no checkpoint in {self.path}")
        try:
            saved_spec = self.manager.restore(
                step, args=ocp.args.Composite(spec=ocp.args.JsonRestore())
            ).spec
        except Exception as error:  # orbax raises many types for unreadable files
            raise ConfigError(
                f"checkpoint: {self.path / str(step)} is unreadable ({error})"
            ) from None
        if saved_spec != spec:
            raise ConfigError(
                f"checkpoint: {self.path} belongs to another config ("
                f"{_first_difference(saved_spec, spec)}); start a new run instead"
            )
        target = to_saveable(like)
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
            ).state
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ConfigError(
                f"checkpoint: {self.path / str(step)} is corrupt or does not match this sweep "
                f"({type(error).__name__}: {first_line[:200]})"
            ) from None
        _check_shapes(restored, target, self.path / str(step))
        return step, from_saved(restored, like)

    def close(self) -> None:
        self.manager.close()


def _check_shapes(restored: Any, target: Any, where: Path) -> None:
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(target), strict=True):
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ConfigError(
                f"checkpoint: {where} holds {got.dtype}{list(got.shape)} where this sweep has "
                f"{want.dtype}{list(want.shape)}"
            )


def _first_difference(saved: Any, current: Any, prefix: str = "") -> str:
    """The first dotted field where two nested dicts differ, as 'field: saved -> current'."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            if saved.get(key) != current.get(key):
                return _first_difference(saved.get(key), current.get(key), f"{prefix}{key}.")
    return f"{prefix.rstrip('.')}: {saved!r} -> {current!r}"
