"""A sweep's output folder: `runs/<name>/` with config.json, runs.csv and metrics.csv.

metrics.csv is long-format, one row per (run, chunk), ready for pandas `groupby("run")`.
An existing folder is never overwritten silently: a different sweep there is refused unless the
caller passes `overwrite=True`. In a multi-host sweep every process computes and checks, and the
first process alone writes (the folder is on a filesystem all hosts share).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import jax

from hyperjax.errors import ConfigError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
EVAL_FILE = "eval.csv"
RUNS_FILE = "runs.csv"


def is_primary_process() -> bool:
    """Whether this process writes the run folder: the first one of a multi-host sweep."""
    return jax.process_index() == 0


def wait_for_all_processes(name: str) -> None:
    """A barrier across the processes of a multi-host sweep (nothing on one host)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


class RunDirectory:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    def check_writable(self, overwrite: bool) -> None:
        """Refuse a folder holding results, unless told to overwrite, or one that cannot be
        written (no side effects)."""
        parent = next((p for p in self.path.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"runs_dir: {parent} is a file, not a directory")
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"runs_dir: {parent} is not writable")
        if self.path.is_symlink():  # --overwrite would delete through it, or fail in rmtree
            raise ConfigError(f"name: {self.path} is a symbolic link; name a real folder")
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"name: {self.path} exists and is not a directory")
        if self.path.is_dir() and not os.access(self.path, os.W_OK | os.X_OK):
            raise ConfigError(f"name: {self.path} is not writable")
        if (self.path / CONFIG_FILE).exists() and not overwrite:
            raise ConfigError(
                f"name: {self.path} already holds a run; choose another --name or pass --overwrite"
            )

    def create(self, config: dict, runs: Iterable[dict], overwrite: bool) -> None:
        self.check_writable(overwrite)
        wait_for_all_processes("run folder checked")  # before the first process writes it
        if is_primary_process():
            self._write(config, runs, overwrite)
        wait_for_all_processes("run folder written")

    def _write(self, config: dict, runs: Iterable[dict], overwrite: bool) -> None:
        if overwrite and self.path.exists():
            shutil.rmtree(self.path)  # explicitly asked for
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str) + "\n")
        runs = list(runs)
        _write_csv(self.path / RUNS_FILE, runs, mode="w")

    def append_metrics(self, rows: list[dict]) -> None:
        if is_primary_process():
            _write_csv(self.metrics_path, rows, mode="a")

    def append_eval(self, rows: list[dict]) -> None:
        if is_primary_process():
            _write_csv(self.path / EVAL_FILE, rows, mode="a")

    def read_config(self) -> dict:
        path = self.path / CONFIG_FILE
        if not path.is_file():
            raise ConfigError(f"run_dir: {self.path} holds no run ({CONFIG_FILE} missing)")
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(f"run_dir: {path} is not valid JSON ({error})") from None
        if not isinstance(config, dict) or not {"spec", "checkpoint"} <= set(config):
            raise ConfigError(f"run_dir: {path} lacks the 'spec' and 'checkpoint' entries")
        return config

    def remove_if_unstarted(self) -> None:
        """Delete this run folder if it holds no result yet: no metrics row, no checkpoint."""
        _, rows = _read_rows(self.metrics_path)
        saved = [p for p in (self.path / "checkpoints").glob("*") if p.name.isdigit()]
        if rows or saved or not is_primary_process():
            return
        shutil.rmtree(self.path, ignore_errors=True)

    def check_rows_before(self, chunk: int) -> None:
        """Raise ConfigError unless metrics.csv holds every run's rows of every chunk before
        `chunk` (a resume from checkpoint `chunk` would otherwise finish with a hole)."""
        header, rows = _read_rows(self.metrics_path)
        have = {int(row["chunk"]) for row in rows} if header else set()
        missing = sorted(set(range(chunk)) - have)
        if missing:
            raise ConfigError(
                f"run_dir: {self.metrics_path} lacks the rows of chunk {missing[0]}"
                f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}, which the "
                f"checkpoint after chunk {chunk} cannot bring back; start a new run instead"
            )

    def evaluated(self, chunk: int, runs: Iterable[str], splits: Iterable[str]) -> bool:
        """Whether eval.csv holds a row of every run on every split after `chunk`."""
        _, rows = _read_rows(self.path / EVAL_FILE)
        have = {(row["run"], row["split"]) for row in rows if int(row["chunk"]) == chunk}
        return {(run, split) for run in runs for split in splits} <= have

    def drop_rows_from(self, chunk: int, eval_from: int | None = None) -> None:
        """Keep only the rows of chunks before `chunk` in metrics.csv, and before `eval_from`
        (default `chunk`) in eval.csv (a resumed sweep recomputes the rest); a row cut short by
        a killed process goes too. Each file is replaced atomically, so a kill here leaves the
        old or the new file, never half."""
        if not is_primary_process():
            return
        eval_from = chunk if eval_from is None else eval_from
        for path, end in ((self.metrics_path, chunk), (self.path / EVAL_FILE, eval_from)):
            header, rows = _read_rows(path)
            if header is None:
                continue
            partial = path.with_name(path.name + ".partial")
            with partial.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header)
                writer.writeheader()
                writer.writerows(row for row in rows if int(row["chunk"]) < end)
            os.replace(partial, path)


