"""Which method beats which: rliable's probability of improvement for the paper's claims.

A mean and its interval per method (plot.final_results) say where each method ends; whether one
method beats another is better asked directly. P(X > Y) is the chance that a run of X ends above
a run of Y (Mann-Whitney U over every pair of seeds, ties counting half), with a 95% stratified
bootstrap interval over the seeds of both (Agarwal et al. 2021, rliable). An interval above 0.5
says X beats Y at this budget; one that holds 0.5 says the seeds cannot tell them apart.

With a learning-rate axis (plot.method_name writes "<method> lr=<rate>"), the paper's protocol is
to tune each method's rate over {3e-3, 1e-3, 3e-4, 1e-4, 3e-5} and report each at its best:
best_learning_rates picks that rate as the authors do, the highest mean over the whole
evaluation curve, and at_learning_rates keeps only those runs, keyed by the method alone, so that
the same claim pairs apply. A rate picked on the seeds it is then scored on flatters each method
(the more, the noisier its seeds); with 4 seeds or more, cross_fitted picks it on one half of
the seeds and scores the other half.
"""

from __future__ import annotations

import numpy as np
from rliable import metrics as rly_metrics

from hyperjax.errors import ConfigError, check_choice
from hyperjax.plot import LR_SEPARATOR, bootstrap_intervals, split_learning_rate

# (X, Y, the paper's claim that P(X > Y) speaks to), in method_name's spelling.
CLAIM_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("hypernet+bias_hyperinit", "standard", "Bias-HyperInit beats the standard policy"),
    ("hypernet+bias_hyperinit", "hypernet+hfi", "Bias-HyperInit beats HFI"),
    ("hypernet+hfi", "standard", "HFI beats the standard policy"),
    ("hypernet+bias_hyperinit", "hypernet+weight_hyperinit", "Bias- beats Weight-HyperInit"),
    ("hypernet+bias_hyperinit", "hypernet+orthogonal", "Bias-HyperInit beats Orthogonal"),
    ("hypernet+bias_hyperinit", "hypernet+kaiming", "naive Kaiming fails"),
    ("hypernet+bias_hyperinit", "hypernet+normc", "naive Normc fails"),
    ("standard", "hypernet+kaiming", "naive Kaiming is worse than no hypernetwork"),
    ("hypernet+bias_hyperinit", "film+film_bias_hyperinit", "a hypernetwork beats FiLM"),
    ("film+film_bias_hyperinit", "film+film_normc", "Bias-HyperInit helps FiLM too"),
)


def improvement_probabilities(
    finals: dict[str, np.ndarray], pairs: tuple[tuple[str, str, str], ...] = CLAIM_PAIRS
) -> list[dict]:
    """{method: one final score per seed} -> one row per pair whose two methods are both
    present: P(X > Y), its 95% bootstrap interval and the seeds behind it."""
    present = [(x, y, claim) for x, y, claim in pairs if x in finals and y in finals]
    if not present:
        return []
    pair_scores = {
        f"{x} > {y}": [finals[x][:, None], finals[y][:, None]]  # (seeds, tasks=1) each
        for x, y, _ in present
    }
    point, interval = bootstrap_intervals(pair_scores, rly_metrics.probability_of_improvement)
    rows = []
    for x, y, claim in present:
        key = f"{x} > {y}"
        rows.append(
            {
                "x": x,
                "y": y,
                "claim": claim,
                "seeds_x": len(finals[x]),
                "seeds_y": len(finals[y]),
                "p_improvement": float(point[key]),
                "ci_low": float(np.ravel(interval[key])[0]),  # rliable: shape (2, 1)
                "ci_high": float(np.ravel(interval[key])[1]),
            }
        )
    return rows


# Choosing the rate on other seeds than those scored needs two halves of 2 seeds or more.
MIN_SEEDS_TO_SPLIT = 4
SEED_HALVES = (slice(0, None, 2), slice(1, None, 2))  # the seeds at even / odd positions
LR_CHOICES = ("auto", "split", "same")
CHOSEN_ON = {
    "split": "the other half of the seeds (cross-fitted: lr=a/b is the rate of the seeds at "
    "even positions, chosen on the odd ones, / that of the odd ones)",
    "same": "the same seeds it is scored on (flatters each method; fewer than 4 seeds to split)",
}


def best_learning_rates(curves: dict[str, np.ndarray]) -> dict[str, str]:
    """{method: its best learning rate} from {"<method> lr=<rate>": curve (seeds, points)}; {}
    when the sweep has one rate. The authors' rule (H visualize_runs.py:296-326, which
    run_experiments.py:236-238 calls with --best and without --final_r): each seed's mean over
    all points of its evaluation curve, averaged over the seeds; the highest wins. Not the final
    return: a rate that learns early and stays ahead scores above one that only ends higher."""
    best: dict[str, tuple[float, str]] = {}
    for method, curve in curves.items():
        name, rate = split_learning_rate(method)
        if rate is None:
            return {}
        mean = float(np.mean(np.nanmean(np.atleast_2d(curve), axis=1)))
        if name not in best or mean > best[name][0]:
            best[name] = (mean, rate)
    return {name: rate for name, (_, rate) in best.items()}


