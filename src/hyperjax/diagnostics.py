"""Why initialisation matters, in numbers: what a policy's generated network looks like at init.

For each init scheme and each layer of the base actor and critic, from a batch of task inputs z
and observations:
- `scale_ratio`: RMS of the (generated) weights W(e) over the RMS of the base init f of that
  layer (f drawn many times at the layer's shape). 1 means "a correctly initialised base
  network"; naive head inits give several times more (the paper's Section 4). Under
  Bias-HyperInit W(e) is one draw of f for every e: exactly 1 for normc layers, 1 up to one
  draw's sampling noise for the critic's uniform output layer.
- `saturation`: the fraction of the layer's tanh units with |tanh| > 0.95 (hidden layers and the
  task embedding e itself).
- `task_sensitivity`: how much W(e) varies across task inputs: the std over the batch of each
  weight, averaged, over the mean |W(e)|. 0 when W does not depend on the task (Bias-HyperInit
  at init, and every standard policy).
- `params`: parameters of the layer (its heads, for a hypernetwork).
The weights of a standard policy's layer are its own; a FiLM layer's are W scale(e) per output.

Two sources of z (`Source`): what the untrained encoder produces on short rollouts of the env
with uniformly random actions (the true task vector for the oracle), and unit-variance Gaussian
z, the assumption hyperfan-in makes. Observations are those of the rollouts, normalised by their
own mean and std (as the policy sees them once its statistics have settled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from hyperjax import envs
from hyperjax.agent import Agent
from hyperjax.config import INIT_SCHEMES, TrainConfig, check_scheme, policy_kind_of
from hyperjax.envs import TrialWrapper
from hyperjax.errors import check_positive
from hyperjax.nets.hyper import HyperHeads, generated_bias, generated_weight
from hyperjax.nets.inits import BaseInit
from hyperjax.nets.policy import layer_base_inits

SATURATED = 0.95
SOURCES = ("rollout", "unit")
# Entries of f drawn to estimate its RMS (enough for 0.3% on a uniform init).
_BASE_DRAW_ENTRIES = 100_000


@dataclass(frozen=True)
class Inputs:
    """What the policy is evaluated on: observations (N, S) and task inputs z (N, Z) per source."""

    obs: jax.Array
    z: dict[str, jax.Array]


def rollout_inputs(
    cfg: TrainConfig,
    env: TrialWrapper,
    key: jax.Array,
    num_envs: int = 16,
    num_steps: int | None = None,
) -> Inputs:
    """Observations and the untrained encoder's z on rollouts of `env` (made from `cfg`) with
    uniformly random actions."""
    check_positive("num_envs", num_envs)
    num_steps = env.trial_length if num_steps is None else num_steps
    check_positive("num_steps", num_steps)
    agent = Agent.for_env(cfg, env)
    reset_key, act_key, init_key, unit_key = jax.random.split(key, 4)

    def random_action(k):
        if agent.discrete:
            return jax.random.randint(k, (num_envs,), 0, agent.action_dim)
        return jax.random.uniform(k, (num_envs, agent.action_dim), minval=-1.0, maxval=1.0)

    def step(env_state, k):
        action = random_action(k)
        next_state = jax.vmap(env.step)(env_state, action)
        info = next_state.info
        record = {
            "obs": env_state.obs,
            "task": env_state.info["task"],
            "action": agent.action_features(action),
            "reward": next_state.reward,
            "trial_end": info["trial_end"],
        }
        return next_state, record

    @jax.jit
    def collect(reset_key, act_key):
        first = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
        _, steps = jax.lax.scan(step, first, jax.random.split(act_key, num_steps))
        return steps

    steps = collect(reset_key, act_key)
    # Encoder inputs: the previous action and reward, zero (and the memory reset) at trial starts.
    trial_start = jnp.concatenate([jnp.ones((1, num_envs), bool), steps["trial_end"][:-1]])
    keep = (~trial_start).astype(jnp.float32)
    prev_action = jnp.concatenate([jnp.zeros_like(steps["action"][:1]), steps["action"][:-1]])
    prev_reward = jnp.concatenate([jnp.zeros_like(steps["reward"][:1]), steps["reward"][:-1]])
    # The encoder does not depend on the scheme; any scheme of the config's kind makes one.
    params = agent.init(init_key, INIT_SCHEMES[cfg.policy.kind][0])
    z = agent.encode_sequence(
        params,
        jnp.zeros((num_envs, agent.hidden_dim)),
        prev_action * keep[..., None],
        prev_reward * keep,
        steps["obs"],
        trial_start,
        steps["task"],
    )
    obs = steps["obs"].reshape(-1, agent.obs_dim)
    obs = (obs - obs.mean(0)) / (obs.std(0) + 1e-6)
    z = z.reshape(-1, agent.z_dim)
    unit = jax.random.normal(unit_key, z.shape)
    return Inputs(obs=obs, z={"rollout": z, "unit": unit})


def base_rms(base: BaseInit, shape: tuple[int, int], key: jax.Array) -> float:
    """The RMS of the base init f at this layer's shape, over enough independent draws."""
    draws = max(1, math.ceil(_BASE_DRAW_ENTRIES / math.prod(shape)))
    weights = jax.vmap(lambda k: base.kernel(k, shape))(jax.random.split(key, draws))
    return float(jnp.sqrt(jnp.mean(jnp.square(weights))))


