"""Base initializers and the hypernetwork init schemes of Beck et al. (CoRL 2022).

Every initializer here is a Flax-style callable `init(key, shape, dtype) -> Array`. Kernels use
Flax's layout (d_in, d_out), so "each output unit's incoming row" is a *column* of the kernel.

Head layouts (a head is a linear map from the task embedding e, dim d_k):
- generated layer with fan-in d_in, fan-out d_out:
    H      (d_k, d_in, d_out)  weight head: W(e) = sum_k e_k H[k] + beta_H
                               (drawn in this layout; `HyperDense` stores it input-major)
    beta_H (d_in, d_out)       weight-head bias
    G      (d_k, d_out)        bias head:   b(e) = e @ G + beta_G
    beta_G (d_out,)            bias-head bias
- FiLM layer with fan-out d_out: scale and shift heads, kernels (d_k, d_out), biases (d_out,).

The scheme tables at the bottom map a scheme name to the initializers of one layer's heads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from hyperjax.config import INIT_SCHEMES

Initializer = Callable[..., jax.Array]  # (key, shape, dtype=float32) -> Array

TANH_GAIN = 5.0 / 3.0  # torch.nn.init.calculate_gain("tanh")

zeros: Initializer = jinit.zeros
ones: Initializer = jinit.ones


# ----------------------------------------------------------------------------------------------
# Base initializers
# ----------------------------------------------------------------------------------------------


def normc(gain: float = 1.0) -> Initializer:
    """N(0, 1) entries, then each output unit's incoming weights rescaled to L2 norm `gain`.

    The kernel's last axis indexes output units; all other axes are its fan-in.
    """

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        w = jax.random.normal(key, shape, dtype)
        fan_in_axes = tuple(range(len(shape) - 1))
        norm = jnp.sqrt(jnp.sum(jnp.square(w), axis=fan_in_axes, keepdims=True))
        return gain * w / norm

    return init


def kaiming_uniform(gain: float) -> Initializer:
    """U(+-gain * sqrt(3 / fan_in)): variance gain^2 / fan_in (torch's kaiming_uniform_)."""
    return jinit.variance_scaling(gain**2, "fan_in", "uniform")


def orthogonal(gain: float) -> Initializer:
    """(Semi-)orthogonal matrix scaled by `gain`: columns orthonormal if tall, rows if wide."""
    return jinit.orthogonal(scale=gain)


def torch_linear_default() -> Initializer:
    """PyTorch nn.Linear's default weight init: U(+-1 / sqrt(fan_in))."""
    return jinit.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias(fan_in: int) -> Initializer:
    """PyTorch nn.Linear's default bias init: U(+-1 / sqrt(fan_in)), fan_in of the layer's input
    (a Flax bias initializer only sees the bias shape, so the fan-in is bound here)."""
    return symmetric_uniform(1.0 / math.sqrt(fan_in))


def symmetric_uniform(bound: float) -> Initializer:
    """U(-bound, +bound)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)

    return init


def uniform_with_variance(variance: float) -> Initializer:
    """U(+-sqrt(3 * variance)), which has exactly the given variance."""
    return symmetric_uniform(math.sqrt(3.0 * variance))


def constant(value: float) -> Initializer:
    return jinit.constant(value)


# ----------------------------------------------------------------------------------------------
# The base init f of each layer of the actor-critic
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseInit:
    """The init f of one base layer: a kernel and a bias initializer.

    `gain` is the layer's gain, used by hyperfan-in to aim at the same output scale.
    """

    kernel: Initializer
    gain: float
    bias: Initializer = zeros


def hidden_base_init() -> BaseInit:
    """Hidden tanh layers: normc, gain 5/3, bias 0."""
    return BaseInit(normc(TANH_GAIN), TANH_GAIN)


def actor_out_base_init(discrete: bool) -> BaseInit:
    """Actor output: normc gain 1 (Gaussian mean) or orthogonal gain 0.01 (categorical logits)."""
    if discrete:
        return BaseInit(orthogonal(0.01), 0.01)
    return BaseInit(normc(1.0), 1.0)


def critic_out_base_init(fan_in: int) -> BaseInit:
    """Critic output: PyTorch's default nn.Linear (weight and bias U(+-1/sqrt(fan_in))), a
    linear layer (gain 1). The authors' base critic is exactly that layer (models/policy.py:
    `self.critic_linear = nn.Linear(hidden_layers[-1], 1)`)."""
    return BaseInit(torch_linear_default(), 1.0, torch_linear_bias(fan_in))


def authors_critic_out_hyper_init() -> BaseInit:
    """The critic output as the authors' Weight-/Bias-HyperInit heads actually draw it
    (jacooba/hyper models/policy.py, the critic-head branch of `init_hyper_for_policy`):
    `init_hyper_match(..., 'kaiming')` with adjust_init_b_gain off calls torch's
    `kaiming_uniform_` with its default leaky-relu gain sqrt(2), so W ~ U(+-sqrt(6/fan_in));
    `hyper_bias_layer_init(weight_for_uniform=zeros((hidden, 1)))` takes the fan-in of a
    (hidden, 1) tensor, which is 1, so b ~ U(-1, 1)."""
    return BaseInit(kaiming_uniform(math.sqrt(2.0)), 1.0, symmetric_uniform(1.0))


# ----------------------------------------------------------------------------------------------
# Hypernetwork head schemes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HyperHeadInits:
    """Initializers for the four head tensors of one generated layer (see module docstring)."""

    H: Initializer
    beta_H: Initializer
    G: Initializer
    beta_G: Initializer


def as_ordinary_layer(init: Initializer) -> Initializer:
    """Apply `init` to a head kernel (d_k, *target) viewed as an ordinary Dense kernel.

    A head is a Linear(d_k -> prod(target)); naive schemes initialise it as such, so each
    generated entry is one output unit with a fan-in of d_k.
    """

    def head_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        flat = init(key, (shape[0], math.prod(shape[1:])), dtype)
        return flat.reshape(shape)

    return head_init


def _hyperfan_in_weight(gain: float) -> Initializer:
    """Var(H) = gain^2 / (2 d_k d_in): with unit-variance e, Var(W) = gain^2 / (2 d_in)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        d_k, d_in, _ = shape
        return uniform_with_variance(gain**2 / (2 * d_k * d_in))(key, shape, dtype)

    return init


