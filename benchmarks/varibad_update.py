"""Where a PPO update's time goes on the authors' grid-world workload, and VariBAD's share.

For each paper case of `training_speed.py` (the authors' XL and small grid-world configs with
their VAE work), one run as the product compiles it, timed part by part as separate compiled
programs on the same training state (medians of `--repeats` calls):
- `update`: one whole PPO update (rollout, GAE, PPO epochs, VAE updates, re-encoding),
- `vae_updates`: the `updates_per_ppo` VAE updates alone (each: sample trials, encode, decode,
  backward, Adam), and within one VAE update `encoder_fwd_bwd` (the GRU posterior over the
  trials' L + 1 steps, forward and backward) and the rest (decoders, loss, Adam),
- `reencode`: the re-encoding of every env's running trial after the VAE updates.
Also the matmul FLOPs of a whole PPO update and of one VAE update (counted from the jaxpr, loops
as often as they run), the rate each reaches against a plain matmul of the update's FLOPs on
this machine (the fraction of the matmul rate), and the peak memory of one VAE update (XLA's
temporaries + arguments + outputs of the compiled update). Prints a table and writes
benchmarks/results/varibad_update.csv.

    python benchmarks/varibad_update.py
    python benchmarks/varibad_update.py --cases paper-grid-small-hn --repeats 20
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import jax
import jax.extend
import jax.numpy as jnp
from common import add_output_args, machine, median_seconds, print_table, write_csv
from hypernet_layer import matmul_gflops
from training_speed import CASES, PYTORCH_FRAMES_PER_S

from hyperjax.algos import varibad
from hyperjax.algos.ppo import PPOHParams
from hyperjax.sweep import compiled_memory_bytes, config_for_kind, run_keys
from hyperjax.train import make_train

PAPER_CASES = [name for name in CASES if name.startswith("paper-")]


def matmul_flops(jaxpr: jax.extend.core.Jaxpr) -> float:
    """FLOPs of every matmul (dot_general) in a jaxpr, loops counted as many times as they run.
    XLA's cost analysis counts a loop's body once, which undercounts a scan of 60 GRU steps
    60-fold; matmuls are nearly all of these programs' arithmetic."""
    total = 0.0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (lhs_contract, _), (lhs_batch, _) = eqn.params["dimension_numbers"]
            lhs, rhs = (math.prod(v.aval.shape) for v in eqn.invars)
            shape = eqn.invars[0].aval.shape
            contract = math.prod(shape[i] for i in lhs_contract)
            batch = math.prod(shape[i] for i in lhs_batch)
            total += 2.0 * lhs * (rhs / (contract * batch))
        repeats = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
        subs = [p for p in eqn.params.values() if isinstance(p, jax.extend.core.ClosedJaxpr)]
        subs += [p.jaxpr for p in eqn.params.get("branches", ())]  # cond: all branches count
        total += repeats * sum(matmul_flops(getattr(sub, "jaxpr", sub)) for sub in subs)
    return total


def median_ms(fn, args, repeats: int) -> float:
    """Median milliseconds of `fn(*args)`, after one warm-up call."""
    jax.block_until_ready(fn(*args))
    return 1e3 * median_seconds(lambda: fn(*args), repeats)


