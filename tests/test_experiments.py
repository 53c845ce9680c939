"""Experiment files: every file and variant loads and validates, and a malformed file names the
field. (That the paper-setting files hold the authors' per-env settings is checked, setting by
setting with the reference's file and line, in test_fidelity_settings.py.)"""

from pathlib import Path

import pytest
import yaml

from hyperjax.errors import ConfigError
from hyperjax.experiment import load_experiment

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
FILES = sorted(EXPERIMENTS.rglob("*.yaml"))


def variants(path: Path) -> list[str | None]:
    return [None, *(yaml.safe_load(path.read_text()).get("variants") or {})]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_file_and_variant_loads(path):
    for variant in variants(path):
        spec = load_experiment(path, variant)
        assert spec.train.num_chunks >= 1 and spec.inits and spec.seeds


def test_bad_experiment_files_name_the_field(tmp_path):
    cases = {
        "unknown key": ("train: {ppo: {num_envz: 3}}", "train.ppo.num_envz"),
        "wrong type": ("seeds: three", "seeds"),
        "bad yaml": ("train: [unclosed", "experiment"),
        "not a mapping": ("- 1\n- 2", "experiment"),
        "bad size": ("train: {policy: {size: XXXL}}", "train.policy.size"),
        "bad value": ("train: {ppo: {minibatches: 5}}", "ppo.minibatches"),
    }
    for name, (text, field) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as error:
            load_experiment(path)
        assert str(error.value).startswith(field), (name, str(error.value))
    with pytest.raises(ConfigError, match="variant: 'nope'"):
        load_experiment(FILES[0], "nope")
