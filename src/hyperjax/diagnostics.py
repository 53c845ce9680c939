"""Why initialisation matters, in numbers: what a policy's generated network looks like, at
init (`inspect_inits`, the `hyperjax inspect` command) and all through training
(`policy_diagnostics`, computed inside the training program at the end of every chunk and
written to metrics.csv as `diag/<layer>/<quantity>`).

For each layer of the base actor and critic, from a batch of task inputs z and observations:
- `scale_ratio`: RMS of the (generated) weights W(e) over the RMS of the base init f of that
  layer (f drawn many times at the layer's shape). 1 means "a correctly initialised base
  network"; naive head inits give several times more (the paper's Section 4). Under
  Bias-HyperInit W(e) is one draw of f for every e: exactly 1 for normc layers, 1 up to one
  draw's sampling noise for the critic's uniform output layer.
- `saturation`: the fraction of the layer's tanh units with |tanh| > 0.95 (hidden layers and the
  task embedding e itself).
- `task_sensitivity`: how much W(e) varies across task inputs: the root of the mean over weights
  of each weight's variance over the batch, over the RMS of W(e); the share of the weights'
  scale that moves with the task, in [0, 1]. 0 when W does not depend on the task
  (Bias-HyperInit at init, and every standard policy).
- `head_norm`: the norm of the weights that make W(e) depend on e (a hypernetwork's H and G, a
  FiLM layer's scale and shift kernels): 0 under Bias-HyperInit until learning moves it.
- `params`: parameters of the layer (its heads, for a hypernetwork).
The weights of a standard policy's layer are its own; a FiLM layer's are W scale(e) per output.

Two sources of z (`SOURCES`): what the untrained encoder produces on short rollouts of the env
with uniformly random actions (the true task vector for the oracle), and unit-variance Gaussian
z, the assumption hyperfan-in makes. Observations are those of the rollouts, normalised by their
own mean and std (as the policy sees them once its statistics have settled).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from hyperjax import envs
from hyperjax.agent import Agent
from hyperjax.config import (
    INIT_SCHEMES,
    TrainConfig,
    check_scheme,
    policy_kind_of,
)
from hyperjax.envs import Mixture, TrialWrapper
from hyperjax.errors import check_positive
from hyperjax.nets.inits import BaseInit
from hyperjax.nets.policy import OUTPUT_LAYERS, ActorCritic, layer_base_inits, layer_names

SATURATED = 0.95
SOURCES = ("rollout", "unit")
PREFIX = "diag/"  # metric names: diag/<layer>/<quantity>
QUANTITIES = ("scale_ratio", "saturation", "task_sensitivity", "head_norm")
# Entries of f drawn to estimate its RMS (enough for 0.3% on a uniform init).
_BASE_DRAW_ENTRIES = 100_000


@dataclass(frozen=True)
class Inputs:
    """What the policy is evaluated on: observations (N, S) and task inputs z (N, Z) per source."""

    obs: jax.Array
    z: dict[str, jax.Array]


def rollout_inputs(
    cfg: TrainConfig,
    env: TrialWrapper | Mixture,
    key: jax.Array,
    num_envs: int = 16,
    num_steps: int | None = None,
) -> Inputs:
    """Observations and the untrained encoder's z on rollouts of `env` (made from `cfg`) with
    uniformly random actions."""
    env.check_batch("num_envs", num_envs)
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
        next_state = env.step_batch(env_state, action)
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
        first = env.reset_batch(jax.random.split(reset_key, num_envs))
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


def weight_gram(kind: str, layer: dict, d_e1: int) -> jax.Array:
    """The Gram matrix K (d_k+1, d_k+1) of a layer's weights as a linear function of e1 = [e, 1]:
    W(e) = sum_k e1_k A_k, K_kl = <A_k, A_l>. Every weight statistic over a batch of e follows
    from K and e1's moments, without building W(e) per sample: 4x cheaper at XL with 64
    samples (20 ms on 2 CPU cores), and independent of the sample count.
    hypernet: A_k = H[:, k] and A_{d_k} = beta_H. film: W(e) = base * (e1 @ [S; s]) per output
    column. standard: W = kernel whatever e, so K is ||kernel||^2 in the constant's corner."""
    if kind == "hypernet":
        stacked = jnp.concatenate([layer["H"], layer["beta_H"][:, None]], axis=1)
        return jnp.einsum("ikj,ilj->kl", stacked, stacked)
    if kind == "film":
        head = layer["scale_head"]
        scale = jnp.concatenate([head["kernel"], head["bias"][None]], axis=0)  # (d_k+1, d_out)
        column_norms = jnp.sum(jnp.square(layer["base"]["kernel"]), axis=0)
        return (scale * column_norms) @ scale.T
    return jnp.zeros((d_e1, d_e1)).at[-1, -1].set(jnp.sum(jnp.square(layer["kernel"])))


