"""The policy diagnostics over training (`hyperjax plot --diagnostics`): per method, the mean and
95% bootstrap CI over seeds of each quantity of `hyperjax.diagnostics`, one panel each, for one
layer or summarised over the hidden layers; and a table of their first and last values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib import ticker

from hyperjax.diagnostics import PREFIX, QUANTITIES
from hyperjax.errors import ConfigError, check_choice
from hyperjax.nets.policy import OUTPUT_LAYERS
from hyperjax.plot import interval_estimates, load_scores, plt, save_figure
from hyperjax.runlog import read_metrics

HIDDEN = "hidden"  # the `layer` that summarises every hidden layer of the actor and critic
TITLES = {
    "scale_ratio": "weight RMS / base init's",
    "saturation": "saturated tanh units (|tanh| > 0.95)",
    "task_sensitivity": "task sensitivity of the weights",
    "head_norm": "norm of the task heads",
}
LOG_SCALE = ("scale_ratio", "head_norm")


def diagnostic_layers(run_dir: Path | str) -> list[str]:
    """The layers a run folder's metrics.csv has diagnostics of (empty if none)."""
    columns = read_metrics(run_dir)[0].keys()
    layers = [c[len(PREFIX) :].rsplit("/", 1)[0] for c in columns if c.startswith(PREFIX)]
    return list(dict.fromkeys(layers))


def _summary(quantity: str, layer: str, layers: list[str]) -> Callable[[dict], float]:
    """A row's value of `quantity` for `layer`, or over the hidden layers: the geometric mean of
    the scale ratios, the root sum of squares of the head norms, the mean otherwise."""
    if layer != HIDDEN:
        return lambda row: row.get(f"{PREFIX}{layer}/{quantity}", np.nan)
    hidden = [name for name in layers if name not in (*OUTPUT_LAYERS, "task_embed")]
    columns = [f"{PREFIX}{name}/{quantity}" for name in hidden]
    if quantity == "scale_ratio":
        return lambda row: float(np.exp(np.mean(np.log([row[c] for c in columns]))))
    if quantity == "head_norm":
        return lambda row: float(np.sqrt(np.sum(np.square([row[c] for c in columns]))))
    return lambda row: float(np.mean([row[c] for c in columns]))


def check_layer(run_dirs: list[Path | str], layer: str) -> list[str]:
    """The diagnosed layers of the first run folder; raises ConfigError if it has none or
    `layer` is not one of them."""
    layers = diagnostic_layers(run_dirs[0])
    if not layers:
        raise ConfigError(
            f"run_dirs: {run_dirs[0]} has no diagnostics (run with train.diagnostic_samples > 0)"
        )
    check_choice("layer", layer, [HIDDEN, *layers])
    return layers


def plot_diagnostics(run_dirs: list[Path | str], out: Path | str, layer: str = HIDDEN) -> Path:
    """One panel per quantity, a line (mean, shaded 95% CI over seeds) per method; PNG and SVG."""
    layers = check_layer(run_dirs, layer)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharex=True)
    colors: dict[str, str] = {}  # one colour per method in every panel
    for ax, quantity in zip(axes.flat, QUANTITIES, strict=True):
        scores, steps = load_scores(run_dirs, _summary(quantity, layer, layers))
        for method in sorted(scores):
            colors.setdefault(method, f"C{len(colors)}")
        scores = {m: s for m, s in scores.items() if np.isfinite(s).all()}  # no heads: no line
        point, interval = interval_estimates(scores) if scores else ({}, {})
        for method in sorted(scores):
            x, color = steps[method][: len(point[method])], colors[method]
            ax.plot(x, point[method], color=color, label=f"{method} (n={len(scores[method])})")
            ax.fill_between(x, *interval[method], color=color, alpha=0.2)
        if quantity in LOG_SCALE:
            ax.set_yscale("log")
            # Labels at 1, 2, 5 x 10^k, written 0.2 rather than 2 x 10^-1.
            ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
        ax.set_title(TITLES[quantity], fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("env steps per run")
    where = "hidden layers (actor and critic)" if layer == HIDDEN else layer
    fig.suptitle(f"policy diagnostics, {where}", fontsize=10)
    return save_figure(fig, axes, out)


def diagnostics_markdown(run_dirs: list[Path | str], layer: str = HIDDEN) -> str:
    """Per method: each quantity's mean over seeds after the first and after the last chunk
    (`hyperjax inspect` gives the values at init)."""
    layers = check_layer(run_dirs, layer)
    series = {q: load_scores(run_dirs, _summary(q, layer, layers))[0] for q in QUANTITIES}
    methods = sorted(series["scale_ratio"])
    header = " | ".join(q.replace("_", " ") for q in QUANTITIES)
    lines = [
        f"| method ({layer}; after the first chunk → the last) | {header} |",
        "|---" * (len(QUANTITIES) + 1) + "|",
    ]
    for method in methods:
        cells = []
        for quantity in QUANTITIES:
            scores = series[quantity][method]
            first, last = np.mean(scores[:, 0]), np.mean(scores[:, -1])
            cells.append("-" if not np.isfinite(first) else f"{first:.3g} → {last:.3g}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
