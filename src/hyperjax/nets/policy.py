"""Actor-critic policies conditioned on a task embedding input z.

Three kinds (PolicyConfig.kind), one module:
- `standard`: concat(tanh(Dense(obs)), tanh(Dense(z))) -> actor MLP and critic MLP.
  The two input embeddings are PyTorch-default Linear layers (weight and bias
  U(+-1/sqrt(fan_in))), as the authors' `FeatureExtractor` (utils/helpers.py); every other
  layer gets its base init f (`hyperjax.nets.inits`).
- `hypernet`: s = tanh(Dense(obs)), e = tanh(Dense(z)); every weight and bias of the actor and
  critic MLPs (output layers included) is generated from e by linear heads (`HyperDense`).
- `film`: s, e as above; every actor and critic layer has its own weights (no bias) and a
  per-unit scale and shift generated from e (`FilmDense`).
Activations are tanh. The Gaussian actor outputs an unsquashed mean and one learned log-std
vector (init 0, not generated); the categorical actor outputs logits.

The init scheme is data: `init_policy_params(cfg, scheme, key, ...)` returns parameters of one
pytree structure for every scheme of a kind, so a sweep stacks them and vmaps one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from hyperjax.config import PolicyConfig, check_scheme
from hyperjax.errors import check_positive
from hyperjax.nets.hyper import FilmDense, HyperDense
from hyperjax.nets.inits import (
    BaseInit,
    actor_out_base_init,
    authors_critic_out_hyper_init,
    critic_out_base_init,
    film_head_inits,
    hidden_base_init,
    hyper_head_inits,
    symmetric_uniform,
    torch_linear_bias,
    torch_linear_default,
    zeros,
)

# The scheme a module initialises with when none is named (apply never depends on it).
DEFAULT_SCHEME = {
    "standard": "standard",
    "hypernet": "bias_hyperinit",
    "film": "film_bias_hyperinit",
}


@struct.dataclass
class PolicyOutput:
    """What the actor-critic returns for obs (..., obs_dim)."""

    mean_or_logits: jax.Array  # (..., action_dim): Gaussian mean or categorical logits
    log_std: jax.Array  # (action_dim,): learned, shared by all samples; zeros if discrete
    value: jax.Array  # (...,)


# A layer factory: (input, features, base init f, name) -> pre-activation output.
LayerFn = Callable[[jax.Array, int, BaseInit, str], jax.Array]


def _tanh_embedding(x: jax.Array, features: int, name: str) -> jax.Array:
    """tanh(Linear(x)) with PyTorch's default Linear init, as the authors' FeatureExtractor."""
    dense = nn.Dense(
        features,
        kernel_init=torch_linear_default(),
        bias_init=torch_linear_bias(x.shape[-1]),
        name=name,
    )
    return jnp.tanh(dense(x))


def _actor_and_critic(
    layer: LayerFn,
    h: jax.Array,
    hidden: tuple[int, ...],
    action_dim: int,
    discrete: bool,
    critic_out: BaseInit,
) -> tuple[jax.Array, jax.Array]:
    """Separate actor and critic towers built from `layer`; returns (mean_or_logits, value)."""
    actor, critic = h, h
    for i, width in enumerate(hidden):
        actor = jnp.tanh(layer(actor, width, hidden_base_init(), f"actor_hidden_{i}"))
        critic = jnp.tanh(layer(critic, width, hidden_base_init(), f"critic_hidden_{i}"))
    mean_or_logits = layer(actor, action_dim, actor_out_base_init(discrete), "actor_out")
    value = layer(critic, 1, critic_out, "critic_out")[:, 0]
    return mean_or_logits, value


OUTPUT_LAYERS = ("actor_out", "critic_out")


def layer_names(cfg: PolicyConfig) -> tuple[str, ...]:
    """Parameter names of the actor's and critic's layers, as `_actor_and_critic` makes them:
    the hidden layers (actor and critic by depth), then the two outputs."""
    hidden = [
        f"{tower}_hidden_{i}" for i in range(len(cfg.hidden)) for tower in ("actor", "critic")
    ]
    return (*hidden, *OUTPUT_LAYERS)


def layer_base_inits(cfg: PolicyConfig, scheme: str, discrete: bool) -> dict[str, BaseInit]:
    """The base init f of every actor and critic layer (by parameter name) under `scheme`."""
    bases = {name: hidden_base_init() for name in layer_names(cfg)}
    bases["actor_out"] = actor_out_base_init(discrete)
    bases["critic_out"] = _critic_out_init(cfg, scheme)
    return bases


def _critic_out_init(cfg: PolicyConfig, scheme: str) -> BaseInit:
    """The critic output's f: PyTorch's default Linear, or, with `critic_head_init="authors"`,
    what the authors' Weight-/Bias-HyperInit heads draw for it (see `inits`). Their FiLM critic
    keeps a default-initialised weight of its own; only its generated bias is U(-1, 1)."""
    paper = critic_out_base_init(cfg.hidden[-1])
    if cfg.critic_head_init != "authors":
        return paper
    if scheme in ("weight_hyperinit", "bias_hyperinit"):
        return authors_critic_out_hyper_init()
    if scheme == "film_bias_hyperinit":
        return dataclasses.replace(paper, bias=symmetric_uniform(1.0))
    return paper


class ActorCritic(nn.Module):
    """Actor-critic of kind `cfg.kind`. Call with obs (..., obs_dim), z (..., z_dim).

    `cfg.hyper_impl` picks the generated-layer implementation; `init_scheme` only affects
    `init` (use `init_policy_params`, which validates it).
    """

    cfg: PolicyConfig
    action_dim: int
    discrete: bool
    init_scheme: str | None = None

    @nn.compact
    def __call__(self, obs: jax.Array, z: jax.Array) -> PolicyOutput:
        chex.assert_equal_shape_prefix([obs, z], obs.ndim - 1)
        lead = obs.shape[:-1]
        obs_flat = obs.reshape(-1, obs.shape[-1])
        z_flat = z.reshape(-1, z.shape[-1])

        cfg = self.cfg
        scheme = self.init_scheme or DEFAULT_SCHEME[cfg.kind]
        state = _tanh_embedding(obs_flat, cfg.state_embed_dim, "state_embed")
        task = _tanh_embedding(z_flat, cfg.task_embed_dim, "task_embed")

        if cfg.kind == "standard":
            h = jnp.concatenate([state, task], axis=-1)

            def layer(x, features, base, name):
                return nn.Dense(features, kernel_init=base.kernel, bias_init=base.bias, name=name)(
                    x
                )

        elif cfg.kind == "hypernet":
            h = state

            def layer(x, features, base, name):
                inits = hyper_head_inits(scheme, base)
                return HyperDense(features, inits, cfg.hyper_impl, name=name)(x, task)

        else:  # film
            h = state

            def layer(x, features, base, name):
                inits = film_head_inits(scheme, base)
                return FilmDense(features, base.kernel, inits, name=name)(x, task)

        mean_or_logits, value = _actor_and_critic(
            layer, h, cfg.hidden, self.action_dim, self.discrete, _critic_out_init(cfg, scheme)
        )
        if self.discrete:
            log_std = jnp.zeros((self.action_dim,), mean_or_logits.dtype)
        else:
            log_std = self.param("log_std", zeros, (self.action_dim,))

        out = PolicyOutput(
            mean_or_logits=mean_or_logits.reshape(lead + (self.action_dim,)),
            log_std=log_std,
            value=value.reshape(lead),
        )
        chex.assert_shape(out.value, lead)
        return out


def make_policy(
    cfg: PolicyConfig, action_dim: int, discrete: bool, hyper_impl: str | None = None
) -> ActorCritic:
    """The actor-critic module for `cfg` (apply with `module.apply(params, obs, z)`);
    `hyper_impl` overrides `cfg.hyper_impl`."""
    check_positive("action_dim", action_dim)
    if hyper_impl is not None:
        cfg = cfg.replace(hyper_impl=hyper_impl)  # validated by the config
    return ActorCritic(cfg=cfg, action_dim=action_dim, discrete=discrete)


def init_policy_params(
    cfg: PolicyConfig,
    scheme: str,
    key: jax.Array,
    obs_dim: int,
    z_dim: int,
    action_dim: int,
    discrete: bool,
) -> dict:
    """Initial variables ({"params": ...}) of the `cfg.kind` policy under init `scheme`.

    A pure function of (scheme, key, config); every scheme of a kind gives the same pytree
    structure and shapes. Raises ConfigError for an unknown scheme or one of another kind.
    """
    check_scheme(cfg.kind, scheme)
    check_positive("obs_dim", obs_dim)
    check_positive("z_dim", z_dim)
    module = make_policy(cfg, action_dim, discrete).clone(init_scheme=scheme)
    return module.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, z_dim)))
