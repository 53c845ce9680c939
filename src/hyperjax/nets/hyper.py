"""Layers whose parameters are generated from a task embedding e.

A generated (hyper) linear layer computes, per sample,
    y = W(e) x + b(e),   W(e) = sum_k e_k H[k] + beta_H,   b(e) = e @ G + beta_G
(tensor layouts in `hyperjax.nets.inits`). Two implementations that agree to float precision:
- `materialised`: builds each sample's weight matrix, shape (B, d_in, d_out). Readable reference.
- `factorised`: never builds W(e). With e1 = [e, 1],
      y = sum_k e1_k (x @ [H; beta_H][k]) + b(e) = (e1 outer x).flat @ [H; beta_H].flat + b(e)
  which is ONE matmul of (B, (d_k+1) d_in) by ((d_k+1) d_in, d_out). Fastest of the variants
  measured in benchmarks/hypernet_layer.py.
A FiLM layer keeps its own weights and generates a per-unit scale and shift instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from hyperjax.nets.inits import FilmHeadInits, HyperHeadInits, Initializer, zeros


class HyperHeads(NamedTuple):
    """The four head tensors of one generated layer."""

    H: jax.Array  # (d_k, d_in, d_out)
    beta_H: jax.Array  # (d_in, d_out)
    G: jax.Array  # (d_k, d_out)
    beta_G: jax.Array  # (d_out,)


def _check_inputs(heads: HyperHeads, x: jax.Array, e: jax.Array) -> None:
    d_k, d_in, d_out = heads.H.shape
    chex.assert_rank([x, e], 2)
    chex.assert_equal_shape_prefix([x, e], 1)
    chex.assert_shape([x, e], [(None, d_in), (None, d_k)])
    chex.assert_shape(
        [heads.beta_H, heads.G, heads.beta_G], [(d_in, d_out), (d_k, d_out), (d_out,)]
    )


def generated_weight(heads: HyperHeads, e: jax.Array) -> jax.Array:
    """Per-sample base weights W(e), shape (B, d_in, d_out)."""
    return jnp.einsum("bk,kio->bio", e, heads.H) + heads.beta_H


def generated_bias(heads: HyperHeads, e: jax.Array) -> jax.Array:
    """Per-sample base biases b(e), shape (B, d_out)."""
    return e @ heads.G + heads.beta_G


def hyper_linear_materialised(heads: HyperHeads, x: jax.Array, e: jax.Array) -> jax.Array:
    """y = W(e) x + b(e) with W(e) built for every sample. x (B, d_in), e (B, d_k)."""
    _check_inputs(heads, x, e)
    weight = generated_weight(heads, e)
    return jnp.einsum("bi,bio->bo", x, weight) + generated_bias(heads, e)


def hyper_linear_factorised(heads: HyperHeads, x: jax.Array, e: jax.Array) -> jax.Array:
    """y = W(e) x + b(e) as one matmul over the outer product of [e, 1] and x."""
    _check_inputs(heads, x, e)
    batch = x.shape[0]
    d_k, d_in, d_out = heads.H.shape
    e1 = jnp.concatenate([e, jnp.ones((batch, 1), e.dtype)], axis=-1)
    features = (e1[:, :, None] * x[:, None, :]).reshape(batch, (d_k + 1) * d_in)
    stacked = jnp.concatenate([heads.H, heads.beta_H[None]], axis=0).reshape(-1, d_out)
    return features @ stacked + generated_bias(heads, e)


HYPER_IMPLS: dict[str, Callable[[HyperHeads, jax.Array, jax.Array], jax.Array]] = {
    "factorised": hyper_linear_factorised,
    "materialised": hyper_linear_materialised,
}


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
            H=self.param("H", inits.H, (d_k, d_in, d_out)),
            beta_H=self.param("beta_H", inits.beta_H, (d_in, d_out)),
            G=self.param("G", inits.G, (d_k, d_out)),
            beta_G=self.param("beta_G", inits.beta_G, (d_out,)),
        )
        y = HYPER_IMPLS[self.impl](heads, x, e)
        chex.assert_shape(y, (x.shape[0], d_out))
        return y


class FilmDense(nn.Module):
    """h = scale(e) * (W x + b) + shift(e): own base weights, per-unit scale and shift heads."""

    features: int
    kernel_init: Initializer
    head_inits: FilmHeadInits

    @nn.compact
    def __call__(self, x: jax.Array, e: jax.Array) -> jax.Array:
        chex.assert_equal_shape_prefix([x, e], x.ndim - 1)
        inits = self.head_inits
        base = nn.Dense(self.features, kernel_init=self.kernel_init, bias_init=zeros, name="base")
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
