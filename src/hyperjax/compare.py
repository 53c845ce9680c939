"""Which method beats which: rliable's probability of improvement for the paper's claims.

A mean and its interval per method (plot.final_results) say where each method ends; whether one
method beats another is better asked directly. P(X > Y) is the chance that a run of X ends above
a run of Y (Mann-Whitney U over every pair of seeds, ties counting half), with a 95% stratified
bootstrap interval over the seeds of both (Agarwal et al. 2021, rliable). An interval above 0.5
says X beats Y at this budget; one that holds 0.5 says the seeds cannot tell them apart.
"""

from __future__ import annotations

import numpy as np
from rliable import metrics as rly_metrics

from hyperjax.plot import bootstrap_intervals

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
