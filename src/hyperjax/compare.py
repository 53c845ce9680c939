"""Which method beats which: rliable's probability of improvement for the paper's claims.

A mean and its interval per method (plot.final_results) say where each method ends; whether one
method beats another is better asked directly. P(X > Y) is the chance that a run of X ends above
a run of Y (Mann-Whitney U over every pair of seeds, ties counting half), with a 95% stratified
bootstrap interval over the seeds of both (Agarwal et al. 2021, rliable). An interval above 0.5
says X beats Y at this budget; one that holds 0.5 says the seeds cannot tell them apart.

With a learning-rate axis (plot.method_name writes "<method> lr=<rate>"), the paper's protocol is
to tune each method's rate over {3e-3, 1e-3, 3e-4, 1e-4, 3e-5} and report each at its best:
best_learning_rates picks that rate from the training scores, and at_learning_rates keeps only
those runs, keyed by the method alone, so that the same claim pairs apply.
"""

from __future__ import annotations

import numpy as np
from rliable import metrics as rly_metrics

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


def best_learning_rates(finals: dict[str, np.ndarray]) -> dict[str, str]:
    """{method: the learning rate whose seeds end highest on average} over a sweep's rate grid;
    {} when the sweep has one rate. Picking on the seeds that are then compared flatters each
    method a little (the noisier the more); the paper picks the same way (3 seeds)."""
    best: dict[str, tuple[float, str]] = {}
    for method, scores in finals.items():
        name, rate = split_learning_rate(method)
        if rate is None:
            return {}
        mean = float(np.mean(scores))
        if name not in best or mean > best[name][0]:
            best[name] = (mean, rate)
    return {name: rate for name, (_, rate) in best.items()}


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


def claim_comparisons(finals: dict[str, dict[str, np.ndarray]]) -> dict[str, list[dict]]:
    """{key: P(X > Y) rows} for each set of final scores ({key: {method: one score per seed}},
    training return first), pairing methods at the same learning rate. With a learning-rate grid
    also "<key>_best_lr": each method at the rate that ends highest on the first set (the paper's
    per-method tuning), its name carrying that rate. Sets with no claim pair are left out."""
    tables = {
        key: improvement_probabilities(scores, claim_pairs_at_each_rate(list(scores)))
        for key, scores in finals.items()
    }
    rates = best_learning_rates(next(iter(finals.values()), {}))
    if rates:  # a learning-rate grid
        for key, scores in finals.items():
            rows = improvement_probabilities(at_learning_rates(scores, rates))
            for row in rows:
                row["x"] += f"{LR_SEPARATOR}{rates[row['x']]}"
                row["y"] += f"{LR_SEPARATOR}{rates[row['y']]}"
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
    lines = [
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
