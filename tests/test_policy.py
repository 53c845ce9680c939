"""Actor-critic policies, init-scheme plumbing and the action distributions."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp
from jax.scipy.stats import multivariate_normal

from hyperjax.config import INIT_SCHEMES, PolicyConfig
from hyperjax.errors import ConfigError
from hyperjax.nets import distributions as dist
from hyperjax.nets.hyper import HyperHeads, generated_bias, generated_weight
from hyperjax.nets.inits import TANH_GAIN
from hyperjax.nets.policy import PolicyOutput, init_policy_params, make_policy

OBS_DIM, Z_DIM, ACTION_DIM = 6, 3, 4
LEAD = (3, 5)  # arbitrary leading dims, e.g. (time, envs)


def _cfg(kind: str) -> PolicyConfig:
    return PolicyConfig(kind=kind, state_embed_dim=16, hidden=(16, 12), task_embed_dim=5)


def _key(seed: int) -> jax.Array:
    # RngBitGenerator keys: same statistics, XLA compiles them several times faster than
    # threefry, which keeps these tests quick on a shared CPU. The nets are key-impl agnostic.
    return jax.random.key(seed, impl="rbg")


@functools.cache
def _init_and_apply(kind: str, scheme: str, discrete: bool):
    """Initial variables, random obs and z (scale 5, so embeddings differ a lot), and the output."""
    cfg = _cfg(kind)
    policy = make_policy(cfg, ACTION_DIM, discrete)

    @jax.jit
    def run(key):
        k_init, k_obs, k_z = jax.random.split(key, 3)
        variables = init_policy_params(cfg, scheme, k_init, OBS_DIM, Z_DIM, ACTION_DIM, discrete)
        obs = jax.random.normal(k_obs, LEAD + (OBS_DIM,))
        z = 5.0 * jax.random.normal(k_z, LEAD + (Z_DIM,))
        return variables, obs, z, policy.apply(variables, obs, z)

    return run(_key(0))


# ---- parameters and schemes --------------------------------------------------------------------


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("kind", ["standard", "hypernet", "film"])
def test_every_scheme_of_a_kind_gives_the_same_pytree(kind, discrete):
    def shapes(scheme):
        init = functools.partial(
            init_policy_params, _cfg(kind), scheme, obs_dim=OBS_DIM, z_dim=Z_DIM,
            action_dim=ACTION_DIM, discrete=discrete,
        )  # fmt: skip
        return jax.eval_shape(init, jax.random.key(0))

    reference = shapes(INIT_SCHEMES[kind][0])
    for scheme in INIT_SCHEMES[kind][1:]:
        other = shapes(scheme)
        assert jax.tree.structure(other) == jax.tree.structure(reference), scheme
        chex.assert_trees_all_equal_shapes_and_dtypes(other, reference)
    assert ("log_std" in reference["params"]) == (not discrete)


@pytest.mark.parametrize(
    "kind, scheme, allowed",
    [
        ("hypernet", "no_such_scheme", INIT_SCHEMES["hypernet"]),
        ("film", "hfi", INIT_SCHEMES["film"]),
        ("standard", "bias_hyperinit", INIT_SCHEMES["standard"]),
        ("hypernet", "film_bias_hyperinit", INIT_SCHEMES["hypernet"]),
    ],
)
def test_bad_scheme_raises_config_error_listing_allowed_names(kind, scheme, allowed):
    # key=None: the check must come before any jax work.
    with pytest.raises(ConfigError) as excinfo:
        init_policy_params(_cfg(kind), scheme, None, OBS_DIM, Z_DIM, ACTION_DIM, False)
    message = str(excinfo.value)
    assert repr(scheme) in message
    for name in allowed:
        assert name in message


# ---- forward pass ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, scheme, discrete",
    [
        ("standard", "standard", False),
        ("hypernet", "hfi", False),
        ("film", "film_normc", False),
        ("hypernet", "normc", True),
    ],
)
def test_outputs_have_the_documented_shapes_and_depend_on_z(kind, scheme, discrete):
    variables, obs, z, out = _init_and_apply(kind, scheme, discrete)
    assert isinstance(out, PolicyOutput)
    assert len(jax.tree.leaves(out)) == 3  # a pytree
    chex.assert_shape(out.mean_or_logits, LEAD + (ACTION_DIM,))
    chex.assert_shape(out.log_std, (ACTION_DIM,))
    chex.assert_shape(out.value, LEAD)
    chex.assert_tree_all_finite(out)
    np.testing.assert_array_equal(out.log_std, 0.0)
    # Same observation, another task input: a different action (z is really used).
    policy = make_policy(_cfg(kind), ACTION_DIM, discrete)
    other = policy.apply(variables, obs, z + 1.0)
    assert not np.allclose(other.mean_or_logits, out.mean_or_logits)


def _task_embedding(variables: dict, z: jax.Array) -> jax.Array:
    dense = variables["params"]["task_embed"]
    return jnp.tanh(z @ dense["kernel"] + dense["bias"])


def test_bias_hyperinit_gives_one_correctly_initialised_base_net_for_every_embedding():
    variables, obs, z, out = _init_and_apply("hypernet", "bias_hyperinit", False)
    params = variables["params"]
    z_flat = z.reshape(-1, Z_DIM)
    e_a = _task_embedding(variables, z_flat)
    e_b = _task_embedding(variables, -z_flat[::-1])
    assert float(jnp.mean(jnp.abs(e_a - e_b))) > 0.5  # very different embeddings

    generated_layers = [name for name in params if "hidden" in name or name.endswith("_out")]
    assert len(generated_layers) == 6
    for name in generated_layers:
        heads = HyperHeads(**params[name])
        weights_a, weights_b = generated_weight(heads, e_a), generated_weight(heads, e_b)
        np.testing.assert_array_equal(weights_a, weights_b)
        np.testing.assert_array_equal(generated_bias(heads, e_a), generated_bias(heads, e_b))
        if name == "critic_out":  # PyTorch's default Linear bias, U(+-1/sqrt(d_in))
            bias = generated_bias(heads, e_a)
            assert 0.0 < float(jnp.abs(bias).max()) <= 1.0 / np.sqrt(heads.H.shape[0])
        else:
            np.testing.assert_array_equal(generated_bias(heads, e_a), 0.0)
        if "hidden" in name:
            # each output unit's incoming weights: a column in the (d_in, d_out) layout
            row_norms = jnp.linalg.norm(weights_a, axis=1)
            np.testing.assert_allclose(row_norms, TANH_GAIN, rtol=1e-5)

    # Hence the whole policy ignores z at init (the layers above are bit-identical; the two
    # applies may still round differently by an ulp, e.g. under LLVM -O0).
    other = make_policy(_cfg("hypernet"), ACTION_DIM, False).apply(variables, obs, -z)
    chex.assert_trees_all_close(other, out, rtol=1e-6, atol=1e-6)


def test_film_bias_hyperinit_ignores_z_at_init():
    variables, obs, z, out = _init_and_apply("film", "film_bias_hyperinit", False)
    other = make_policy(_cfg("film"), ACTION_DIM, False).apply(variables, obs, 3.0 * z + 1.0)
    chex.assert_trees_all_close(other, out, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["standard", "hypernet", "film"])
def test_embeddings_are_pytorch_default_linear_layers(kind):
    """The authors' FeatureExtractor is a plain nn.Linear: weight and bias U(+-1/sqrt(fan_in)).
    On unit-variance inputs that gives E[e^2] ~ 0.23 and almost no saturated unit (a normc
    gain-5/3 embedding gives 0.58, with 27% of units beyond |e| > 0.95)."""
    fan_in, width = 40, 25
    cfg = PolicyConfig(kind=kind, state_embed_dim=64, hidden=(16,), task_embed_dim=width)
    variables = init_policy_params(cfg, DEFAULT[kind], _key(3), OBS_DIM, fan_in, 2, False)
    dense = variables["params"]["task_embed"]
    bound = 1.0 / np.sqrt(fan_in)
    for name in ("kernel", "bias"):
        assert 0.8 * bound < float(jnp.abs(dense[name]).max()) <= bound
    assert float(jnp.abs(dense["bias"]).min()) > 0.0  # not the zero bias of a normc layer
    state_kernel = variables["params"]["state_embed"]["kernel"]
    assert float(jnp.abs(state_kernel).max()) <= 1.0 / np.sqrt(OBS_DIM)

    z = jax.random.normal(jax.random.key(4), (4000, fan_in))
    e = jnp.tanh(z @ dense["kernel"] + dense["bias"])
    # One draw of the layer: per unit, Var(pre-activation) = |w|^2 + 0, so average over units.
    mean_square = float(jnp.mean(jnp.square(e)))
    saturated = float(jnp.mean(jnp.abs(e) > 0.95))
    print(f"{kind}: E[e^2] = {mean_square:.3f}, saturated {saturated:.2%}")
    assert 0.17 < mean_square < 0.30
    assert saturated < 0.02


DEFAULT = {"standard": "standard", "hypernet": "bias_hyperinit", "film": "film_bias_hyperinit"}


def test_film_base_layers_have_no_bias_of_their_own():
    """The authors' FiLM: nn.Linear(..., bias=False) and h = (W x) * scale + shift."""
    variables, obs, z, out = _init_and_apply("film", "film_bias_hyperinit", False)
    params = variables["params"]
    film_layers = [name for name in params if "hidden" in name or name.endswith("_out")]
    assert len(film_layers) == 6
    for name in film_layers:
        assert set(params[name]["base"]) == {"kernel"}
    # The generated bias of the critic output is its PyTorch-default bias, for every e.
    shift = params["critic_out"]["shift_head"]
    np.testing.assert_array_equal(shift["kernel"], 0.0)
    assert 0.0 < float(jnp.abs(shift["bias"]).max()) <= 1.0 / np.sqrt(_cfg("film").hidden[-1])


