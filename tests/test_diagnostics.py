"""`hyperjax inspect`: the generated network's scale, saturation and task dependence at init
reproduce the paper's reasoning (naive heads several times too large, Bias-HyperInit exactly f)."""

import functools
import math

import jax
import pytest

from hyperjax import cli, diagnostics
from hyperjax.config import PolicyConfig, TrainConfig

CFG = TrainConfig(env="grid-world", algo="rl2", policy=PolicyConfig.sized("XS"))
SCHEMES = ("standard", "kaiming", "hfi", "bias_hyperinit", "film_normc", "film_bias_hyperinit")


@functools.cache
def _rows() -> dict[tuple[str, str, str], dict]:
    rows = diagnostics.inspect_inits(CFG, SCHEMES, jax.random.key(0), num_envs=4, num_steps=30)
    return {(r["init"], r["layer"], r["source"]): r for r in rows}


LAYERS = ("actor_hidden_0", "critic_hidden_0", "actor_hidden_1", "critic_hidden_1")


@pytest.mark.parametrize("source", diagnostics.SOURCES)
@pytest.mark.parametrize("scheme", ["bias_hyperinit", "film_bias_hyperinit", "standard"])
def test_correct_inits_generate_the_base_init_whatever_the_task(scheme, source):
    rows = _rows()
    for layer in (*LAYERS, "actor_out"):
        row = rows[(scheme, layer, source)]
        assert row["scale_ratio"] == pytest.approx(1.0, abs=1e-4), (layer, row)
        assert row["task_sensitivity"] == pytest.approx(0.0, abs=1e-6), (layer, row)
    # The critic output is one uniform draw: 1 up to that draw's sampling noise.
    assert rows[(scheme, "critic_out", source)]["scale_ratio"] == pytest.approx(1.0, abs=0.2)
    for layer in LAYERS:
        assert rows[(scheme, layer, source)]["saturation"] < 0.15


def test_a_naive_init_generates_weights_several_times_too_large_and_saturates():
    rows = _rows()
    for layer in LAYERS:
        unit = rows[("kaiming", layer, "unit")]
        assert unit["scale_ratio"] > 3.0, unit  # sqrt(d_in E[e^2]): 3.7 at XS, 7.6 at XL
        assert unit["saturation"] > 0.5, unit
        assert unit["task_sensitivity"] > 0.5, unit  # the generated net depends on the task
        assert rows[("bias_hyperinit", layer, "unit")]["saturation"] < unit["saturation"] / 3
    # The categorical head's f is orthogonal with gain 0.01: a naive head is hundreds x larger.
    assert rows[("kaiming", "actor_out", "unit")]["scale_ratio"] > 100


def test_rows_cover_every_scheme_layer_and_source_with_parameter_counts():
    rows = _rows()
    assert len(rows) == len(SCHEMES) * 7 * len(diagnostics.SOURCES)  # task_embed + 6 layers
    for (_, layer, _), row in rows.items():
        assert row["params"] > 0
        if layer == "task_embed":
            assert math.isnan(row["scale_ratio"]) and 0.0 <= row["saturation"] <= 1.0
    # A generated layer has d_k + 1 times the parameters of the layer it generates (+ bias head).
    standard = rows[("standard", "critic_hidden_1", "unit")]["params"]
    hyper = rows[("bias_hyperinit", "critic_hidden_1", "unit")]["params"]
    width_in, width_out = CFG.policy.hidden
    assert standard == width_in * width_out + width_out
    assert hyper == (CFG.policy.task_embed_dim + 1) * standard


def test_inspect_command_writes_the_table(tmp_path, capsys):
    out = tmp_path / "inspect" / "grid"
    argv = ["inspect", "--env", "grid-world", "--size", "XS", "--inits", "standard"]
    argv += ["bias_hyperinit", "--num-envs", "2", "--num-steps", "15", "--out", str(out)]
    assert cli.main(argv) == 0
    table = out.with_suffix(".md").read_text()
    assert "| bias_hyperinit | actor_hidden_0 |" in table and "1.00 / 1.00" in table
    assert out.with_suffix(".csv").read_text().startswith("init,layer,source,params")
    assert "table:" in capsys.readouterr().out


def test_inspect_refuses_unknown_inits_in_one_line(tmp_path, capsys):
    argv = ["inspect", "--inits", "bogus", "--out", str(tmp_path / "x")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperjax: error: init") and "\n" not in err
    assert list(tmp_path.iterdir()) == []
