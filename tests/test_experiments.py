"""Experiment files: every file and variant loads and validates, and a malformed file names the
field. (That the paper-setting files hold the authors' per-env settings is checked, setting by
setting with the reference's file and line, in test_fidelity_settings.py.)"""

from pathlib import Path

import pytest
import yaml

from hyperjax import envs
from hyperjax.errors import ConfigError
from hyperjax.experiment import EvalSchedule, load_eval_schedule, load_experiment

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


def test_eval_schedule_is_read_with_variants_overriding_it(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(
        "eval: {every: 4, trials: 16}\n"
        "variants:\n  cpu: {eval: {trials: 2}}\n  silent: {eval: {every: 0}}\n"
        "  none: {seeds: [1]}\n"
    )
    assert load_eval_schedule(path) == EvalSchedule(every=4, trials=16)
    assert load_eval_schedule(path, "cpu") == EvalSchedule(every=4, trials=2)
    assert load_eval_schedule(path, "silent").every == 0
    assert load_eval_schedule(path, "none") == EvalSchedule(every=4, trials=16)
    assert load_experiment(path, "cpu").seeds == (0,)  # not a SweepSpec field: no effect there
    path.write_text("seeds: [0]\n")
    assert load_eval_schedule(path) == EvalSchedule()  # no `eval:`: off


def test_bad_eval_schedules_name_the_field(tmp_path):
    cases = {
        "eval: {every: -1}": "eval.every: must be >= 0",
        "eval: {trials: 0}": "eval.trials: must be a finite number > 0",
        "eval: {evry: 2}": "eval.evry: unknown key; allowed: every, trials",
        "eval: {every: two}": "eval.every: expected a number",
        "eval: {every: 1.5}": "eval.every: expected an integer",
        "eval: 5": "eval: expected a mapping",
        "variants: {q: {eval: {trials: -3}}}": "eval.trials: must be a finite number > 0",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as error:
            load_eval_schedule(path, "q" if "variants" in text else None)
        assert str(error.value).startswith(message), (text, str(error.value))
        assert "\n" not in str(error.value)


PAPER_FILES = [p for p in FILES if p.name != "demo.yaml"]


@pytest.mark.parametrize("path", PAPER_FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_cpu_variants_evaluate_often_and_cheaply(path):
    """Every variant of a paper file evaluates during training (but gpu, whose time plan counts
    none); the CPU variants about 10 times a run (at least every chunk) on so few trials that
    the evaluation's env steps stay under 10% of the training frames. An env whose evaluation
    needs a trial per class (ML10: 10) costs more than that at a CPU budget: it evaluates on
    that least number of trials, once, after the last chunk."""
    for variant in variants(path)[1:]:
        spec, schedule = load_experiment(path, variant), load_eval_schedule(path, variant)
        if variant == "gpu":
            assert schedule.every == 0
            continue
        train = spec.train
        env = envs.env_class(train.env)
        episodes = schedule.episodes or train.episodes_per_trial or env.episodes_per_trial
        trial = (train.episode_length or env.episode_length) * episodes
        points = -(-train.num_chunks // schedule.every)
        share = 2 * schedule.trials * trial / (schedule.every * train.steps_per_chunk)
        family = envs.make_meta_env(train.env)
        per_class = len(family.classes["train"]) if hasattr(family, "classes") else 1
        if schedule.trials == per_class and share >= 0.1:
            assert schedule.every == train.num_chunks, (variant, "evaluate once, at the end")
            continue
        assert points >= min(8, train.num_chunks // 2) and points <= 16, (variant, points)
        assert share < 0.1, (variant, share)
