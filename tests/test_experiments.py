"""Experiment files: every file and variant loads and validates, and the paper-setting files hold
the authors' per-env settings (DESIGN.md section 4), so `hyperjax sweep --experiment` starts from
research-grade defaults."""

from pathlib import Path

import pytest
import yaml

from hyperjax.errors import ConfigError
from hyperjax.experiment import load_experiment

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
FILES = sorted(EXPERIMENTS.rglob("*.yaml"))

# env -> (envs, steps, epochs, minibatches, clip, entropy, gamma, lambda, frames, latent, KL)
PAPER = {
    "cheetah-dir": (16, 400, 2, 4, 0.1, 0.01, 0.97, 0.9, 7.5e7, 5, 0.1),
    "cheetah-vel": (16, 400, 2, 4, 0.1, 0.01, 0.97, 0.9, 7.5e7, 5, 0.1),
    "ant-dir": (16, 200, 2, 1, 0.1, 0.01, 0.97, 0.9, 7.5e7, 5, 0.1),
    "walker-params": (16, 200, 2, 2, 0.05, 0.01, 0.97, 0.9, 7.5e7, 10, 1.0),
    "pusher-goal": (8, 600, 2, 8, 0.1, 0.001, 0.97, 0.9, 5e7, 5, 1.0),
    "reacher-goal": (8, 600, 2, 8, 0.1, 0.001, 0.97, 0.9, 5e7, 5, 1.0),
    "grid-world": (16, 60, 2, 4, 0.05, 0.1, 0.95, 0.95, 4e6, 5, 1.0),
}


def variants(path: Path) -> list[str | None]:
    return [None, *(yaml.safe_load(path.read_text()).get("variants") or {})]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_file_and_variant_loads(path):
    for variant in variants(path):
        spec = load_experiment(path, variant)
        assert spec.train.num_chunks >= 1 and spec.inits and spec.seeds


def test_paper_settings_per_env():
    checked = set()
    for path in FILES:
        spec = load_experiment(path)
        env, algo = spec.train.env, spec.train.algo
        if algo != "varibad" or env not in PAPER:
            continue
        ppo, vae, train = spec.train.ppo, spec.train.vae, spec.train
        expected = PAPER[env]
        actual = (
            ppo.num_envs,
            ppo.num_steps,
            ppo.epochs,
            ppo.minibatches,
            ppo.clip_eps,
            ppo.ent_coef,
            ppo.gamma,
            ppo.gae_lambda,
            train.total_env_steps,
            train.encoder.latent_dim,
            vae.kl_weight,
        )
        assert actual[:8] == expected[:8], path
        assert abs(actual[8] - expected[8]) / expected[8] < 0.01, path  # whole chunks
        assert actual[9:] == expected[9:], path
        assert (train.policy.state_embed_dim, train.policy.hidden) == (256, (256, 128))
        assert train.encoder.gru_dim == 256 and vae.lr == 1e-3 and vae.buffer_trials == 10000
        checked.add(env)
    assert checked == set(PAPER)


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
