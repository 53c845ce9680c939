"""Learning curves and final-result tables over seeds, with rliable's bootstrap intervals.

Two kinds of curve: the training metrics of metrics.csv (one point per chunk, stochastic actions
on the tasks being trained on), and the deterministic evaluation of eval.csv (mean actions on
fresh tasks of a split, every `--eval-every` chunks), which is what the authors plot and report:
their curves are the evaluation return every `eval_interval` updates (H utils/evaluation.py:68-77,
metalearner.py:406-443) and their tables its mean over the whole curve (H visualize_runs.py:316).
"""

from __future__ import annotations

import csv
import json
import math
import operator
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from rliable import library as rly  # noqa: E402
from rliable import metrics as rly_metrics  # noqa: E402

from hyperjax.runlog import EVAL_FILE, METRICS_FILE, read_metrics  # noqa: E402

BOOTSTRAP_REPS = 2000
HEADLINE_SPLIT = "test"  # the headline: deterministic evaluation on held-out tasks
# Eval summaries of a trial's final episode (after adaptation) -> eval.csv's per-episode column.
LAST_EPISODE_COLUMNS = {"last_episode_return": "episode_return", "last_episode_success": "success"}
ID_COLUMNS = ("run", "policy", "init", "seed", "lr", "chunk", "update", "env_steps")
LR_SEPARATOR = " lr="  # in a method's name when a sweep has several learning rates


def method_name(row: dict, with_lr: bool) -> str:
    name = "standard" if row["policy"] == "standard" else f"{row['policy']}+{row['init']}"
    return f"{name}{LR_SEPARATOR}{row['lr']:g}" if with_lr else name


def method_namer(pairs: list[tuple[Path | str, dict]]) -> Callable[[Path | str, dict], str]:
    """(folder, row) -> its method's name over these rows of one or more run folders. Runs are
    told apart by folder and name: when two folders hold a run of the same name (two sweeps of
    the same grid, say), every method is prefixed with its folder's name, so that their seeds
    are never pooled; folders with distinct runs (a sweep and its extension to other rates)
    share method names."""
    with_lr = len({row["lr"] for _, row in pairs}) > 1
    folders_of: dict[str, set] = defaultdict(set)
    for folder, row in pairs:
        folders_of[row["run"]].add(Path(folder))
    by_folder = any(len(folders) > 1 for folders in folders_of.values())

    def name(folder: Path | str, row: dict) -> str:
        method = method_name(row, with_lr)
        return f"{Path(folder).name}: {method}" if by_folder else method

    return name


def split_learning_rate(method: str) -> tuple[str, str | None]:
    """ "hypernet+hfi lr=0.001" -> ("hypernet+hfi", "0.001"); without a rate -> (name, None)."""
    name, _, rate = method.partition(LR_SEPARATOR)
    return name, rate or None


# Line styles for the learning rates of a sweep, smallest rate first.
RATE_LINESTYLES = ("-", "--", "-.", ":", (0, (3, 1, 1, 1, 1, 1)))


def curve_styles(methods: list[str]) -> dict[str, dict]:
    """Matplotlib line properties per method: one color per method and, in a sweep over learning
    rates, one line style per rate (a 3-method x 4-rate sweep would otherwise reuse the default
    cycle's ten colors for different methods)."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = sorted({split_learning_rate(m)[0] for m in methods})
    rates = sorted({r for _, r in map(split_learning_rate, methods) if r is not None}, key=float)
    styles = {}
    for method in methods:
        name, rate = split_learning_rate(method)
        style = RATE_LINESTYLES[rates.index(rate) % len(RATE_LINESTYLES)] if rate else "-"
        styles[method] = {"color": colors[names.index(name) % len(colors)], "linestyle": style}
    return styles


def load_scores(
    run_dirs: list[Path | str], metric: str | Callable[[dict], float]
) -> tuple[dict, dict]:
    """{method: array (seeds, chunks)} of `metric` (a column, or a function of a row), and
    {method: the env steps per run of each chunk}: its own, so sweeps of other budgets are
    drawn where they ran."""
    pairs = [(d, row) for d in run_dirs for row in read_metrics(d)]
    value = metric if callable(metric) else operator.itemgetter(metric)
    name = method_namer(pairs)
    per_run: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    steps: dict[str, dict[float, None]] = defaultdict(dict)
    for folder, row in pairs:
        method = name(folder, row)
        per_run[method][folder, row["run"]].append(value(row))
        steps[method][row["env_steps"]] = None
    scores, x = {}, {}
    for method, runs in per_run.items():
        length = min(len(curve) for curve in runs.values())
        scores[method] = np.array([curve[:length] for curve in runs.values()], dtype=float)
        x[method] = np.array(list(steps[method]))[:length]
    return scores, x


def steps_per_chunk(run_dir: Path | str) -> float:
    """Env steps per run in one chunk of a sweep, from its metrics.csv (1.0 without one)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return 1.0
    with path.open(newline="") as f:
        first = next(csv.DictReader(f), None)
    return float(first["env_steps"]) / (int(first["chunk"]) + 1) if first else 1.0


