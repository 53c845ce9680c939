"""Orbax checkpoints of a whole sweep: every policy kind's batched training state, per chunk.

`runs/<name>/checkpoints/<step>/` holds, for step = chunks completed, the training state of every
group of runs (params, optimizer states, normaliser statistics, env and memory states, VariBAD's
trial buffers, RNG keys, update counters) and, as JSON, the sweep spec it belongs to. Orbax
writes each step to a temporary folder and renames it when complete, so a process killed at any
moment leaves either a whole checkpoint or none; the last `keep` are kept.

Each step also holds `hyperjax-checksums.json`, the SHA-256 of every file orbax wrote, written
after orbax committed the step. Restoring verifies it: a checkpoint whose bytes changed (a bad
disk, a copy cut short) is refused by name, and `restore` falls back to the newest intact one,
saying so. A step without the file (killed between orbax's commit and the checksums, or written
before they existed) is restored unverified.

Typed PRNG keys are stored as their raw key data and re-wrapped on restore; zero-size arrays
are left out and rebuilt on restore. Restoring needs only the states' shapes and shardings
(`jax.eval_shape` of the init program): a sweep whose state fills most of the memory (VariBAD's
trial buffers on humanoid hold gigabytes) would not fit a fresh copy beside the restored one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from hyperjax.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"
CHECKSUMS_FILE = "hyperjax-checksums.json"


def file_digests(folder: Path) -> dict[str, str]:
    """{path relative to `folder`: SHA-256} of every file under it but the checksums file."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != CHECKSUMS_FILE:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
            digests[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return digests


def write_checksums(step_dir: Path) -> None:
    """Record the digests of a committed step, atomically (a rename)."""
    partial = step_dir / f"{CHECKSUMS_FILE}.partial"
    partial.write_text(json.dumps(file_digests(step_dir), indent=0))
    os.replace(partial, step_dir / CHECKSUMS_FILE)


def checksum_problem(step_dir: Path) -> str | None:
    """Why the step's files do not match its checksums (None if they do, or it has none)."""
    recorded_path = step_dir / CHECKSUMS_FILE
    if not recorded_path.is_file():
        return None
    try:
        recorded = json.loads(recorded_path.read_text())
    except (OSError, ValueError):
        return f"{CHECKSUMS_FILE} is unreadable"
    found = file_digests(step_dir)
    for name, digest in recorded.items():
        if name not in found:
            return f"{name} is missing"
        if found[name] != digest:
            return f"{name} does not match its checksum"
    extra = sorted(set(found) - set(recorded))
    return f"{extra[0]} was not part of it" if extra else None


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

    def step_dir(self, step: int) -> Path:
        return self.path / str(step)

    def intact_step(self, spec: dict) -> int:
        """The newest step whose files match their checksums, after checking that it belongs to
        `spec`; says on stderr which newer steps it passed over. Cheap (no arrays are read), so
        a resume runs it before compiling anything. Raises ConfigError if none is usable."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            raise ConfigError(f"checkpoint: no checkpoint in {self.path}")
        refused = []
        for step in steps:
            problem = checksum_problem(self.step_dir(step))
            if problem is None:
                self._check_spec(step, spec)
                for name, why in refused:
                    print(f"hyperjax: checkpoint {name} is corrupt ({why}); using step {step}",
                          file=sys.stderr)  # fmt: skip
                return step
            refused.append((self.step_dir(step), problem))
        name, why = refused[0]
        raise ConfigError(
            f"checkpoint: every checkpoint in {self.path} is corrupt (newest: {name}: {why})"
        )

    def save(
        self,
        step: int,
        states: dict[str, Any],
        spec: dict,
        final: bool = False,
        programs: dict[str, list[str]] | None = None,
    ) -> None:
        """Save after `step` chunks if it is a checkpoint step (every `every`, and the last).
        `programs` ({group name: its run names}) records how the runs were grouped, so that a
        restore on any machine rebuilds the same groups without re-deciding what fits."""
        if step % self.every and not final:
            return
        items = {
            "state": ocp.args.StandardSave(to_saveable(states)),
            "spec": ocp.args.JsonSave(spec),
        }
        if programs is not None:
            items["programs"] = ocp.args.JsonSave(programs)
        args = ocp.args.Composite(**items)
        self.manager.save(step, args=args, force=True)
        self.manager.wait_until_finished()
        if jax.process_index() == 0:
            write_checksums(self.step_dir(step))

    def set_aside_after(self, step: int) -> None:
        """Move the steps after `step` (the corrupt ones `intact_step` passed over) to
        `<run dir>/corrupt-checkpoints/`, so a resume from `step` can save them anew; kept for
        inspection, never deleted."""
        newer = [s for s in self.manager.all_steps() if s > step]
        if not newer or jax.process_index() != 0:
            return
        aside = self.path.parent / "corrupt-checkpoints"
        aside.mkdir(exist_ok=True)
        for s in newer:
            target = aside / str(s)
            if target.exists():
                shutil.rmtree(target)
            os.replace(self.step_dir(s), target)
        self.manager.reload()

    def restore(
        self, like: dict[str, Any], spec: dict, step: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The (step, states) of `step`, by default the newest intact checkpoint
        (`intact_step`), checked against this sweep's `spec` and `like`: the states' shapes and
        shardings (`jax.ShapeDtypeStruct`s, or arrays). Raises ConfigError on any mismatch."""
        if step is None:
            step = self.intact_step(spec)
        else:
            self._check_spec(step, spec)
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

    def saved_programs(self, step: int) -> dict[str, list[str]] | None:
        """The grouping `save` recorded at `step` ({group name: run names}); None for a
        checkpoint written before groupings were recorded."""
        if not (self.step_dir(step) / "programs").exists():
            return None
        return self._read_json(step, "programs")

    def _read_json(self, step: int, item: str) -> Any:
        """A JSON item of checkpoint `step`; ConfigError in one line if it cannot be read."""
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(**{item: ocp.args.JsonRestore()})
            )
        except Exception as error:  # orbax raises many types for unreadable files
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigError(
                f"checkpoint: {self.step_dir(step) / item} is unreadable ({first_line[:200]})"
            ) from None
        return restored[item]

    def _check_spec(self, step: int, spec: dict) -> None:
        """Raise ConfigError unless checkpoint `step` was saved by a sweep of `spec`."""
        saved_spec = self._read_json(step, "spec")
        if saved_spec != spec:
            raise ConfigError(
                f"checkpoint: {self.path} belongs to another config ("
                f"{_first_difference(saved_spec, spec)}); start a new run instead"
            )

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
