"""PPO learning parity with Brax: our training loop against `brax.training.agents.ppo.train`.

One fixed task (Brax's own `halfcheetah`, registered here as the single-task env `halfcheetah`),
the standard policy, no memory. Both learners get the same env and backend, frames, envs,
unroll length, epochs, minibatches, learning rate, entropy cost, discount, GAE lambda, clip,
gradient clip, observation normalisation, reward scale (none), no termination at time limits
(we bootstrap from V(final obs); Brax masks that transition out of its GAE targets), a
Gaussian with a learned state-independent log-std (init std 1), tanh hidden layers of the same
widths, and deterministic evaluation on 16 episodes of 1000 steps at the same frame counts.
Brax's networks are plain MLPs (64, 64, 32); ours embeds the state (64) and the constant task
input (25) and then has (64, 32) layers, as the paper's standard policy.

Prints per-seed final returns, the means with 95% t-intervals and Welch's t-test, and writes
the curves (CSV) and a figure (mean and 95% interval over seeds):

    python benchmarks/ppo_parity.py --frames 1600000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import functools
import statistics
import time
from pathlib import Path

import brax.envs
import jax.numpy as jnp
import numpy as np
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as brax_ppo
from common import (
    add_output_args,
    machine,
    patch_brax_replicate,
    print_table,
    results_path,
    write_csv,
)
from scipy import stats

from hyperjax.config import PolicyConfig, PPOConfig, TrainConfig
from hyperjax.sweep import plan_runs, run_sweep

ENV, BRAX_ENV = "halfcheetah", "halfcheetah"
EPISODE = 1000
EVAL_EPISODES = 16
# The paper's PPO layout on MuJoCo (experiments/table1/cheetah-dir.yaml), lr from its grid.
PPO = dict(
    num_envs=16,
    num_steps=400,
    epochs=2,
    minibatches=4,
    lr=3e-4,
    ent_coef=0.01,
    gamma=0.97,
    gae_lambda=0.9,
    clip_eps=0.1,
    max_grad_norm=0.5,
)
HIDDEN = (64, 32)
STATE_EMBED = 64


def frames_per_update() -> int:
    return PPO["num_envs"] * PPO["num_steps"]


def ours(seeds: list[int], frames: int, evals: int, backend: str) -> list[dict]:
    """All seeds in one vmapped program; deterministic evaluation after every chunk."""
    updates = frames // frames_per_update()
    cfg = TrainConfig(
        env=ENV,
        algo="oracle",
        backend=backend,
        episode_length=EPISODE,
        episodes_per_trial=1,
        total_env_steps=updates * frames_per_update(),
        updates_per_chunk=updates // evals,
        policy=PolicyConfig(kind="standard", state_embed_dim=STATE_EMBED, hidden=HIDDEN),
        ppo=PPOConfig(**PPO, norm_obs=True, norm_reward=False, bootstrap_truncation=True),
        diagnostic_samples=0,
    )
    rows: list[dict] = []

    def keep(eval_rows: list[dict]) -> None:
        for row in eval_rows:
            if row["split"] == "train":
                frames_done = (row["chunk"] + 1) * cfg.steps_per_chunk
                rows.append(
                    dict(
                        impl="hyperjax",
                        seed=row["seed"],
                        frames=frames_done,
                        eval_return=row["trial_return"],
                    )
                )

    start = time.perf_counter()
    run_sweep(
        cfg,
        plan_runs(["standard"], seeds, [PPO["lr"]]),
        progress=False,
        eval_every=1,
        eval_trials=EVAL_EPISODES,
        on_eval_rows=keep,
    )
    print(f"hyperjax: {len(seeds)} seeds in one program, {time.perf_counter() - start:.0f} s")
    return rows


def brax_trainer(seed: int, frames: int, evals: int, backend: str) -> list[dict]:
    patch_brax_replicate()
    env = brax.envs.get_environment(BRAX_ENV, backend=backend)
    network_factory = functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=(STATE_EMBED, *HIDDEN),
        value_hidden_layer_sizes=(STATE_EMBED, *HIDDEN),
        activation=jnp.tanh,
        distribution_type="normal",
        noise_std_type="log",
        init_noise_std=1.0,
    )
    rows: list[dict] = []

    def progress(step: int, metrics: dict) -> None:
        if step > 0:
            rows.append(
                dict(
                    impl="brax",
                    seed=seed,
                    frames=int(step),
                    eval_return=float(metrics["eval/episode_reward"]),
                )
            )

    start = time.perf_counter()
    brax_ppo.train(
        environment=env,
        num_timesteps=frames,
        episode_length=EPISODE,
        num_envs=PPO["num_envs"],
        unroll_length=PPO["num_steps"],
        # One rollout of num_envs x unroll per update, cut into `minibatches` minibatches.
        batch_size=PPO["num_envs"] // PPO["minibatches"],
        num_minibatches=PPO["minibatches"],
        num_updates_per_batch=PPO["epochs"],
        learning_rate=PPO["lr"],
        entropy_cost=PPO["ent_coef"],
        discounting=PPO["gamma"],
        gae_lambda=PPO["gae_lambda"],
        clipping_epsilon=PPO["clip_eps"],
        max_grad_norm=PPO["max_grad_norm"],
        normalize_observations=True,
        reward_scaling=1.0,
        # Brax 0.14's EpisodeWrapper sets no info["time_out"], which bootstrap_on_timeout
        # needs; its default masks the truncated transition out of the GAE targets instead.
        bootstrap_on_timeout=False,
        network_factory=network_factory,
        num_evals=evals + 1,
        num_eval_envs=EVAL_EPISODES,
        deterministic_eval=True,
        seed=seed,
        progress_fn=progress,
    )
    print(f"brax seed {seed}: {time.perf_counter() - start:.0f} s")
    return rows


def reused(impls: list[str], frames: int, path: Path) -> list[dict]:
    """The rows in the CSV at `path` of the learners not trained now (same frame budget)."""
    if set(impls) == {"hyperjax", "brax"} or not path.exists():
        return []
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["impl"] not in impls]
    if not rows or max(int(r["frames"]) for r in rows) != frames:
        raise SystemExit(f"{path} holds no curves of the other learner at {frames} frames")
    keep = ("impl", "seed", "frames", "eval_return")
    types = (str, int, int, float)
    return [{k: t(r[k]) for k, t in zip(keep, types, strict=True)} for r in rows]


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval."""
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for impl, color in (("hyperjax", "tab:blue"), ("brax", "tab:orange")):
        points = sorted({r["frames"] for r in rows if r["impl"] == impl})
        curves = [
            [r["eval_return"] for r in rows if r["impl"] == impl and r["frames"] == f]
            for f in points
        ]
        mean, low, high = np.array([interval(c) for c in curves]).T
        ax.plot(points, mean, color=color, label=f"{impl} (n={len(curves[0])})")
        ax.fill_between(points, low, high, color=color, alpha=0.2)
    ax.set_xlabel("env frames")
    ax.set_ylabel("deterministic eval return (1000 steps)")
    ax.set_title("PPO on Brax halfcheetah: hyperjax vs Brax")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    print(f"wrote {path}")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_600_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--evals", type=int, default=10, help="evaluation points per run")
    parser.add_argument("--backend", default="positional")
    parser.add_argument(
        "--impls",
        nargs="+",
        default=["hyperjax", "brax"],
        choices=["hyperjax", "brax"],
        help="learners to train; the other's curves are read from the last CSV (same --frames)",
    )
    add_output_args(parser, "ppo_parity")
    return parser