def head_norm(kind: str, layer: dict) -> jax.Array:
    """Frobenius norm of the weights that carry e into the layer: a hypernetwork's weight heads
    H and G, a FiLM layer's scale and shift kernels. Zero under Bias-HyperInit until learning
    makes the layer task dependent; NaN for a standard layer, which has none."""
    if kind == "hypernet":
        heads = (layer["H"], layer["G"])
    elif kind == "film":
        heads = (layer["scale_head"]["kernel"], layer["shift_head"]["kernel"])
    else:
        return jnp.array(jnp.nan, jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(h)) for h in heads))


def _layer_shape(kind: str, layer: dict) -> tuple[int, int]:
    """(d_in, d_out) of the base layer a layer's parameters make."""
    if kind == "hypernet":
        d_in, _, d_out = layer["H"].shape
        return d_in, d_out
    kernel = layer["base"]["kernel"] if kind == "film" else layer["kernel"]
    return tuple(kernel.shape)


def _key(layer: str, quantity: str) -> str:
    return f"{PREFIX}{layer}/{quantity}"


def policy_diagnostics(policy: ActorCritic, variables: dict, obs: jax.Array, z: jax.Array) -> dict:
    """Per-layer diagnostics of `policy` (its parameters `variables`) on a batch of observations
    (B, S) and task inputs (B, Z), as scalars keyed `diag/<layer>/<quantity>` (jittable):
    - `weight_rms`: RMS of W(e) (`scale_ratio` divides it by the base init's, see
      `scale_references`; that needs the scheme, which the training program does not know),
    - `saturation`: fraction of the layer's tanh units with |tanh| > 0.95 (hidden layers and
      the task embedding e),
    - `task_sensitivity`: sqrt(mean over weights of Var_batch W(e)) / RMS of W(e), in [0, 1],
    - `head_norm`: see `head_norm`.
    The key set is the same for every policy kind, so one metrics file holds any sweep."""
    kind = policy.cfg.kind
    params = variables["params"]
    _, state = policy.apply(variables, obs, z, capture_intermediates=True)
    captured = state["intermediates"]
    e = jnp.tanh(captured["task_embed"]["__call__"][0])
    out = {_key("task_embed", "saturation"): jnp.mean(jnp.abs(e) > SATURATED)}
    e1 = jnp.concatenate([e, jnp.ones((e.shape[0], 1), e.dtype)], axis=1)
    second_moment = e1.T @ e1 / e1.shape[0]
    centred = e1 - e1.mean(0)  # the constant column is exactly 0 here
    covariance = centred.T @ centred / e1.shape[0]
    for name in layer_names(policy.cfg):
        gram = weight_gram(kind, params[name], e1.shape[1])
        d_in, d_out = _layer_shape(kind, params[name])
        mean_square = jnp.sum(gram * second_moment)  # E_b ||W(e_b)||^2
        task_variance = jnp.sum(gram * covariance)  # sum over weights of Var_b W(e_b)
        out[_key(name, "weight_rms")] = jnp.sqrt(mean_square / (d_in * d_out))
        out[_key(name, "task_sensitivity")] = jnp.sqrt(
            jnp.maximum(task_variance, 0.0) / jnp.maximum(mean_square, 1e-30)
        )
        out[_key(name, "head_norm")] = head_norm(kind, params[name])
        if name not in OUTPUT_LAYERS:
            pre_activation = captured[name]["__call__"][0]
            out[_key(name, "saturation")] = jnp.mean(jnp.abs(jnp.tanh(pre_activation)) > SATURATED)
    return {k: v.astype(jnp.float32) for k, v in out.items()}