@pytest.mark.parametrize("scheme", ["weight_hyperinit", "bias_hyperinit"])
def test_authors_critic_head_option(scheme):
    hidden = 64
    draws_all = {}
    for option in ("paper", "authors"):
        cfg = PolicyConfig(state_embed_dim=16, hidden=(hidden,), critic_head_init=option)
        variables = init_policy_params(cfg, scheme, _key(5), OBS_DIM, Z_DIM, 2, False)
        draws_all[option] = variables["params"]
    draws = {option: params["critic_out"] for option, params in draws_all.items()}
    weight = "beta_H" if scheme == "bias_hyperinit" else "H"
    paper, authors = draws["paper"], draws["authors"]
    assert float(jnp.abs(paper[weight]).max()) <= 1.0 / np.sqrt(hidden)
    assert float(jnp.abs(authors[weight]).max()) > 1.5 / np.sqrt(hidden)
    assert float(jnp.abs(authors[weight]).max()) <= np.sqrt(6.0 / hidden)
    assert float(jnp.abs(paper["beta_G"]).max()) <= 1.0 / np.sqrt(hidden)
    assert 1.0 / np.sqrt(hidden) < float(jnp.abs(authors["beta_G"]).max()) <= 1.0
    # The other layers do not depend on the option.
    hidden_layers = {option: draws_all[option]["actor_hidden_0"] for option in draws_all}
    chex.assert_trees_all_equal(hidden_layers["paper"], hidden_layers["authors"])


