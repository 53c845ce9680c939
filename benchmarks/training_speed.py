"""Full training loop speed (frames/s of one run) against the env's own limit, and compile time.

For each case: one run as the product runs it (a vmapped group of 1, jit-compiled chunk of
updates), timed as the median chunk over `--repeats` chunks after a warm-up, against raw env
steps/s with random actions for the same env, batch and backend (no policy, no learning). The
ratio loop/env says how much of the time the learner takes. Compile seconds are the chunk
program's. Prints a table and writes benchmarks/results/training_speed.csv.

    python benchmarks/training_speed.py                 # every case
    python benchmarks/training_speed.py --cases grid-xl-varibad grid-small-varibad
"""

from __future__ import annotations

import argparse
import dataclasses

from common import machine, print_table, time_chunks, write_csv
from env_throughput import measure as env_steps_per_second

from hyperjax.config import (
    HYPER_IMPLS,
    EncoderConfig,
    PolicyConfig,
    PPOConfig,
    TrainConfig,
    VAEConfig,
)
from hyperjax.sweep import GroupProgram, plan_runs

GRID_PPO = PPOConfig(num_envs=16, num_steps=60, epochs=2, minibatches=4)
SMALL = dict(policy=PolicyConfig.sized("XS"), encoder=EncoderConfig(gru_dim=64))
XL = dict(policy=PolicyConfig.sized("XL"), encoder=EncoderConfig(gru_dim=256, latent_dim=5))

# name -> (config, init scheme). The two grid-world VariBAD cases are the targets: the
# authors' PyTorch code runs them at about 271 (XL) and 1,070 (small) frames/s on this CPU.
GRID_VARIBAD = TrainConfig(env="grid-world", algo="varibad", ppo=GRID_PPO)
GRID_RL2 = TrainConfig(env="grid-world", algo="rl2", ppo=GRID_PPO)
POINT_RL2 = TrainConfig(env="point-robot", algo="rl2", ppo=PPOConfig(num_envs=16, num_steps=100))
CHEETAH_RL2 = TrainConfig(env="cheetah-dir", algo="rl2", ppo=PPOConfig(num_envs=16, num_steps=200))
CASES: dict[str, tuple[TrainConfig, str]] = {
    "grid-xl-varibad": (GRID_VARIBAD.replace(**XL), "bias_hyperinit"),
    "grid-small-varibad": (GRID_VARIBAD.replace(**SMALL), "bias_hyperinit"),
    "grid-small-rl2": (GRID_RL2.replace(**SMALL), "bias_hyperinit"),
    "grid-small-rl2-standard": (GRID_RL2.replace(**SMALL), "standard"),
    "point-small-rl2": (POINT_RL2.replace(**SMALL), "bias_hyperinit"),
    "cheetah-small-rl2": (CHEETAH_RL2.replace(**SMALL), "bias_hyperinit"),
}
PYTORCH_FRAMES_PER_S = {"grid-xl-varibad": 271, "grid-small-varibad": 1070}
TARGET_FACTOR = {"grid-xl-varibad": 5, "grid-small-varibad": 50}


def measure_case(
    name: str,
    updates: int,
    repeats: int,
    num_envs: int | None = None,
    epochs: int | None = None,
    hyper_impl: str | None = None,
) -> dict[str, object]:
    cfg, scheme = CASES[name]
    if hyper_impl is not None:
        cfg = cfg.replace(policy=cfg.policy.replace(hyper_impl=hyper_impl))
    # An accelerator wants thousands of envs, not the paper's 16; fewer epochs time the rest.
    ppo = dataclasses.replace(
        cfg.ppo, num_envs=num_envs or cfg.ppo.num_envs, epochs=epochs or cfg.ppo.epochs
    )
    cfg = cfg.replace(
        ppo=ppo,
        updates_per_chunk=updates,
        total_env_steps=ppo.num_envs * ppo.num_steps * updates,
        vae=VAEConfig(buffer_trials=1000, precollect_steps=0),
    )
    runs = plan_runs([scheme], [0], [cfg.ppo.lr])
    program = GroupProgram.build(cfg, runs[0].kind, runs)
    seconds, compile_s = time_chunks(program, repeats)
    loop = cfg.steps_per_chunk / seconds
    env = env_steps_per_second(cfg.env, cfg.ppo.num_envs, cfg.ppo.num_steps * updates, repeats)
    row = {
        "case": name,
        "env": cfg.env,
        "algo": cfg.algo,
        "init": scheme,
        "envs": cfg.ppo.num_envs,
        "epochs": cfg.ppo.epochs,
        "hyper_impl": cfg.policy.hyper_impl,
        "loop_frames_s": loop,
        "env_steps_s": float(env["steps_per_s"]),
        "loop/env": loop / float(env["steps_per_s"]),
        "compile_s": compile_s,
    }
    if name in PYTORCH_FRAMES_PER_S and num_envs is None and epochs is None and not hyper_impl:
        row["vs_pytorch"] = loop / PYTORCH_FRAMES_PER_S[name]
        row["target"] = f">= {TARGET_FACTOR[name]}x"
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--updates", type=int, default=5, help="PPO updates per timed chunk")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-envs", type=int, help="override every case's envs (default: 16)")
    parser.add_argument("--epochs", type=int, help="override every case's PPO epochs (ablation)")
    parser.add_argument("--hyper-impl", choices=HYPER_IMPLS, help="generated-layer implementation")
    parser.add_argument("--csv-name", default="training_speed", help="results/<name>.csv")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    rows = [
        measure_case(n, args.updates, args.repeats, args.num_envs, args.epochs, args.hyper_impl)
        for n in args.cases
    ]
    columns = [
        "case",
        "envs",
        "epochs",
        "hyper_impl",
        "loop_frames_s",
        "env_steps_s",
        "loop/env",
        "compile_s",
    ]
    print_table(rows, columns + ["vs_pytorch", "target"])
    print(f"wrote {write_csv(rows, args.csv_name)}")


if __name__ == "__main__":
    main()