def scale_references(agent: Agent, scheme: str, key: jax.Array | None = None) -> dict[str, float]:
    """{layer: RMS of its base init f} for `scheme` under `agent`'s config (its policy kind must
    be the scheme's): the denominators of `scale_ratio`."""
    kind = agent.cfg.policy.kind
    check_scheme(kind, scheme)
    key = jax.random.key(0) if key is None else key
    shapes = jax.eval_shape(functools.partial(agent.init, scheme=scheme), jax.random.key(0))
    params = shapes["policy"]["params"]
    bases = layer_base_inits(agent.cfg.policy, scheme, agent.discrete)
    return {
        name: base_rms(base, _layer_shape(kind, params[name]), key) for name, base in bases.items()
    }


def with_scale_ratios(metrics: dict[str, float], references: dict[str, float]) -> dict:
    """A metrics row with every `diag/<layer>/weight_rms` replaced by `scale_ratio`, the RMS over
    the layer's base-init RMS (`references` from `scale_references`)."""
    out = {}
    for key, value in metrics.items():
        if key.startswith(PREFIX) and key.endswith("/weight_rms"):
            layer = key[len(PREFIX) : -len("/weight_rms")]
            key, value = _key(layer, "scale_ratio"), value / references[layer]
        out[key] = value
    return out


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
    """One row per (layer, source) for one init scheme (see the module docstring): the training
    diagnostics (`policy_diagnostics`) of the freshly initialised policy."""
    kind = policy_kind_of(scheme)
    cfg = cfg.replace(policy=cfg.policy.replace(kind=kind))
    check_scheme(kind, scheme)
    agent = Agent.for_env(cfg, env)
    init_key, base_key = jax.random.split(key)
    variables = agent.init(init_key, scheme)["policy"]
    params = variables["params"]
    references = scale_references(agent, scheme, base_key)
    count = min(max_samples, inputs.obs.shape[0])
    obs = inputs.obs[:count]
    rows = []
    for source in SOURCES:
        found = policy_diagnostics(agent.policy, variables, obs, inputs.z[source][:count])
        found = with_scale_ratios({k: float(v) for k, v in found.items()}, references)
        for layer in ("task_embed", *layer_names(cfg.policy)):
            row = {
                "init": scheme,
                "layer": layer,
                "source": source,
                "params": _param_count(params[layer]),
            }
            for quantity in QUANTITIES:
                row[quantity] = found.get(_key(layer, quantity), math.nan)
            rows.append(row)
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


def rows_markdown(rows: list[dict]) -> str:
    """One line per (init, layer), the two sources side by side."""
    by_layer: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        by_layer.setdefault((row["init"], row["layer"]), {})[row["source"]] = row
    head = (
        "| init | layer | params | scale ratio (rollout z / unit z) | saturated (rollout / unit) "
    )
    head += "| task sensitivity (rollout / unit) | head norm |"
    lines = [head, "|---|---|---|---|---|---|---|"]

    def pair(sources: dict[str, dict], column: str, fmt: str) -> str:
        values = [sources[s][column] for s in SOURCES]
        return " / ".join("-" if math.isnan(v) else format(v, fmt) for v in values)

    for (scheme, layer), sources in by_layer.items():
        head_norm = sources["rollout"]["head_norm"]  # parameters only: the same for both sources
        norm = "-" if math.isnan(head_norm) else f"{head_norm:.3g}"
        lines.append(
            f"| {scheme} | {layer} | {sources['rollout']['params']:,} | "
            f"{pair(sources, 'scale_ratio', '.2f')} | {pair(sources, 'saturation', '.1%')} | "
            f"{pair(sources, 'task_sensitivity', '.3f')} | {norm} |"
        )
    return "\n".join(lines)
