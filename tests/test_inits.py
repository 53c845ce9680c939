"""Base initializers and hypernetwork head schemes: the statistics the paper's argument rests on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.nets import inits
from hyperjax.nets.hyper import HyperHeads, generated_bias, generated_weight, input_major
from hyperjax.nets.inits import TANH_GAIN

D_K, D_IN, D_OUT = 25, 64, 48  # a small hidden layer; d_k as in the paper
N_EMBEDDINGS = 2000


def _draw_heads(scheme: str, base: inits.BaseInit, key: jax.Array) -> HyperHeads:
    head_inits = inits.hyper_head_inits(scheme, base)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return HyperHeads(
        H=input_major(head_inits.H)(k1, (D_IN, D_K, D_OUT)),
        beta_H=head_inits.beta_H(k2, (D_IN, D_OUT)),
        G=head_inits.G(k3, (D_K, D_OUT)),
        beta_G=head_inits.beta_G(k4, (D_OUT,)),
    )


def _generated_weight_variance(heads: HyperHeads) -> tuple[float, float]:
    """Empirical variance of generated weights and biases over unit-variance embeddings."""
    e = jax.random.normal(jax.random.key(99), (N_EMBEDDINGS, D_K))
    weights = generated_weight(heads, e)
    biases = generated_bias(heads, e)
    return float(jnp.var(weights)), float(jnp.var(biases))


def _column_norms(kernel: jax.Array) -> jax.Array:
    return jnp.linalg.norm(kernel, axis=0)


# ---- base initializers -------------------------------------------------------------------------


def test_normc_scales_each_output_units_incoming_weights_to_gain():
    w = inits.normc(TANH_GAIN)(jax.random.key(0), (300, 40))
    np.testing.assert_allclose(_column_norms(w), TANH_GAIN, rtol=1e-5)
    # Not the transposed layout: rows (over d_out) are not normalised.
    assert jnp.std(jnp.linalg.norm(w, axis=1)) > 0.01


def test_kaiming_uniform_bound_and_variance():
    gain, fan_in = TANH_GAIN, 400
    w = inits.kaiming_uniform(gain)(jax.random.key(1), (fan_in, 300))
    bound = gain * np.sqrt(3.0 / fan_in)
    assert float(jnp.max(jnp.abs(w))) <= bound
    assert float(jnp.max(jnp.abs(w))) > 0.99 * bound
    np.testing.assert_allclose(jnp.var(w), gain**2 / fan_in, rtol=0.03)


def test_torch_linear_default_is_uniform_one_over_sqrt_fan_in():
    fan_in = 128
    w = inits.torch_linear_default()(jax.random.key(2), (fan_in, 500))
    bound = 1.0 / np.sqrt(fan_in)
    assert bound * 0.99 < float(jnp.max(jnp.abs(w))) <= bound
    np.testing.assert_allclose(jnp.var(w), bound**2 / 3.0, rtol=0.03)


def test_orthogonal_with_gain():
    w = inits.orthogonal(2.0)(jax.random.key(3), (50, 20))
    np.testing.assert_allclose(w.T @ w, 4.0 * jnp.eye(20), atol=1e-5)


def test_base_init_of_each_layer_role():
    key = jax.random.key(4)
    hidden = inits.hidden_base_init().kernel(key, (32, 16))
    np.testing.assert_allclose(_column_norms(hidden), TANH_GAIN, rtol=1e-5)
    actor = inits.actor_out_base_init(discrete=False).kernel(key, (32, 6))
    np.testing.assert_allclose(_column_norms(actor), 1.0, rtol=1e-5)
    logits = inits.actor_out_base_init(discrete=True).kernel(key, (32, 6))
    np.testing.assert_allclose(logits.T @ logits, 1e-4 * jnp.eye(6), atol=1e-8)
    critic = inits.critic_out_base_init(32)
    assert float(jnp.max(jnp.abs(critic.kernel(key, (32, 1))))) <= 1.0 / np.sqrt(32)
    # PyTorch's default Linear: the bias too is U(+-1/sqrt(fan_in)), not 0.
    bias = critic.bias(key, (20_000,))
    assert 0.99 / np.sqrt(32) < float(jnp.max(jnp.abs(bias))) <= 1.0 / np.sqrt(32)
    np.testing.assert_allclose(jnp.var(bias), 1.0 / (3 * 32), rtol=0.05)
    np.testing.assert_array_equal(inits.hidden_base_init().bias(key, (16,)), 0.0)


def test_authors_critic_head_draw_is_kaiming_sqrt2_and_unit_uniform_bias():
    """jacooba/hyper models/policy.py: the critic head under init_hyper_for_policy draws
    kaiming_uniform_ (gain sqrt 2) and a bias with the fan-in of a (hidden, 1) tensor, i.e. 1."""
    authors = inits.authors_critic_out_hyper_init()
    w = authors.kernel(jax.random.key(1), (128, 400))
    bound = np.sqrt(6.0 / 128)
    assert 0.99 * bound < float(jnp.max(jnp.abs(w))) <= bound
    b = authors.bias(jax.random.key(2), (20_000,))
    assert 0.99 < float(jnp.max(jnp.abs(b))) <= 1.0
    np.testing.assert_allclose(jnp.var(b), 1.0 / 3.0, rtol=0.05)


# ---- hypernetwork schemes ----------------------------------------------------------------------


def test_hfi_generated_variance_matches_hyperfan_in():
    heads = _draw_heads("hfi", inits.hidden_base_init(), jax.random.key(5))
    weight_var, bias_var = _generated_weight_variance(heads)
    # Var(W_ij) = d_k * g^2 / (2 d_k d_in): half of the base layer's output variance each.
    np.testing.assert_allclose(weight_var, TANH_GAIN**2 / (2 * D_IN), rtol=0.1)
    np.testing.assert_allclose(bias_var, TANH_GAIN**2 / 2, rtol=0.1)
    assert float(jnp.abs(heads.beta_H).max()) == 0.0
    assert float(jnp.abs(heads.beta_G).max()) == 0.0


@pytest.mark.parametrize("scheme", ["normc", "kaiming"])
def test_naive_schemes_generate_weights_far_larger_than_the_base_init(scheme):
    heads = _draw_heads(scheme, inits.hidden_base_init(), jax.random.key(6))
    weight_var, bias_var = _generated_weight_variance(heads)
    # A head initialised like an ordinary layer has fan-in d_k: Var(W_ij) = d_k * g^2/d_k = g^2.
    np.testing.assert_allclose(weight_var, TANH_GAIN**2, rtol=0.1)
    np.testing.assert_allclose(bias_var, TANH_GAIN**2, rtol=0.1)
    base_var = TANH_GAIN**2 / D_IN  # normc: each row of d_in entries has squared norm g^2
    ratio = weight_var / base_var
    print(f"{scheme}: generated weight variance {weight_var:.3f} = {ratio:.0f}x the base init's")
    assert ratio > 0.9 * D_IN  # d_in = 64 times too large: tanh saturates


def test_naive_orthogonal_is_not_larger_for_hidden_layers():
    """A wide orthogonal head (d_k rows, d_in*d_out columns) has orthonormal rows of norm g, so
    each entry has mean square g^2 / (d_in d_out) and Var(W_ij) = g^2 d_k / (d_in d_out): smaller
    than the base init's g^2 / d_in whenever d_k < d_out."""
    heads = _draw_heads("orthogonal", inits.hidden_base_init(), jax.random.key(7))
    weight_var, bias_var = _generated_weight_variance(heads)
    expected = TANH_GAIN**2 * D_K / (D_IN * D_OUT)
    np.testing.assert_allclose(weight_var, expected, rtol=0.1)
    np.testing.assert_allclose(bias_var, TANH_GAIN**2 * D_K / D_OUT, rtol=0.1)
    base_var = TANH_GAIN**2 / D_IN
    assert weight_var < base_var
    np.testing.assert_allclose(weight_var / base_var, D_K / D_OUT, rtol=0.1)