def eval_value(row: dict, metric: str) -> float:
    """An eval.csv row's `metric`: a column, or `last_episode_return` / `last_episode_success`
    (the trial's final episode: after adaptation)."""
    if metric not in LAST_EPISODE_COLUMNS:
        return row[metric]
    column = LAST_EPISODE_COLUMNS[metric]
    last = max(int(k.rsplit("_", 1)[1]) for k in row if k.startswith(f"{column}_"))
    return row[f"{column}_{last}"]


def _eval_rows(run_dirs: list[Path | str]) -> list[tuple[Path, dict]]:
    """(folder, row) of every eval.csv row of the folders that have one."""
    evaluated = [Path(d) for d in run_dirs if (Path(d) / EVAL_FILE).exists()]
    return [(d, row) for d in evaluated for row in read_metrics(d, EVAL_FILE)]


def evaluated_chunks(run_dir: Path | str, split: str) -> int:
    """The most chunks at which one run of the folder was evaluated on `split` (0: none)."""
    chunks: dict[str, set] = defaultdict(set)
    for _, row in _eval_rows([run_dir]):
        if row["split"] == split:
            chunks[row["run"]].add(row["chunk"])
    return max(map(len, chunks.values()), default=0)


def has_eval_curve(run_dirs: list[Path | str], split: str = HEADLINE_SPLIT) -> bool:
    """Whether every folder evaluated its runs on `split` during training (at two chunks or
    more: `--eval-every`), not only once after it (`hyperjax eval`)."""
    return bool(run_dirs) and all(evaluated_chunks(d, split) >= 2 for d in run_dirs)


