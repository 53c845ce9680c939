"""Layers whose parameters are generated from a task embedding e.

A generated (hyper) linear layer computes, per sample,
    y = W(e) x + b(e),   W(e) = sum_k e_k H[:, k] + beta_H,   b(e) = e @ G + beta_G
The weight head H is stored input-major, (d_in, d_k, d_out), so that x @ H is one matmul of
the parameter as it lies in memory (the init formulas in `hyperjax.nets.inits` draw it as
(d_k, d_in, d_out); `input_major` turns one into the other). Three implementations that agree
to float precision:
- `materialised`: builds each sample's weight matrix, shape (B, d_in, d_out). Readable reference.
- `factorised` (default): never builds W(e). Every head's output for every sample, then mixed:
      y = sum_k e_k (x @ H[:, k]) + x @ beta_H + b(e)
  one (B, d_in) x (d_in, d_k d_out) matmul, and nothing is copied from the parameters.
- `outer_product`: with e1 = [e, 1], y = (e1 outer x).flat @ [H; beta_H].flat + b(e), one
  (B, (d_k+1) d_in) x ((d_k+1) d_in, d_out) matmul. The same FLOPs as `factorised`, but it
  copies the stacked heads on every call: about 1.7x (XL) and 3-4.5x (XS) slower inside the
  training loop on CPU (benchmarks/RESULTS.md).
A FiLM layer keeps its own weights and generates a per-unit scale and shift instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax import config
from hyperjax.nets.inits import FilmHeadInits, HyperHeadInits, Initializer


class HyperHeads(NamedTuple):
    """The four head tensors of one generated layer."""

    H: jax.Array  # (d_in, d_k, d_out): input-major, see the module docstring
    beta_H: jax.Array  # (d_in, d_out)
    G: jax.Array  # (d_k, d_out)
    beta_G: jax.Array  # (d_out,)


def input_major(head_init: Initializer) -> Initializer:
    """A weight-head initializer for the stored layout (d_in, d_k, d_out), from one that draws
    in the init formulas' layout (d_k, d_in, d_out): the same numbers, transposed once."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        d_in, d_k, d_out = shape
        return jnp.moveaxis(head_init(key, (d_k, d_in, d_out), dtype), 0, 1)

    return init


def _check_inputs(heads: HyperHeads, x: jax.Array, e: jax.Array) -> None:
    d_in, d_k, d_out = heads.H.shape
    chex.assert_rank([x, e], 2)
    chex.assert_equal_shape_prefix([x, e], 1)
    chex.assert_shape([x, e], [(None, d_in), (None, d_k)])
    chex.assert_shape(
        [heads.beta_H, heads.G, heads.beta_G], [(d_in, d_out), (d_k, d_out), (d_out,)]
    )


def generated_weight(heads: HyperHeads, e: jax.Array) -> jax.Array:
    """Per-sample base weights W(e), shape (B, d_in, d_out)."""
    return jnp.einsum("bk,iko->bio", e, heads.H) + heads.beta_H


def generated_bias(heads: HyperHeads, e: jax.Array) -> jax.Array:
    """Per-sample base biases b(e), shape (B, d_out)."""
    return e @ heads.G + heads.beta_G


def hyper_linear_materialised(heads: HyperHeads, x: jax.Array, e: jax.Array) -> jax.Array:
    """y = W(e) x + b(e) with W(e) built for every sample. x (B, d_in), e (B, d_k)."""
    _check_inputs(heads, x, e)
    weight = generated_weight(heads, e)
    return jnp.einsum("bi,bio->bo", x, weight) + generated_bias(heads, e)


def hyper_linear_factorised(heads: HyperHeads, x: jax.Array, e: jax.Array) -> jax.Array:
    """y = W(e) x + b(e) as every head's output x @ H[:, k], mixed by e."""
    _check_inputs(heads, x, e)
    per_head = jnp.einsum("bi,iko->bko", x, heads.H)
    return jnp.einsum("bk,bko->bo", e, per_head) + x @ heads.beta_H + generated_bias(heads, e)


def hyper_linear_outer_product(heads: HyperHeads, x: jax.Array, e: jax.Array) -> jax.Array:
    """y = W(e) x + b(e) as one matmul over the outer product of [e, 1] and x."""
    _check_inputs(heads, x, e)
    batch = x.shape[0]
    d_in, d_k, d_out = heads.H.shape
    e1 = jnp.concatenate([e, jnp.ones((batch, 1), e.dtype)], axis=-1)
    features = (x[:, :, None] * e1[:, None, :]).reshape(batch, d_in * (d_k + 1))
    stacked = jnp.concatenate([heads.H, heads.beta_H[:, None]], axis=1).reshape(-1, d_out)
    return features @ stacked + generated_bias(heads, e)


HYPER_IMPLS: dict[str, Callable[[HyperHeads, jax.Array, jax.Array], jax.Array]] = {
    "factorised": hyper_linear_factorised,
    "outer_product": hyper_linear_outer_product,
    "materialised": hyper_linear_materialised,
}
assert tuple(HYPER_IMPLS) == config.HYPER_IMPLS


class HyperDense(nn.Module):
    """A linear layer whose weight and bias are generated from e. Inputs x (B, d_in), e (B, d_k).

    `head_inits` only matters at init; `impl` (static) picks the implementation.
    """

    features: int
    head_inits: HyperHeadInits
    impl: str = "factorised"

    @nn.compact
    def __call__(self, x: jax.Array, e: jax.Array) -> jax.Array:
        d_in, d_k, d_out = x.shape[-1], e.shape[-1], self.features
        inits = self.head_inits
        heads = HyperHeads(
            H=self.param("H", input_major(inits.H), (d_in, d_k, d_out)),
            beta_H=self.param("beta_H", inits.beta_H, (d_in, d_out)),
            G=self.param("G", inits.G, (d_k, d_out)),
            beta_G=self.param("beta_G", inits.beta_G, (d_out,)),
        )
        y = HYPER_IMPLS[self.impl](heads, x, e)
        chex.assert_shape(y, (x.shape[0], d_out))
        return y


class FilmDense(nn.Module):
    """h = scale(e) * (W x) + shift(e): own base weights without a bias (the shift head generates
    it), per-unit scale and shift heads, as the authors' FiLM (models/policy.py, `use_film`:
    `nn.Linear(..., bias=False)` and `h*scaling + bias`)."""

    features: int
    kernel_init: Initializer
    head_inits: FilmHeadInits

    @nn.compact
    def __call__(self, x: jax.Array, e: jax.Array) -> jax.Array:
        chex.assert_equal_shape_prefix([x, e], x.ndim - 1)
        inits = self.head_inits
        base = nn.Dense(self.features, kernel_init=self.kernel_init, use_bias=False, name="base")
        scale = nn.Dense(
            self.features,
            kernel_init=inits.scale_kernel,
            bias_init=inits.scale_bias,
            name="scale_head",
        )
        shift = nn.Dense(
            self.features,
            kernel_init=inits.shift_kernel,
            bias_init=inits.shift_bias,
            name="shift_head",
        )
        return scale(e) * base(x) + shift(e)
