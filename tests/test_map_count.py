"""The memory-mapping guard: a command whose ML10 programs would hold more mappings than this
host's vm.max_map_count allows is refused in one line, before compiling or writing anything."""

from pathlib import Path

import pytest

from hyperjax import cli, envs, map_count
from hyperjax.config import TrainConfig
from hyperjax.errors import ConfigError
from hyperjax.sweep import GroupProgram

DEFAULT_LIMIT = 65_530  # Linux's


def _limit(tmp_path: Path, value: int, monkeypatch) -> Path:
    path = tmp_path / "max_map_count"
    path.write_text(f"{value}\n")
    monkeypatch.setattr(map_count, "MAX_MAP_COUNT", path)
    return path


def test_ml10_programs_need_more_than_linux_allows_and_small_envs_are_not_checked():
    per_scene = envs.cpu_mappings_per_scene("ml10")
    assert per_scene == envs.cpu_mappings_per_scene("ml1") > 0
    # Two groups (standard, hypernetwork) of an ML10 sweep that evaluates: per group its init
    # and training programs (10 scenes each) and one evaluation program per split (10 and 5).
    need = map_count.mappings_needed("ml10", 2 * [10, 10, 10, 5])
    assert need == map_count.PROCESS_MAPPINGS + per_scene * 70
    assert need > DEFAULT_LIMIT  # what killed the ML10 quick sweep
    assert map_count.mappings_needed("ml10", [10]) < DEFAULT_LIMIT  # one program fits
    assert envs.cpu_mappings_per_scene("grid-world") is None
    assert map_count.mappings_needed("grid-world", [1] * 100) is None


def test_the_limit_file_decides(tmp_path, monkeypatch):
    scenes = 2 * [10, 10, 10, 5]
    need = map_count.mappings_needed("ml10", scenes)
    _limit(tmp_path, need, monkeypatch)
    map_count.check_map_count("ml10", scenes)  # exactly enough
    _limit(tmp_path, need - 1, monkeypatch)
    with pytest.raises(ConfigError, match=f"need about {need:,} on XLA:CPU") as error:
        map_count.check_map_count("ml10", scenes)
    message = str(error.value)
    assert message.startswith("vm.max_map_count: this host lets a process hold")
    assert f"sudo sysctl -w vm.max_map_count={max(262_144, 2 * need)}" in message
    monkeypatch.setattr(map_count, "MAX_MAP_COUNT", tmp_path / "absent")  # not Linux
    map_count.check_map_count("ml10", scenes)


def test_programs_counted_per_command(tmp_path, monkeypatch):
    """Per group: init and training programs when the command trains, one evaluation program
    per split asked for; ML10's narrowed splits count their own classes."""
    seen = []
    monkeypatch.setattr(map_count, "check_map_count", lambda env, scenes: seen.append(scenes))
    train = TrainConfig(env="ml10", episode_length=20)
    cli.check_map_count_of(train, 2, True, ("train", "test"), None)
    cli.check_map_count_of(train, 1, False, ("test",), 10)
    from hyperjax.envs.meta_world_ml10 import MetaWorldML10

    narrowed = MetaWorldML10(train_classes=["reach", "push"], test_classes=["sweep-into"])
    monkeypatch.setattr(envs, "make_meta_env", lambda name, **kw: narrowed)
    cli.check_map_count_of(train, 1, True, ("test",), None)
    assert seen == [2 * [10, 10, 10, 5], [5], [2, 2, 1]]


def test_an_ml10_sweep_over_the_limit_is_refused_before_compiling(tmp_path, capsys, monkeypatch):
    _limit(tmp_path, DEFAULT_LIMIT, monkeypatch)
    monkeypatch.setattr(GroupProgram, "build", lambda *a, **k: pytest.fail("compiled"))
    runs_dir = tmp_path / "runs"
    argv = [
        "sweep", "--env", "ml10", "--inits", "standard", "bias_hyperinit",
        "--train.ppo.num-envs", "10", "--train.ppo.minibatches", "2",
        "--eval-every", "1", "--eval-trials", "10", "--name", "ml10", "--runs-dir", str(runs_dir),
    ]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: vm.max_map_count: ") and "\n" not in err, err
    assert "sudo sysctl -w vm.max_map_count=" in err
    assert not runs_dir.exists()  # nothing written