def eval_curves(
    run_dirs: list[Path | str], split: str, metric: str = "trial_return"
) -> tuple[dict, dict]:
    """{method: array (seeds, evaluations)} of eval.csv's `metric` (see `eval_value`) on `split`,
    in chunk order, and {method: the env steps per run at each evaluation}. When a chunk was
    evaluated twice (a `hyperjax eval` after the sweep repeats its last chunk, with more
    trials), the later row counts."""
    rows = _eval_rows(run_dirs)
    name = method_namer(rows)
    per_run: dict[str, dict[tuple, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    steps: dict[str, dict[int, float]] = defaultdict(dict)
    chunk_steps = {d: steps_per_chunk(d) for d in {d for d, _ in rows}}
    for folder, row in rows:
        if row["split"] != split:
            continue
        method = name(folder, row)
        curve = per_run[method][folder, row["run"]]
        curve[row["chunk"]] = eval_value(row, metric)  # a later row of the chunk replaces it
        steps[method].setdefault(row["chunk"], (row["chunk"] + 1) * chunk_steps[folder])
    scores, x = {}, {}
    for method, runs in per_run.items():
        curves = [[value for _, value in sorted(curve.items())] for curve in runs.values()]
        length = min(map(len, curves))
        scores[method] = np.array([curve[:length] for curve in curves], dtype=float)
        x[method] = np.array([steps[method][chunk] for chunk in sorted(steps[method])])[:length]
    return scores, x


def curve_means(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{method: each seed's mean over its whole curve}: the authors' score of a run (the mean of
    its evaluation returns over training, H visualize_runs.py:316-317, "AVG_Return")."""
    return {m: np.nanmean(s, axis=1) for m, s in scores.items()}


def interval_estimates(scores: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Mean over seeds and its 95% stratified-bootstrap interval, per chunk."""
    score_dict = {m: s[:, None, :] for m, s in scores.items()}  # (runs, tasks=1, chunks)

    def mean_per_chunk(x: np.ndarray) -> np.ndarray:
        return np.array([rly_metrics.aggregate_mean(x[..., c]) for c in range(x.shape[-1])])

    return bootstrap_intervals(score_dict, mean_per_chunk)


def bootstrap_intervals(score_dict: dict, func) -> tuple[dict, dict]:
    """rliable's stratified-bootstrap estimates, reproducible: rliable 1.2 draws its resamples
    from numpy's global generator (its `random_state` reaches arch, which never uses it for
    them), so the global state is seeded here and restored afterwards."""
    saved = np.random.get_state()  # noqa: NPY002 (rliable draws from the legacy global)
    np.random.seed(0)  # noqa: NPY002
    try:
        return rly.get_interval_estimates(score_dict, func, reps=BOOTSTRAP_REPS)
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def plot_curves(
    run_dirs: list[Path | str],
    out: Path | str,
    metric: str = "trial_return",
    split: str | None = None,
) -> Path:
    """Mean curve per method with a shaded 95% bootstrap CI; writes PNG and SVG. With `split`,
    the deterministic evaluation curve on that task split (eval.csv), else the training metric."""
    if split is None:
        scores, steps = load_scores(run_dirs, metric)
        label = metric.replace("_", " ")
    else:
        scores, steps = eval_curves(run_dirs, split, metric)
        label = f"{metric.replace('_', ' ')} (deterministic eval, {split} tasks)"
    point, interval = interval_estimates(scores)
    styles = curve_styles(sorted(scores))
    leading = leading_methods(point)
    # A method far below the rest flattens them into one line: a second panel zooms on the rest.
    fig, axes = plt.subplots(1, 2 if leading else 1, figsize=(12.8 if leading else 6.4, 4.2))
    axes = list(np.atleast_1d(axes))
    for ax, methods in zip(axes, [list(styles), leading], strict=False):
        for method in methods:
            x = steps[method][: len(point[method])]
            style = styles[method]
            ax.plot(x, point[method], label=f"{method} (n={len(scores[method])})", **style)
            ax.fill_between(x, *interval[method], alpha=0.2, facecolor=style["color"])
        ax.set_xlabel("env steps per run")
        ax.set_ylabel(label)
    use_symlog_if_far_apart(axes[0], [p[-1] for p in point.values()])
    if leading:
        axes[1].set_title("zoomed on the methods that end near the best", fontsize=9)
    axes[0].set_title(budget_title(run_dirs, steps), fontsize=9)
    return save_figure(fig, axes, out)


def budget_title(run_dirs: list[Path | str], steps: dict[str, np.ndarray]) -> str:
    """Task(s) and frames per run of the folders drawn; says so when their budgets differ."""
    budgets = {}
    for folder in run_dirs:
        path = Path(folder) / "config.json"
        train = json.loads(path.read_text())["spec"]["train"] if path.exists() else {}
        budgets[Path(folder).name] = (train.get("env", "?"), train.get("total_env_steps"))
    tasks = ", ".join(sorted({env for env, _ in budgets.values()}))
    frames = {total for _, total in budgets.values()}
    if len(frames) == 1:
        total = next(iter(frames))
        return f"{tasks}, {total:,} env steps per run" if total else tasks
    each = "; ".join(f"{name} {total:,}" for name, (_, total) in budgets.items() if total)
    return f"{tasks}: budgets differ ({each} env steps per run), each curve on its own x"


def leading_methods(
    curves: dict[str, np.ndarray], share: float = 0.25, flattened: float = 5.0
) -> list[str]:
    """The methods whose curves end within `share` of the whole spread of final values from
    the best, when the others flatten them: the curves of all methods span at least
    `flattened` times what theirs span (worth a zoomed panel); else []."""
    finite = {m: np.asarray(c, float) for m, c in curves.items() if np.isfinite(c[-1])}
    if len(finite) < 3:
        return []
    finals = {m: c[-1] for m, c in finite.items()}
    best, worst = max(finals.values()), min(finals.values())
    leading = [m for m, f in finals.items() if f >= best - share * (best - worst)]
    if not 2 <= len(leading) < len(finite):
        return []
    values = np.concatenate(list(finite.values()))
    leading_values = np.concatenate([finite[m] for m in leading])
    span, leading_span = np.ptp(values[np.isfinite(values)]), np.ptp(leading_values)
    return leading if span >= flattened * leading_span else []


def use_symlog_if_far_apart(ax, finals: list[float]) -> None:
    """Switch the y axis of drawn curves to symlog when their final values are orders of
    magnitude apart (see `symlog_threshold`), with readable ticks (`symlog_ticks`)."""
    linthresh = symlog_threshold(finals)
    if linthresh is not None:
        ax.set_yscale("symlog", linthresh=linthresh)
        ax.yaxis.set_major_locator(ticker.FixedLocator(symlog_ticks(*ax.get_ylim(), linthresh)))


def symlog_ticks(low: float, high: float, linthresh: float) -> list[float]:
    """Major ticks of a symlog axis: 0 and the powers of ten at or beyond the linear region on
    each side. Matplotlib's default also puts decades inside the linear region (e.g. +-1 when
    linthresh is 5), where they sit almost on top of 0 and their labels overlap."""
    first = math.ceil(math.log10(linthresh))
    last = math.ceil(math.log10(max(abs(low), abs(high), linthresh)))
    decades = [10.0**k for k in range(first, last + 1)]
    ticks = [-d for d in reversed(decades)] + [0.0] + decades
    return [t for t in ticks if low <= t <= high]


def save_figure(fig, ax, out: Path | str) -> Path:
    """Grid, legend (on the first of several axes), PNG and SVG beside each other; returns the
    PNG's path."""
    axes = list(np.atleast_1d(ax).flat)
    for each in axes:
        each.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=120)
    # No date and fixed element ids: redrawing the same data gives the same SVG bytes, so
    # committed figures change only when their data does.
    with plt.rc_context({"svg.hashsalt": "hyperjax"}):
        fig.savefig(out.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)
    return out.with_suffix(".png")


def symlog_threshold(finals: list[float], spread: float = 20.0) -> float | None:
    """A symlog threshold when methods end orders of magnitude apart (a diverging init next to
    working ones would flatten them into one line); None keeps a linear axis."""
    magnitudes = sorted(abs(float(f)) for f in finals if np.isfinite(f) and f != 0)
    if len(magnitudes) < 2 or magnitudes[-1] < spread * magnitudes[0]:
        return None
    return magnitudes[0]


def final_results(
    run_dirs: list[Path | str], metric: str = "trial_return", last_chunks: int = 1
) -> list[dict]:
    """Per method: mean of `metric` over its last `last_chunks` chunks, then mean over seeds with
    a 95% bootstrap CI, plus the seed spread (std)."""
    return summarise_finals(final_scores(run_dirs, metric, last_chunks))


def final_scores(run_dirs: list[Path | str], metric: str, last_chunks: int) -> dict:
    """{method: array of each seed's mean `metric` over its last `last_chunks` chunks}."""
    scores, _ = load_scores(run_dirs, metric)
    return {m: np.nanmean(s[:, -last_chunks:], axis=1) for m, s in scores.items()}


def eval_results(run_dirs: list[Path | str], split: str, metric: str) -> list[dict]:
    """Per method, from eval.csv's latest evaluation of each run on `split`: mean over seeds
    with a 95% bootstrap CI. `metric` is an eval column, or `last_episode_return` /
    `last_episode_success` (the trial's final episode: after adaptation)."""
    return summarise_finals(eval_scores(run_dirs, split, metric))


def eval_scores(run_dirs: list[Path | str], split: str, metric: str) -> dict:
    """{method: array of each seed's `metric` in its latest evaluation on `split`}."""
    latest: dict[tuple, dict] = {}
    rows = _eval_rows(run_dirs)
    name = method_namer(rows)
    for folder, row in rows:
        run = (folder, row["run"])
        if row["split"] == split and row["chunk"] >= latest.get(run, row)["chunk"]:
            latest[run] = row
    finals: dict[str, list[float]] = defaultdict(list)
    for (folder, _), row in latest.items():
        finals[name(folder, row)].append(eval_value(row, metric))
    return {m: np.array(v, dtype=float) for m, v in finals.items()}


def summarise_finals(finals: dict[str, np.ndarray]) -> list[dict]:
    """{method: one final score per seed} -> rows of mean, 95% bootstrap CI and std, best first."""
    if not finals:
        return []
    point, interval = bootstrap_intervals(
        {m: f[:, None] for m, f in finals.items()},
        lambda x: np.array([rly_metrics.aggregate_mean(x)]),
    )
    return [
        {
            "method": m,
            "seeds": len(finals[m]),
            "mean": float(point[m][0]),
            "ci_low": float(interval[m][0][0]),
            "ci_high": float(interval[m][1][0]),
            "std": float(np.std(finals[m])),
        }
        for m in sorted(finals, key=lambda m: -point[m][0])
    ]


def plot_size_scan(rows: list[dict], out: Path | str, ylabel: str = "final trial return") -> Path:
    """Final score against policy parameter count (log scale), one line per method, with 95%
    bootstrap intervals: the paper's Figure 3. `rows` carry method, parameters, mean, ci_*."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method in sorted({r["method"] for r in rows}):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["parameters"])
        x = [r["parameters"] for r in mine]
        ax.plot(x, [r["mean"] for r in mine], marker="o", label=method)
        ax.fill_between(x, [r["ci_low"] for r in mine], [r["ci_high"] for r in mine], alpha=0.2)
        for r in mine:
            ax.annotate(r["size"], (r["parameters"], r["mean"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("policy parameters")
    ax.set_ylabel(ylabel)
    return save_figure(fig, ax, out)


def results_markdown(results: list[dict], metric: str) -> str:
    lines = [
        f"| method | seeds | final {metric} (mean) | 95% CI | std over seeds |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['method']} | {r['seeds']} | {r['mean']:.3f} | "
            f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['std']:.3f} |"
        )
    return "\n".join(lines)


def write_results_csv(results: list[dict], path: Path | str) -> None:
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