def _read_rows(path: Path) -> tuple[list[str] | None, list[dict]]:
    """(header, the whole rows with an integer chunk) of a CSV; (None, []) if absent or empty."""
    if not path.exists():
        return None, []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or "chunk" not in header:
            return None, []
        chunk = header.index("chunk")
        rows = [
            dict(zip(header, row, strict=True))
            for row in reader
            if len(row) == len(header) and _is_int(row[chunk])
        ]
    return header, rows


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


def _write_csv(path: Path, rows: list[dict], mode: str) -> None:
    if not rows:
        return
    new_file = mode == "w" or not path.exists()
    fieldnames = list(rows[0]) if new_file else _header(path)
    with path.open(mode, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)


def _header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return next(csv.reader(f))


def read_metrics(path: Path | str, file: str = METRICS_FILE) -> list[dict]:
    """metrics.csv (or eval.csv) rows with numbers parsed."""
    with (Path(path) / file).open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key not in ("run", "policy", "init", "split"):
                row[key] = float(value) if value not in ("", None) else float("nan")
    return rows


class TensorBoardLog:
    """TensorBoard event files, one folder per run (`tb/<run name>`), step = env steps per run."""

    SKIP = ("seed", "lr", "chunk", "update", "env_steps")

    def __init__(self, path: Path | str):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError(
                "tensorboard: needs tensorboardX (pip install 'hyperjax[tensorboard]')"
            ) from None
        self._writer_class = SummaryWriter
        self.path = Path(path)
        self.writers: dict = {}

    def append(self, rows: list[dict]) -> None:
        for row in rows:
            name = row["run"]
            if name not in self.writers:
                self.writers[name] = self._writer_class(str(self.path / name))
            writer = self.writers[name]
            for key, value in row.items():
                if isinstance(value, float) and key not in self.SKIP:
                    writer.add_scalar(key, value, int(row["env_steps"]))
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


class WandbLog:
    """Weights & Biases, if installed: one W&B run per sweep run (named as in runs.csv), grouped
    by the sweep's name, logged at env-step x. WANDB_MODE=offline works without a network."""

    SKIP = TensorBoardLog.SKIP

    def __init__(self, path: Path | str, project: str, group: str):
        try:
            import wandb
        except ImportError:
            raise ConfigError("wandb_project: needs wandb (pip install wandb)") from None
        offline = os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun")
        # Checked here, at the start: without credentials the first chunk's log would fail.
        if not offline and not wandb.login(prompt=False, verify=False):
            raise ConfigError(
                "wandb_project: W&B has no credentials; run `wandb login`, set WANDB_API_KEY, "
                "or WANDB_MODE=offline"
            )
        self._wandb = wandb
        self.path, self.project, self.group = Path(path), project, group
        self.runs: dict = {}

    def append(self, rows: list[dict]) -> None:
        for row in rows:
            name = row["run"]
            if name not in self.runs:
                self.path.mkdir(parents=True, exist_ok=True)
                config = {k: row[k] for k in ("policy", "init", "seed", "lr")}
                self.runs[name] = self._wandb.init(
                    project=self.project,
                    group=self.group,
                    name=name,
                    config=config,
                    dir=str(self.path),
                    reinit="create_new",
                )
            scalars = {k: v for k, v in row.items() if isinstance(v, float) and k not in self.SKIP}
            self.runs[name].log(scalars, step=int(row["env_steps"]))

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()
