"""Sweep specifications: typed `SweepSpec`, loadable from a YAML experiment file.

An experiment file mirrors `SweepSpec`'s fields (nested `train:`, `train.policy:` ...). Optional
`variants:` hold named overrides (e.g. `quick` for a CPU, `full` for the paper's budget) picked
with `--variant`. An optional `eval: {every: N, trials: K}` schedules the deterministic
evaluation during training (`EvalSchedule`; the sweep's `--eval-every` / `--eval-trials` flags
override it). Unknown or malformed keys are refused with the field's dotted name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hyperjax.config import SIZE_PRESETS, TrainConfig, check_kind_of_schemes
from hyperjax.errors import ConfigError, check_choice, check_positive, check_run_name


@dataclass(frozen=True)
class SweepSpec:
    """A grid of runs: init schemes x seeds x learning rates, on one training setup."""

    train: TrainConfig = field(default_factory=TrainConfig)
    inits: tuple[str, ...] = ("bias_hyperinit",)
    seeds: tuple[int, ...] = (0,)
    lrs: tuple[float, ...] = ()  # empty: train.ppo.lr
    name: str = "sweep"

    def __post_init__(self) -> None:
        check_run_name(self.name)

    @property
    def learning_rates(self) -> tuple[float, ...]:
        return self.lrs or (self.train.ppo.lr,)


@dataclass(frozen=True)
class EvalSchedule:
    """Deterministic evaluation during training: every `every` chunks (and after the last), each
    run on `trials` fresh trials of the train and the held-out test split; 0: off. `episodes`:
    episodes per evaluation trial (None: the training trial's)."""

    every: int = 0
    trials: int = 64
    episodes: int | None = None

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ConfigError(f"eval.every: must be >= 0 (0: off), got {self.every}")
        check_positive("eval.trials", self.trials)
        if self.episodes is not None:
            check_positive("eval.episodes", self.episodes)


EVAL_KEY = "eval"  # the experiment file's key for its EvalSchedule (not a SweepSpec field)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls, data: dict, prefix: str):
    """A dataclass from a nested dict, every key checked against the fields."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'experiment'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{name}: unknown key; allowed: {', '.join(fields)}")
        kwargs[key] = _convert(hints[key], value, name)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{prefix or 'experiment'}: {error}") from None


def _convert(hint, value, name: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{name}.")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, name) for v in value)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _convert(options[0], value, name)
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return hint(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _expand_size(data: dict, where: str) -> dict:
    """Replace a `train.policy.size` preset by the two width fields it stands for.

    Done on the base and on a variant separately, before they merge, so that a variant's size
    overrides the base's explicit widths (and explicit widths beside a size in one mapping win).
    """
    policy = data.get("train", {}).get("policy", {}) if isinstance(data.get("train"), dict) else {}
    if not isinstance(policy, dict) or "size" not in policy:
        return data
    policy = dict(policy)
    size = policy.pop("size")
    check_choice(f"{where}train.policy.size", size, SIZE_PRESETS)
    state_embed_dim, hidden = SIZE_PRESETS[size]
    policy.setdefault("state_embed_dim", state_embed_dim)
    policy.setdefault("hidden", list(hidden))
    return {**data, "train": {**data["train"], "policy": policy}}


def _resolve(data: dict, variant: str | None, source: str) -> dict:
    """The base mapping with the variant's overrides merged in (sizes expanded)."""
    data = _expand_size(dict(data), "")
    variants = data.pop("variants", {}) or {}
    if not isinstance(variants, dict):
        raise ConfigError(f"variants: expected a mapping of variant names, got {variants!r}")
    if variant is not None:
        if variant not in variants:
            allowed = ", ".join(map(str, variants)) or "(none defined)"
            raise ConfigError(f"variant: {variant!r} not in {source}; allowed: {allowed}")
        if not isinstance(variants[variant], dict):
            raise ConfigError(f"variants.{variant}: expected a mapping of fields")
        data = _merge(data, _expand_size(variants[variant], f"variants.{variant}."))
    return data


def spec_from_dict(data: dict, variant: str | None = None, source: str = "experiment") -> SweepSpec:
    resolved = _resolve(data, variant, source)
    resolved.pop(EVAL_KEY, None)  # the evaluation schedule: eval_schedule_from_dict
    return _build(SweepSpec, resolved, "")


def eval_schedule_from_dict(
    data: dict, variant: str | None = None, source: str = "experiment"
) -> EvalSchedule:
    """The file's `eval:` mapping (a variant's keys override the base's); off when absent."""
    schedule = _resolve(data, variant, source).get(EVAL_KEY) or {}
    if not isinstance(schedule, dict):
        expected = "a mapping {every: N, trials: K}"
        raise ConfigError(f"{EVAL_KEY}: expected {expected}, got {schedule!r}")
    return _build(EvalSchedule, schedule, f"{EVAL_KEY}.")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error, not the last wins."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"experiment: no such file {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"experiment: {path} is not valid YAML ({first_line})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"experiment: {path} must hold a mapping of fields")
    return data


def load_eval_schedule(path: Path | str, variant: str | None = None) -> EvalSchedule:
    """The evaluation schedule of a YAML experiment file (and variant), validated."""
    return eval_schedule_from_dict(_read_yaml(Path(path)), variant, source=str(path))


def load_experiment(path: Path | str, variant: str | None = None) -> SweepSpec:
    """Read a YAML experiment file into a validated SweepSpec."""
    path = Path(path)
    data = _read_yaml(path)
    spec = spec_from_dict(data, variant, source=str(path))
    # A kind written in the file must agree with the init schemes, which set it per group. (A
    # run folder's config.json records the resolved kind: it is read by spec_from_dict only.)
    for part in (data, (data.get("variants") or {}).get(variant) or {}):
        policy = ((part.get("train") or {}).get("policy") or {}) if isinstance(part, dict) else {}
        if isinstance(policy, dict) and "kind" in policy:
            check_kind_of_schemes(policy["kind"], spec.inits)
    return spec


def spec_to_dict(spec: SweepSpec) -> dict:
    return dataclasses.asdict(spec)