def _hyperfan_in_bias(gain: float) -> Initializer:
    """Var(G) = gain^2 / (2 d_k): the bias carries the other half of the output variance."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        d_k, _ = shape
        return uniform_with_variance(gain**2 / (2 * d_k))(key, shape, dtype)

    return init


def _independent_draws(base_kernel: Initializer) -> Initializer:
    """H[k] = an independent draw of the base kernel init, for each k."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        keys = jax.random.split(key, shape[0])
        return jax.vmap(lambda k: base_kernel(k, shape[1:], dtype))(keys)

    return init


def _naive(head_init: Initializer) -> HyperHeadInits:
    head = as_ordinary_layer(head_init)
    return HyperHeadInits(H=head, beta_H=zeros, G=head, beta_G=zeros)


# Scheme name -> (base init f of the layer) -> initializers of that layer's heads.
_HYPER_SCHEMES: dict[str, Callable[[BaseInit], HyperHeadInits]] = {
    # Naive: heads initialised like ordinary tanh layers, whatever the generated layer is.
    "normc": lambda base: _naive(normc(TANH_GAIN)),
    "kaiming": lambda base: _naive(kaiming_uniform(TANH_GAIN)),
    "orthogonal": lambda base: _naive(orthogonal(TANH_GAIN)),
    # Hyperfan-in (Chang et al., 2020), with the gain of the layer being generated.
    "hfi": lambda base: HyperHeadInits(
        H=_hyperfan_in_weight(base.gain),
        beta_H=zeros,
        G=_hyperfan_in_bias(base.gain),
        beta_G=zeros,
    ),
    # Each column of the weight head is a base network's weight; the generated bias is the base
    # layer's (0 but for the critic output, as the authors' hyper_bias_layer_init).
    "weight_hyperinit": lambda base: HyperHeadInits(
        H=_independent_draws(base.kernel), beta_H=zeros, G=zeros, beta_G=base.bias
    ),
    # The proposed scheme: heads 0, their biases hold one base init, so W(e) = f for every e.
    "bias_hyperinit": lambda base: HyperHeadInits(
        H=zeros, beta_H=base.kernel, G=zeros, beta_G=base.bias
    ),
}
assert set(_HYPER_SCHEMES) == set(INIT_SCHEMES["hypernet"])


def hyper_head_inits(scheme: str, base: BaseInit) -> HyperHeadInits:
    """Initializers for the heads of one generated layer whose base init is `base`."""
    return _HYPER_SCHEMES[scheme](base)


@dataclass(frozen=True)
class FilmHeadInits:
    """Initializers for a FiLM layer's scale and shift heads."""

    scale_kernel: Initializer
    scale_bias: Initializer
    shift_kernel: Initializer
    shift_bias: Initializer


_FILM_SCHEMES: dict[str, Callable[[BaseInit], FilmHeadInits]] = {
    # Naive: heads like ordinary layers. The scale then has mean 0 at init; that is the
    # baseline the paper compares against, kept on purpose.
    "film_normc": lambda base: FilmHeadInits(
        scale_kernel=normc(TANH_GAIN),
        scale_bias=zeros,
        shift_kernel=normc(TANH_GAIN),
        shift_bias=zeros,
    ),
    # Bias-HyperInit for FiLM: scale 1 and shift = f's bias for every e, so the layer is f at
    # init (the base layer has no bias of its own; the shift head generates it).
    "film_bias_hyperinit": lambda base: FilmHeadInits(
        scale_kernel=zeros, scale_bias=ones, shift_kernel=zeros, shift_bias=base.bias
    ),
}
assert set(_FILM_SCHEMES) == set(INIT_SCHEMES["film"])


def film_head_inits(scheme: str, base: BaseInit) -> FilmHeadInits:
    """Initializers for the heads of one FiLM layer whose base init is `base`."""
    return _FILM_SCHEMES[scheme](base)