def lr_choice_for(curves: dict[str, np.ndarray], requested: str = "auto") -> str:
    """ "split" (choose on one half of the seeds, score the other) or "same"; "auto" splits when
    every method has at least MIN_SEEDS_TO_SPLIT seeds at every rate."""
    check_choice("lr_choice", requested, LR_CHOICES)
    fewest = min((len(np.atleast_2d(c)) for c in curves.values()), default=0)
    if requested == "split" and fewest < MIN_SEEDS_TO_SPLIT:
        raise ConfigError(
            f"lr_choice: split needs {MIN_SEEDS_TO_SPLIT} seeds or more per method and rate, "
            f"got {fewest}"
        )
    if requested == "auto":
        return "split" if fewest >= MIN_SEEDS_TO_SPLIT else "same"
    return requested


def cross_fitted(
    finals: dict[str, np.ndarray], curves: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each method's scores with every seed scored at the rate chosen (best_learning_rates) on the
    other half of the seeds: the seeds at even positions at the rate best on the odd ones, and the
    reverse. Returns ({method: scores}, {method: the rates, "<for even>/<for odd>" if they
    differ}). No seed's own curve picks its rate, so the pick does not flatter the method."""
    picks = [best_learning_rates({m: c[half] for m, c in curves.items()}) for half in SEED_HALVES]
    scores, rates = {}, {}
    for name in picks[0]:
        chosen = (picks[1][name], picks[0][name])  # even seeds: the odd ones' pick, and reverse
        runs = [finals.get(f"{name}{LR_SEPARATOR}{rate}") for rate in chosen]
        if any(run is None for run in runs):
            continue
        scores[name] = np.concatenate(
            [run[half] for run, half in zip(runs, SEED_HALVES, strict=True)]
        )
        rates[name] = chosen[0] if chosen[0] == chosen[1] else "/".join(chosen)
    return scores, rates


def at_learning_rates(
    finals: dict[str, np.ndarray], rates: dict[str, str]
) -> dict[str, np.ndarray]:
    """The scores of each method at its chosen rate, keyed by the method alone (so CLAIM_PAIRS
    match). Rates chosen on one metric (training return) apply unchanged to another (eval)."""
    named = {name: f"{name}{LR_SEPARATOR}{rate}" for name, rate in rates.items()}
    return {name: finals[method] for name, method in named.items() if method in finals}


def claim_pairs_at_each_rate(methods: list[str]) -> tuple[tuple[str, str, str], ...]:
    """CLAIM_PAIRS as spelled in `methods`: once per learning rate when names carry one, so
    that each pair compares two methods at the same rate."""
    rates = sorted({rate for _, rate in map(split_learning_rate, methods) if rate is not None})
    if not rates:
        return CLAIM_PAIRS
    return tuple(
        (f"{x}{LR_SEPARATOR}{rate}", f"{y}{LR_SEPARATOR}{rate}", claim)
        for rate in rates
        for x, y, claim in CLAIM_PAIRS
    )


def claim_comparisons(
    finals: dict[str, dict[str, np.ndarray]],
    selection: dict[str, np.ndarray],
    lr_choice: str = "auto",
) -> dict[str, list[dict]]:
    """{key: P(X > Y) rows} for each set of final scores ({key: {method: one score per seed}}),
    pairing methods at the same learning rate. With a learning-rate grid also "<key>_best_lr":
    each method at its best rate (the paper's per-method tuning), chosen by best_learning_rates
    on the `selection` curves ({method: (seeds, points)}, seeds in the sets' order) and kept for
    every set; on the other half of the seeds (`lr_choice_for`) or on the same seeds, which each
    row's "lr_chosen_on" says. Names carry the rate. Sets with no claim pair are left out."""
    tables = {
        key: improvement_probabilities(scores, claim_pairs_at_each_rate(list(scores)))
        for key, scores in finals.items()
    }
    if best_learning_rates(selection):  # a learning-rate grid
        choice = lr_choice_for(selection, lr_choice)
        for key, scores in finals.items():
            if choice == "split":
                tuned, rates = cross_fitted(scores, selection)
            else:
                rates = best_learning_rates(selection)
                tuned = at_learning_rates(scores, rates)
            rows = improvement_probabilities(tuned)
            for row in rows:
                row["x"] += f"{LR_SEPARATOR}{rates[row['x']]}"
                row["y"] += f"{LR_SEPARATOR}{rates[row['y']]}"
                row["lr_chosen_on"] = CHOSEN_ON[choice]
            tables[f"{key}_best_lr"] = rows
    return {key: rows for key, rows in tables.items() if rows}


def verdict(row: dict) -> str:
    """What the interval says, in words."""
    if row["ci_low"] > 0.5:
        return "X better"
    if row["ci_high"] < 0.5:
        return "Y better"
    return "not separated"


def comparisons_markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table; with tuned rates, a first line says what chose them."""
    chosen_on = {r["lr_chosen_on"] for r in rows if "lr_chosen_on" in r}
    head = [f"Each method's learning rate chosen on {' and '.join(sorted(chosen_on))}.", ""]
    lines = (head if chosen_on else []) + [
        "| X | Y | claim | P(X > Y) | 95% CI | seeds X, Y | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['x']} | {r['y']} | {r['claim']} | {r['p_improvement']:.2f} | "
            f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {r['seeds_x']}, {r['seeds_y']} | "
            f"{verdict(r)} |"
        )
    return "\n".join(lines)