def effective_weights(kind: str, layer: dict, e: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-sample weights (B, d_in, d_out) and biases (B, d_out) of one layer for embeddings e."""
    batch = e.shape[0]
    if kind == "hypernet":
        heads = HyperHeads(**layer)
        return generated_weight(heads, e), generated_bias(heads, e)
    if kind == "film":
        scale = e @ layer["scale_head"]["kernel"] + layer["scale_head"]["bias"]
        shift = e @ layer["shift_head"]["kernel"] + layer["shift_head"]["bias"]
        return layer["base"]["kernel"][None] * scale[:, None, :], shift
    kernel, bias = layer["kernel"], layer["bias"]
    return (
        jnp.broadcast_to(kernel, (batch, *kernel.shape)),
        jnp.broadcast_to(bias, (batch, *bias.shape)),
    )


def _param_count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def inspect_scheme(
    cfg: TrainConfig,
    env: TrialWrapper,
    scheme: str,
    inputs: Inputs,
    key: jax.Array,
    max_samples: int = 256,
) -> list[dict]:
    """One row per (layer, source) for one init scheme (see the module docstring)."""
    kind = policy_kind_of(scheme)
    cfg = cfg.replace(policy=cfg.policy.replace(kind=kind))
    check_scheme(kind, scheme)
    agent = Agent.for_env(cfg, env)
    init_key, base_key = jax.random.split(key)
    variables = agent.init(init_key, scheme)["policy"]
    params = variables["params"]
    bases = layer_base_inits(cfg.policy, scheme, agent.discrete)
    count = min(max_samples, inputs.obs.shape[0])
    obs = inputs.obs[:count]
    rows = []
    for source in SOURCES:
        z = inputs.z[source][:count]
        _, state = agent.policy.apply(variables, obs, z, capture_intermediates=True)
        captured = state["intermediates"]
        task_embed = params["task_embed"]
        e = jnp.tanh(z @ task_embed["kernel"] + task_embed["bias"])
        rows.append(
            {
                "init": scheme,
                "layer": "task_embed",
                "source": source,
                "params": _param_count(task_embed),
                "scale_ratio": math.nan,
                "saturation": float(jnp.mean(jnp.abs(e) > SATURATED)),
                "task_sensitivity": math.nan,
            }
        )
        for name, base in bases.items():
            weights, _ = effective_weights(kind, params[name], e)
            rms = float(jnp.sqrt(jnp.mean(jnp.square(weights))))
            spread = float(jnp.mean(jnp.std(weights, axis=0)))
            magnitude = float(jnp.mean(jnp.abs(weights)))
            hidden = name not in ("actor_out", "critic_out")
            pre_activation = captured[name]["__call__"][0]
            saturation = jnp.mean(jnp.abs(jnp.tanh(pre_activation)) > SATURATED)
            rows.append(
                {
                    "init": scheme,
                    "layer": name,
                    "source": source,
                    "params": _param_count(params[name]),
                    "scale_ratio": rms / base_rms(base, weights.shape[1:], base_key),
                    "saturation": float(saturation) if hidden else math.nan,
                    "task_sensitivity": spread / magnitude if magnitude > 0 else 0.0,
                }
            )
    return rows


def inspect_inits(
    cfg: TrainConfig,
    schemes: tuple[str, ...] | list[str],
    key: jax.Array,
    num_envs: int = 16,
    num_steps: int | None = None,
) -> list[dict]:
    """Rows of every scheme, all evaluated on the same observations and task inputs."""
    for scheme in schemes:
        policy_kind_of(scheme)  # unknown names fail before any rollout compiles
    rollout_key, scheme_key = jax.random.split(key)
    env = envs.make(cfg.env, **cfg.env_overrides())  # made once: Brax bodies load slowly
    inputs = rollout_inputs(cfg, env, rollout_key, num_envs, num_steps)
    rows = []
    for scheme in schemes:
        rows += inspect_scheme(cfg, env, scheme, inputs, scheme_key)
    return rows


COLUMNS = ("params", "scale_ratio", "saturation", "task_sensitivity")


def rows_markdown(rows: list[dict]) -> str:
    """One line per (init, layer), the two sources side by side."""
    by_layer: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        by_layer.setdefault((row["init"], row["layer"]), {})[row["source"]] = row
    head = (
        "| init | layer | params | scale ratio (rollout z / unit z) | saturated (rollout / unit) "
    )
    head += "| task sensitivity (rollout / unit) |"
    lines = [head, "|---|---|---|---|---|---|"]

    def pair(sources: dict[str, dict], column: str, fmt: str) -> str:
        values = [sources[s][column] for s in SOURCES]
        return " / ".join("-" if math.isnan(v) else format(v, fmt) for v in values)

    for (scheme, layer), sources in by_layer.items():
        lines.append(
            f"| {scheme} | {layer} | {sources['rollout']['params']:,} | "
            f"{pair(sources, 'scale_ratio', '.2f')} | {pair(sources, 'saturation', '.1%')} | "
            f"{pair(sources, 'task_sensitivity', '.3f')} |"
        )
    return "\n".join(lines)