def test_weight_hyperinit_one_hot_embedding_gives_column_k_as_base_weights():
    heads = _draw_heads("weight_hyperinit", inits.hidden_base_init(), jax.random.key(8))
    for k in (0, 7, D_K - 1):
        e = jax.nn.one_hot(jnp.array([k]), D_K)
        weight = generated_weight(heads, e)[0]
        np.testing.assert_array_equal(weight, heads.H[:, k])
        np.testing.assert_allclose(_column_norms(weight), TANH_GAIN, rtol=1e-5)  # a draw of f
        np.testing.assert_array_equal(generated_bias(heads, e), 0.0)
    assert not np.allclose(heads.H[:, 0], heads.H[:, 1])  # independent draws


def test_bias_hyperinit_heads_are_zero_and_bias_is_a_base_draw():
    heads = _draw_heads("bias_hyperinit", inits.hidden_base_init(), jax.random.key(9))
    np.testing.assert_array_equal(heads.H, 0.0)
    np.testing.assert_array_equal(heads.G, 0.0)
    np.testing.assert_array_equal(heads.beta_G, 0.0)
    np.testing.assert_allclose(_column_norms(heads.beta_H), TANH_GAIN, rtol=1e-5)


def test_bias_hyperinit_generates_the_critic_outputs_default_bias():
    heads = _draw_heads("bias_hyperinit", inits.critic_out_base_init(D_IN), jax.random.key(11))
    np.testing.assert_array_equal(heads.G, 0.0)
    assert float(jnp.abs(heads.beta_G).max()) > 0.0
    assert float(jnp.abs(heads.beta_G).max()) <= 1.0 / np.sqrt(D_IN)


def test_film_schemes():
    key = jax.random.key(10)
    bias_init = inits.film_head_inits("film_bias_hyperinit", inits.hidden_base_init())
    np.testing.assert_array_equal(bias_init.scale_kernel(key, (D_K, D_OUT)), 0.0)
    np.testing.assert_array_equal(bias_init.scale_bias(key, (D_OUT,)), 1.0)
    np.testing.assert_array_equal(bias_init.shift_kernel(key, (D_K, D_OUT)), 0.0)
    np.testing.assert_array_equal(bias_init.shift_bias(key, (D_OUT,)), 0.0)
    naive = inits.film_head_inits("film_normc", inits.hidden_base_init())
    scale_kernel = naive.scale_kernel(key, (D_K, D_OUT))
    np.testing.assert_allclose(_column_norms(scale_kernel), TANH_GAIN, rtol=1e-5)
    np.testing.assert_array_equal(naive.scale_bias(key, (D_OUT,)), 0.0)  # scale ~ 0 on average