def measure(name: str, repeats: int, buffer_trials: int | None) -> dict[str, object]:
    cfg, scheme = CASES[name]
    cfg = config_for_kind(cfg, "standard" if scheme == "standard" else "hypernet")
    # One update per chunk; the VAE updates from the first one (as training_speed.py).
    buffer_trials = buffer_trials or cfg.vae.buffer_trials
    cfg = cfg.replace(
        updates_per_chunk=1,
        total_env_steps=cfg.steps_per_update,
        vae=dataclasses.replace(cfg.vae, buffer_trials=buffer_trials, precollect_steps=0),
    )
    trainer = make_train(cfg)
    agent = trainer.agent
    init_key, train_key = run_keys(0)
    params = agent.init(init_key, scheme)
    # Under jit every leaf gets its own buffer (the state is donated below).
    state = jax.jit(trainer.init)(train_key, params, PPOHParams.from_config(cfg.ppo))
    run_chunk = jax.jit(trainer.run_chunk, donate_argnums=0)  # as the product runs it
    for _ in range(3):  # fill the trial buffer with complete trials
        state, _ = run_chunk(state)
    key = jax.random.key(1)
    row: dict[str, object] = {"case": name, "buffer_trials": buffer_trials}

    # A whole PPO update: the state is threaded through, as in training.
    holder = {"state": state}

    def one_update():
        holder["state"], metrics = run_chunk(holder["state"])
        return metrics

    row["update_ms"] = median_ms(one_update, (), repeats)
    state = holder["state"]
    update_flops = matmul_flops(jax.make_jaxpr(trainer.run_chunk)(state).jaxpr)
    row["update_gflop"] = update_flops / 1e9
    row["update_gflop_s"] = update_flops / row["update_ms"] / 1e6
    matmul_rate = matmul_gflops(update_flops, 256, repeats)
    row["update_fraction_of_matmul"] = row["update_gflop_s"] / matmul_rate

    # What one VAE update changes (returning the whole VAEState would copy the trial buffer on
    # every call, which the training program never does: its state is donated).
    vae_step = jax.jit(lambda vae, key: trainer.vae_step(vae, key)[0].params)
    lowered = vae_step.lower(state.vae, key)
    compiled = lowered.compile()
    one_vae_ms = median_ms(compiled, (state.vae, key), repeats)
    row["vae_updates_ms"] = one_vae_ms * cfg.vae.updates_per_ppo
    flops = matmul_flops(jax.make_jaxpr(trainer.vae_step)(state.vae, key).jaxpr)
    row["vae_update_gflop"] = flops / 1e9
    row["vae_fraction_of_matmul"] = flops / one_vae_ms / 1e6 / matmul_rate
    row["vae_peak_mib"] = compiled_memory_bytes(compiled) / 2**20

    # Inside one VAE update: the posterior GRU forward + backward; the rest is decoding and Adam.
    buffer = state.vae.buffer
    index = varibad.buffer_sample(buffer, key, cfg.vae.batch_trials)
    trials = {k: getattr(buffer, k)[index] for k in ("obs", "action", "reward", "next_obs")}
    inputs = varibad.posterior_inputs(trials, buffer.length[index])

    def encoder_loss(encoder_params):
        mu, logvar = agent.posterior_sequence(encoder_params, *inputs)
        return jnp.sum(mu) + jnp.sum(logvar)

    encoder_grad = jax.jit(jax.grad(encoder_loss))
    row["encoder_fwd_bwd_ms"] = median_ms(encoder_grad, (state.vae.params["encoder"],), repeats)
    row["decode_and_adam_ms"] = one_vae_ms - row["encoder_fwd_bwd_ms"]

    reencode = jax.jit(trainer.reencode_running)
    row["reencode_ms"] = median_ms(reencode, (state.vae, state.hidden), repeats)
    row["rest_ms"] = row["update_ms"] - row["vae_updates_ms"] - row["reencode_ms"]
    row["frames_s"] = cfg.steps_per_update / row["update_ms"] * 1e3
    if name in PYTORCH_FRAMES_PER_S:
        row["vs_pytorch"] = row["frames_s"] / PYTORCH_FRAMES_PER_S[name]
    return row


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=PAPER_CASES, choices=PAPER_CASES)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--buffer-trials", type=int, help="trial buffer size (default: the case's, 100,000)"
    )
    add_output_args(parser, "varibad_update")
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure, print the table and write the CSV; returns the rows."""
    args = make_parser().parse_args(argv)
    print(f"machine: {machine()}")
    rows = [measure(name, args.repeats, args.buffer_trials) for name in args.cases]
    print_table(rows, list(rows[0]))
    print(f"wrote {write_csv(rows, args.csv_name, args.out_dir)}")
    return rows


if __name__ == "__main__":
    main()
