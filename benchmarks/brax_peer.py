"""Brax PPO peer: our standard policy with oracle task input against Brax's own PPO trainer.

Same physics (Brax halfcheetah, positional backend), same batch (`--envs`, default 16),
unroll (200 steps), epochs (2) and minibatches (4), networks of similar size (ours: 64 state +
25 task embedding -> [64, 32] actor and critic; Brax: [64, 64, 32] policy and value MLPs). Ours
trains cheetah-dir (the task reward on top of the same body); Brax trains plain halfcheetah.
Brax's frames/s is the slope between two trainings of different length (its compile, cached,
cancels out); ours is the median chunk. Both in this process. Prints a table, writes CSV.
"""

from __future__ import annotations

import argparse
import functools
import time

import brax.envs
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as brax_ppo
from common import (
    add_output_args,
    machine,
    patch_brax_replicate,
    print_table,
    time_chunks,
    write_csv,
)

from hyperjax.config import PolicyConfig, PPOConfig, TrainConfig
from hyperjax.sweep import GroupProgram, plan_runs

UNROLL, EPOCHS, MINIBATCHES = 200, 2, 4


def ours(envs: int, updates: int, repeats: int) -> float:
    cfg = TrainConfig(
        env="cheetah-dir",
        algo="oracle",
        policy=PolicyConfig(kind="standard", state_embed_dim=64, hidden=(64, 32)),
        ppo=PPOConfig(num_envs=envs, num_steps=UNROLL, epochs=EPOCHS, minibatches=MINIBATCHES),
        updates_per_chunk=updates,
        total_env_steps=envs * UNROLL * updates,
    )
    runs = plan_runs(["standard"], [0], [cfg.ppo.lr])
    program = GroupProgram.build(cfg, "standard", runs)
    return cfg.steps_per_chunk / time_chunks(program, repeats)[0]


def brax_trainer(envs: int, updates: int) -> float:
    patch_brax_replicate()
    env = brax.envs.get_environment("halfcheetah", backend="positional")
    network_factory = functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=(64, 64, 32),
        value_hidden_layer_sizes=(64, 64, 32),
    )
    frames_per_update = envs * UNROLL

    def train(num_updates: int) -> float:
        start = time.perf_counter()
        brax_ppo.train(
            environment=env,
            num_timesteps=num_updates * frames_per_update,
            num_envs=envs,
            episode_length=1000,
            unroll_length=UNROLL,
            batch_size=envs // MINIBATCHES,
            num_minibatches=MINIBATCHES,
            num_updates_per_batch=EPOCHS,
            network_factory=network_factory,
            normalize_observations=True,
            run_evals=False,
            num_evals=1,
        )
        return time.perf_counter() - start

    train(updates)  # compile once (cached for the timed runs)
    short, long = train(updates), train(3 * updates)
    return 2 * updates * frames_per_update / (long - short)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=16, help="parallel envs (batch) of both")
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    add_output_args(parser, "brax_peer")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    print(f"machine: {machine()}")
    ours_fps = ours(args.envs, args.updates, args.repeats)
    brax_fps = brax_trainer(args.envs, args.updates)
    rows = [
        {
            "ours_frames_s": ours_fps,
            "brax_ppo_frames_s": brax_fps,
            "ours/brax": ours_fps / brax_fps,
            "envs": args.envs,
            "unroll": UNROLL,
        }
    ]
    print_table(rows, list(rows[0]))
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
