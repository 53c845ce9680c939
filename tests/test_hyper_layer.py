"""The generated linear layer: every implementation agrees, shapes are checked, gradients flow."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hyperjax.config import PolicyConfig
from hyperjax.errors import ConfigError
from hyperjax.nets import inits
from hyperjax.nets.hyper import (
    HYPER_IMPLS,
    HyperDense,
    HyperHeads,
    generated_bias,
    generated_weight,
    hyper_linear_factorised,
    hyper_linear_materialised,
)
from hyperjax.nets.policy import init_policy_params, make_policy

B, D_K, D_IN, D_OUT = 12, 5, 16, 8


def _random_heads(key: jax.Array) -> HyperHeads:
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return HyperHeads(
        H=jax.random.normal(k1, (D_IN, D_K, D_OUT)),
        beta_H=jax.random.normal(k2, (D_IN, D_OUT)),
        G=jax.random.normal(k3, (D_K, D_OUT)),
        beta_G=jax.random.normal(k4, (D_OUT,)),
    )


def _inputs(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    kx, ke = jax.random.split(key)
    return jax.random.normal(kx, (B, D_IN)), jnp.tanh(jax.random.normal(ke, (B, D_K)))


def test_materialised_is_the_definition():
    heads = _random_heads(jax.random.key(0))
    x, e = _inputs(jax.random.key(1))
    y = hyper_linear_materialised(heads, x, e)
    for b in range(3):
        weight = sum(e[b, k] * heads.H[:, k] for k in range(D_K)) + heads.beta_H
        bias = heads.G.T @ e[b] + heads.beta_G
        np.testing.assert_allclose(y[b], x[b] @ weight + bias, rtol=1e-5, atol=1e-5)
    chex.assert_shape(generated_weight(heads, e), (B, D_IN, D_OUT))
    chex.assert_shape(generated_bias(heads, e), (B, D_OUT))


FAST_IMPLS = [name for name in HYPER_IMPLS if name != "materialised"]


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_implementations_agree_with_materialised_at_random_params(impl, seed):
    heads = _random_heads(jax.random.key(seed))
    x, e = _inputs(jax.random.key(seed + 100))
    fast = HYPER_IMPLS[impl](heads, x, e)
    slow = hyper_linear_materialised(heads, x, e)
    chex.assert_shape(fast, (B, D_OUT))
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)
    # Different params give different outputs: the comparison is not vacuous.
    assert not np.allclose(fast, HYPER_IMPLS[impl](_random_heads(jax.random.key(77)), x, e))


@pytest.mark.parametrize("impl", FAST_IMPLS)
def test_fast_implementations_have_materialised_gradients(impl):
    heads = _random_heads(jax.random.key(5))
    x, e = _inputs(jax.random.key(6))

    def loss(fn, heads, x, e):
        return jnp.sum(jnp.sin(fn(heads, x, e)))

    fast = jax.grad(loss, argnums=(1, 2, 3))(HYPER_IMPLS[impl], heads, x, e)
    slow = jax.grad(loss, argnums=(1, 2, 3))(hyper_linear_materialised, heads, x, e)
    chex.assert_trees_all_close(fast, slow, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("scheme", ["bias_hyperinit", "weight_hyperinit", "hfi"])
def test_module_implementations_agree_at_init(scheme):
    head_inits = inits.hyper_head_inits(scheme, inits.hidden_base_init())
    x, e = _inputs(jax.random.key(3))
    fast = HyperDense(D_OUT, head_inits, impl="factorised")
    slow = HyperDense(D_OUT, head_inits, impl="materialised")
    params = fast.init(jax.random.key(4), x, e)
    np.testing.assert_allclose(
        fast.apply(params, x, e), slow.apply(params, x, e), rtol=1e-5, atol=1e-5
    )


def test_shape_mismatch_is_caught():
    heads = _random_heads(jax.random.key(0))
    x, e = _inputs(jax.random.key(1))
    with pytest.raises(AssertionError):
        hyper_linear_factorised(heads, x[:, :-1], e)
    with pytest.raises(AssertionError):
        hyper_linear_materialised(heads, x, e[:-1])


def test_unknown_impl_is_a_config_error():
    with pytest.raises(ConfigError, match="factorised, outer_product, materialised"):
        make_policy(PolicyConfig.sized("XS"), 2, False, hyper_impl="fused")
    with pytest.raises(ConfigError, match="policy.hyper_impl.*factorised, outer_product"):
        PolicyConfig(hyper_impl="fused")


def test_config_picks_the_implementation():
    module = make_policy(PolicyConfig.sized("XS", hyper_impl="materialised"), 2, False)
    assert module.cfg.hyper_impl == "materialised"
    assert make_policy(PolicyConfig.sized("XS"), 2, False).cfg.hyper_impl == "factorised"
    assert make_policy(PolicyConfig.sized("XS"), 2, False, "outer_product").cfg.hyper_impl == (
        "outer_product"
    )


CFG = PolicyConfig(kind="hypernet", state_embed_dim=16, hidden=(16, 8), task_embed_dim=5)
OBS_DIM, Z_DIM, ACTION_DIM = 6, 3, 2


def test_policy_implementations_agree_at_non_init_params():
    @jax.jit
    def both_outputs(key):
        k_init, k_noise, k_obs, k_z = jax.random.split(key, 4)
        variables = init_policy_params(CFG, "hfi", k_init, OBS_DIM, Z_DIM, ACTION_DIM, False)
        # Perturb every parameter so no head is zero.
        leaves, treedef = jax.tree.flatten(variables)
        keys = jax.random.split(k_noise, len(leaves))
        noisy = [
            leaf + 0.3 * jax.random.normal(k, leaf.shape)
            for leaf, k in zip(leaves, keys, strict=True)
        ]
        variables = jax.tree.unflatten(treedef, noisy)
        obs = jax.random.normal(k_obs, (4, 5, OBS_DIM))
        z = jax.random.normal(k_z, (4, 5, Z_DIM))
        fast = make_policy(CFG, ACTION_DIM, False, "factorised").apply(variables, obs, z)
        slow = make_policy(CFG, ACTION_DIM, False, "materialised").apply(variables, obs, z)
        return fast, slow

    fast, slow = both_outputs(jax.random.key(0))
    chex.assert_shape(fast.mean_or_logits, (4, 5, ACTION_DIM))
    chex.assert_trees_all_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_bias_hyperinit_head_weights_leave_zero_after_one_step():
    policy = make_policy(CFG, ACTION_DIM, False)
    optimizer = optax.adam(1e-3)

    @jax.jit
    def init_and_step(key):
        keys = jax.random.split(key, 5)
        variables = init_policy_params(
            CFG, "bias_hyperinit", keys[0], OBS_DIM, Z_DIM, ACTION_DIM, False
        )
        obs = jax.random.normal(keys[1], (32, OBS_DIM))
        z = jax.random.normal(keys[2], (32, Z_DIM))
        target_action = jax.random.normal(keys[3], (32, ACTION_DIM))
        target_value = jax.random.normal(keys[4], (32,))

        def loss_fn(v):
            out = policy.apply(v, obs, z)
            action_loss = jnp.mean((out.mean_or_logits - target_action) ** 2)
            return action_loss + jnp.mean((out.value - target_value) ** 2)

        grads = jax.grad(loss_fn)(variables)
        updates, _ = optimizer.update(grads, optimizer.init(variables), variables)
        return variables, optax.apply_updates(variables, updates)

    variables, stepped = init_and_step(jax.random.key(0))
    layers = [name for name in variables["params"] if "hidden" in name or name.endswith("_out")]
    assert len(layers) == 2 * (len(CFG.hidden) + 1)
    for name in layers:
        for head in ("H", "G"):
            before = variables["params"][name][head]
            after = stepped["params"][name][head]
            np.testing.assert_array_equal(before, 0.0)
            assert float(jnp.min(jnp.abs(after))) > 0.0, f"{name}/{head} did not move"