def test_unknown_critic_head_init_is_a_config_error():
    with pytest.raises(ConfigError, match="policy.critic_head_init"):
        PolicyConfig(critic_head_init="torch")


# ---- action distributions ----------------------------------------------------------------------


def _gaussian_output() -> PolicyOutput:
    mean = jax.random.normal(jax.random.key(1), LEAD + (ACTION_DIM,))
    log_std = jnp.array([-1.0, 0.0, 0.5, 0.2])
    return PolicyOutput(mean_or_logits=mean, log_std=log_std, value=jnp.zeros(LEAD))


def test_gaussian_log_prob_and_entropy_match_jax_scipy():
    out = _gaussian_output()
    actions = dist.sample(out, jax.random.key(2), discrete=False)
    chex.assert_shape(actions, LEAD + (ACTION_DIM,))
    cov = jnp.diag(jnp.exp(2 * out.log_std))
    reference = multivariate_normal.logpdf(actions, out.mean_or_logits, cov)
    np.testing.assert_allclose(dist.log_prob(out, actions, False), reference, rtol=1e-5)

    _, logdet = jnp.linalg.slogdet(2 * jnp.pi * jnp.e * cov)
    entropy = dist.entropy(out, False)
    chex.assert_shape(entropy, LEAD)
    np.testing.assert_allclose(entropy, 0.5 * logdet, rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(out, False), out.mean_or_logits)


def test_gaussian_samples_have_the_policy_std():
    out = _gaussian_output()
    out = out.replace(mean_or_logits=jnp.zeros((20000, ACTION_DIM)), value=jnp.zeros(20000))
    actions = dist.sample(out, jax.random.key(3), discrete=False)
    np.testing.assert_allclose(jnp.std(actions, axis=0), jnp.exp(out.log_std), rtol=0.03)


def test_categorical_policy_and_distribution():
    variables, obs, z, out = _init_and_apply("hypernet", "bias_hyperinit", True)
    # Orthogonal(0.01) output layer: nearly uniform logits at init.
    assert float(jnp.max(jnp.abs(out.mean_or_logits))) < 0.1
    np.testing.assert_allclose(dist.entropy(out, True), np.log(ACTION_DIM), rtol=1e-3)

    logits = jnp.array([[2.0, 0.0, -1.0, 0.5]])
    peaked = PolicyOutput(logits, jnp.zeros(ACTION_DIM), jnp.zeros(1))
    actions = dist.sample(peaked.replace(mean_or_logits=jnp.repeat(logits, 20000, 0)),
                          jax.random.key(4), True)  # fmt: skip
    assert actions.dtype == jnp.int32
    frequencies = jnp.bincount(actions, length=ACTION_DIM) / actions.shape[0]
    probabilities = jax.nn.softmax(logits[0])
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015)

    every_action = jnp.arange(ACTION_DIM)[:, None]
    log_probs = dist.log_prob(peaked, every_action, True)
    np.testing.assert_allclose(log_probs[:, 0], logits[0] - logsumexp(logits[0]), rtol=1e-5)
    reference_entropy = -jnp.sum(probabilities * jnp.log(probabilities))
    np.testing.assert_allclose(dist.entropy(peaked, True), [reference_entropy], rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(peaked, True), [0])