def final_returns(rows: list[dict]) -> dict[str, list[float]]:
    """Each learner's per-seed returns at its last evaluation."""
    final = {}
    for impl in ("hyperjax", "brax"):
        last = max(r["frames"] for r in rows if r["impl"] == impl)
        final[impl] = [r["eval_return"] for r in rows if r["impl"] == impl and r["frames"] == last]
    return final


def summary(final: dict[str, list[float]]) -> list[dict]:
    """One table row per learner: mean, 95% t-interval and the per-seed final returns."""
    table = []
    for impl, values in final.items():
        mean, low, high = interval(values)
        table.append(
            dict(
                impl=impl,
                seeds=len(values),
                mean=round(mean, 1),
                ci_low=round(low, 1),
                ci_high=round(high, 1),
                per_seed=" ".join(f"{v:.1f}" for v in values),
            )
        )
    return table


def main(argv: list[str] | None = None) -> list[dict]:
    """Train, write the curves (CSV) and figure, print the final-return table; returns it."""
    args = make_parser().parse_args(argv)
    if args.frames % (frames_per_update() * args.evals):
        raise SystemExit(
            f"--frames must be a multiple of {frames_per_update()} x --evals "
            f"({frames_per_update() * args.evals}), got {args.frames}"
        )

    print(f"machine: {machine()}")
    rows = reused(args.impls, args.frames, results_path(args.csv_name, args.out_dir))
    if "hyperjax" in args.impls:
        rows += ours(args.seeds, args.frames, args.evals, args.backend)
    if "brax" in args.impls:
        for seed in args.seeds:
            rows += brax_trainer(seed, args.frames, args.evals, args.backend)
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    plot(rows, args.out_dir / f"{args.csv_name}.png")

    final = final_returns(rows)
    table = summary(final)
    print_table(table, ["impl", "seeds", "mean", "ci_low", "ci_high", "per_seed"])
    test = stats.ttest_ind(final["hyperjax"], final["brax"], equal_var=False)
    print(
        f"Welch's t-test, final return hyperjax vs brax: t = {test.statistic:.2f}, "
        f"p = {test.pvalue:.3f}"
    )
    return table


if __name__ == "__main__":
    main()
