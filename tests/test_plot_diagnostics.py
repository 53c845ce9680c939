"""The diagnostics figure's summary over hidden layers and its first/last table, on a metrics
file written by hand (no training)."""

import csv
import math

import pytest

from hyperjax import plot_diagnostics
from hyperjax.errors import ConfigError

LAYERS = ("actor_hidden_0", "critic_hidden_0", "actor_out")


def write_metrics(path, values):
    """values: {(run, chunk): {layer: (scale_ratio, saturation, task_sensitivity, head_norm)}}"""
    rows = []
    for (run, chunk), layers in values.items():
        init = run.split("-")[0]
        row = {"run": run, "policy": "hypernet", "init": init, "seed": 0, "lr": 1e-3}
        row.update(chunk=chunk, update=chunk + 1, env_steps=100 * (chunk + 1), trial_return=0.0)
        for layer, numbers in layers.items():
            for quantity, number in zip(plot_diagnostics.QUANTITIES, numbers, strict=True):
                if not (layer == "actor_out" and quantity == "saturation"):
                    row[f"diag/{layer}/{quantity}"] = number
        rows.append(row)
    path.mkdir(parents=True)
    with (path / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_hidden_summary_and_table(tmp_path):
    layers = {
        "actor_hidden_0": (4.0, 0.2, 0.5, 3.0),
        "critic_hidden_0": (1.0, 0.4, 0.1, 4.0),
        "actor_out": (100.0, math.nan, 0.9, 1.0),
    }
    later = {name: (2 * a, b, c, d) for name, (a, b, c, d) in layers.items()}
    write_metrics(tmp_path / "run", {("kaiming-0", 0): layers, ("kaiming-0", 1): later})
    assert plot_diagnostics.diagnostic_layers(tmp_path / "run") == list(LAYERS)
    table = plot_diagnostics.diagnostics_markdown([tmp_path / "run"])
    row = next(line for line in table.splitlines() if line.startswith("| hypernet+kaiming |"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    # Hidden layers only: geometric mean 2 -> 4, mean 0.3, mean 0.3, root sum of squares 5.
    assert cells == ["2 → 4", "0.3 → 0.3", "0.3 → 0.3", "5 → 5"]
    one = plot_diagnostics.diagnostics_markdown([tmp_path / "run"], layer="actor_out")
    assert "| 100 → 200 | - |" in one
    figure = plot_diagnostics.plot_diagnostics([tmp_path / "run"], tmp_path / "fig" / "d")
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_unknown_layer_names_the_allowed_ones(tmp_path):
    write_metrics(tmp_path / "run", {("hfi-0", 0): {"actor_hidden_0": (1, 0, 0, 1)}})
    with pytest.raises(ConfigError, match=r"^layer: unknown value 'x'; allowed: hidden"):
        plot_diagnostics.check_layer([tmp_path / "run"], "x")
