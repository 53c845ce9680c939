"""GAE with trial semantics against a plain NumPy reference.

Only a trial end cuts the recursion; an episode end inside a trial (terminated or truncated) is an
ordinary transition whose next value is the next observation's. At a trial end the bootstrap is 0
after a termination and V(final obs) after a truncation (when bootstrap_truncation is on).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperjax.algos.gae import bootstrap_values, gae

TOL = dict(rtol=1e-5, atol=1e-5)


def reference_gae(
    rewards, values, last_value, final_values, trial_end, truncated, gamma, lam, bootstrap_trunc
):
    """Explicit backwards loop over time, one env at a time. Arrays (T, E); last_value (E,)."""
    rewards, values = np.asarray(rewards, np.float64), np.asarray(values, np.float64)
    num_steps, num_envs = rewards.shape
    advantages = np.zeros_like(rewards)
    for e in range(num_envs):
        running = 0.0
        for t in reversed(range(num_steps)):
            if trial_end[t, e]:
                bootstrap = final_values[t, e] if (truncated[t, e] and bootstrap_trunc) else 0.0
                running = 0.0  # the next step belongs to a new task: cut
            else:
                bootstrap = values[t + 1, e] if t + 1 < num_steps else last_value[e]
            delta = rewards[t, e] + gamma * bootstrap - values[t, e]
            running = delta + gamma * lam * running
            advantages[t, e] = running
    return advantages, advantages + values


def run_gae(rewards, values, last_value, final_values, trial_end, truncated, gamma, lam, boot):
    """The library path, as train.py uses it."""
    values = jnp.asarray(values, jnp.float32)
    next_values = jnp.concatenate([values[1:], jnp.asarray(last_value, jnp.float32)[None]], 0)
    bootstrap = bootstrap_values(
        next_values,
        jnp.asarray(final_values, jnp.float32),
        jnp.asarray(trial_end),
        jnp.asarray(truncated),
        boot,
    )
    return gae(
        jnp.asarray(rewards, jnp.float32), values, bootstrap, jnp.asarray(trial_end), gamma, lam
    )


def col(length, *indices):
    flags = np.zeros(length, bool)
    flags[list(indices)] = True
    return flags


def make_case(seed=0, num_steps=12):
    """Four envs with hand-placed flags:

    env 0: episodes of 4 steps, 3 per trial: truncations inside the trial at t=3, 7 (no cut) and
           a truncated trial end at t=11 (the rollout's last step).
    env 1: a termination inside the trial at t=2, a terminated trial end at t=5, a truncated
           trial end mid-rollout at t=9; the rollout ends mid-trial (bootstrap from last_value).
    env 2: no episode ends at all.
    env 3: a termination inside the trial at t=0, a truncation inside the trial at t=5, then
           a truncated trial end right after it at t=6.
    """
    rng = np.random.default_rng(seed)
    n = num_steps
    terminated = np.stack([col(n), col(n, 2, 5), col(n), col(n, 0)], 1)
    truncated = np.stack([col(n, 3, 7, 11), col(n, 9), col(n), col(n, 5, 6)], 1)
    trial_end = np.stack([col(n, 11), col(n, 5, 9), col(n), col(n, 6)], 1)
    num_envs = trial_end.shape[1]
    return dict(
        rewards=rng.normal(size=(n, num_envs)).astype(np.float32),
        values=rng.normal(size=(n, num_envs)).astype(np.float32),
        last_value=rng.normal(size=(num_envs,)).astype(np.float32),
        final_values=rng.normal(size=(n, num_envs)).astype(np.float32),
        trial_end=trial_end,
        truncated=truncated,
        terminated=terminated,
    )


def args_of(case):
    return (
        case["rewards"],
        case["values"],
        case["last_value"],
        case["final_values"],
        case["trial_end"],
        case["truncated"],
    )


# ---- the reference itself, by hand -------------------------------------------------------------
HAND = dict(
    rewards=np.array([[1.0], [2.0], [3.0]]),
    values=np.array([[0.5], [1.0], [2.0]]),
    last_value=np.array([4.0]),
    final_values=np.array([[10.0], [6.0], [10.0]]),
)


def hand_case(trial_end_at=None, truncated_at=None):
    trial_end = np.zeros((3, 1), bool)
    truncated = np.zeros((3, 1), bool)
    if trial_end_at is not None:
        trial_end[trial_end_at] = True
    if truncated_at is not None:
        truncated[truncated_at] = True
    return (
        HAND["rewards"],
        HAND["values"],
        HAND["last_value"],
        HAND["final_values"],
        trial_end,
        truncated,
    )


# gamma = lam = 0.5, so gamma * lam = 0.25.
# No flags: bootstrap [1, 2, 4]; deltas 1 + .5 - .5 = 1, 2 + 1 - 1 = 2, 3 + 2 - 2 = 3;
#   A2 = 3, A1 = 2 + .25 * 3 = 2.75, A0 = 1 + .25 * 2.75 = 1.6875.
# Truncated trial end at t=1, bootstrapping: delta1 = 2 + .5 * 6 - 1 = 4, cut: A1 = 4, A0 = 2.
# Same without truncation bootstrap (or a termination): delta1 = 2 - 1 = 1, A1 = 1, A0 = 1.25.
# A truncation at t=1 that is not a trial end changes nothing.
HAND_EXPECTED = [
    (dict(), True, [1.6875, 2.75, 3.0]),
    (dict(trial_end_at=1, truncated_at=1), True, [2.0, 4.0, 3.0]),
    (dict(trial_end_at=1, truncated_at=1), False, [1.25, 1.0, 3.0]),
    (dict(trial_end_at=1), True, [1.25, 1.0, 3.0]),
    (dict(truncated_at=1), True, [1.6875, 2.75, 3.0]),
]


@pytest.mark.parametrize("flags, boot, expected", HAND_EXPECTED)
def test_hand_worked_example(flags, boot, expected):
    args = hand_case(**flags)
    expected = np.array(expected)[:, None]
    ref_adv, ref_targets = reference_gae(*args, 0.5, 0.5, boot)
    np.testing.assert_allclose(ref_adv, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref_targets, expected + HAND["values"], rtol=0, atol=1e-12)
    adv, targets = run_gae(*args, 0.5, 0.5, boot)
    np.testing.assert_allclose(adv, expected, **TOL)
    np.testing.assert_allclose(targets, expected + HAND["values"], **TOL)


# ---- hand-made sequences with every kind of flag -----------------------------------------------
@pytest.mark.parametrize("boot", [True, False])
@pytest.mark.parametrize("as_array", [False, True])
def test_matches_reference(boot, as_array):
    case = make_case()
    gamma, lam = 0.9, 0.8
    ref_adv, ref_targets = reference_gae(*args_of(case), gamma, lam, boot)
    if as_array:  # gamma and lam are pytree leaves (PPOHParams) in a sweep
        gamma, lam = jnp.asarray(gamma, jnp.float32), jnp.asarray(lam, jnp.float32)
    adv, targets = run_gae(*args_of(case), gamma, lam, boot)
    assert adv.shape == targets.shape == case["rewards"].shape
    np.testing.assert_allclose(adv, ref_adv, **TOL)
    np.testing.assert_allclose(targets, ref_targets, **TOL)
    np.testing.assert_allclose(targets, adv + case["values"], **TOL)


def test_episode_end_inside_trial_is_an_ordinary_transition():
    """Truncation/termination flags and final values off trial ends must not matter."""
    case = make_case()
    adv, targets = run_gae(*args_of(case), 0.9, 0.8, True)
    no_flags = dict(case, truncated=case["truncated"] & case["trial_end"])
    # Scramble the final values wherever they must be ignored.
    no_flags["final_values"] = np.where(
        case["trial_end"] & case["truncated"], case["final_values"], 1e3
    )
    adv2, targets2 = run_gae(*args_of(no_flags), 0.9, 0.8, True)
    np.testing.assert_allclose(adv, adv2, **TOL)
    np.testing.assert_allclose(targets, targets2, **TOL)


def test_trial_end_cuts_the_recursion():
    """Advantages before a trial end do not depend on anything after it (env 1 ends at t=5)."""
    case = make_case()
    adv, _ = run_gae(*args_of(case), 0.9, 0.8, True)
    later = dict(case)
    for key in ("rewards", "values", "final_values"):
        later[key] = case[key].copy()
        later[key][6:, 1] += 5.0
    later["last_value"] = case["last_value"] + 5.0
    adv2, _ = run_gae(*args_of(later), 0.9, 0.8, True)
    np.testing.assert_allclose(adv[:6, 1], adv2[:6, 1], **TOL)
    assert not np.allclose(adv[6:, 1], adv2[6:, 1])
    # Env 2 has no trial end: its first advantage sees the rollout's last value.
    later2 = dict(case, last_value=case["last_value"] + np.array([0, 0, 5.0, 0], np.float32))
    adv3, _ = run_gae(*args_of(later2), 0.9, 0.8, True)
    assert abs(float(adv3[0, 2] - adv[0, 2])) > 1e-3


def test_bootstrap_values():
    case = make_case()
    values = jnp.asarray(case["values"])
    next_values = jnp.concatenate([values[1:], jnp.asarray(case["last_value"])[None]], 0)
    for boot in (True, False):
        got = np.asarray(
            bootstrap_values(
                next_values,
                jnp.asarray(case["final_values"]),
                jnp.asarray(case["trial_end"]),
                jnp.asarray(case["truncated"]),
                boot,
            )
        )
        trial_trunc = case["trial_end"] & case["truncated"]
        expected = np.where(
            case["trial_end"],
            np.where(trial_trunc & boot, case["final_values"], 0.0),
            np.asarray(next_values),
        )
        np.testing.assert_array_equal(got, expected)
        # Terminated trial ends always bootstrap 0.
        assert np.all(got[case["trial_end"] & ~case["truncated"]] == 0.0)


def test_random_flags_match_reference():
    rng = np.random.default_rng(1)
    num_steps, num_envs = 12, 6
    trial_end = rng.random((num_steps, num_envs)) < 0.2
    truncated = rng.random((num_steps, num_envs)) < 0.4
    case = dict(
        rewards=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        values=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        last_value=rng.normal(size=(num_envs,)).astype(np.float32),
        final_values=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        trial_end=trial_end,
        truncated=truncated,
    )
    for gamma, lam in [(0.99, 0.95), (1.0, 1.0), (0.0, 0.5), (0.7, 0.0)]:
        for boot in (True, False):
            ref_adv, ref_targets = reference_gae(*args_of(case), gamma, lam, boot)
            adv, targets = run_gae(*args_of(case), gamma, lam, boot)
            np.testing.assert_allclose(adv, ref_adv, **TOL)
            np.testing.assert_allclose(targets, ref_targets, **TOL)


# ---- transforms ---------------------------------------------------------------------------------
def test_jit_and_vmap_over_runs():
    """A sweep vmaps over runs with per-run gamma and lam (leaves), under jit."""
    cases = [make_case(seed) for seed in range(3)]
    gammas = np.array([0.9, 0.99, 0.5], np.float32)
    lams = np.array([0.8, 0.95, 1.0], np.float32)

    def stack(key):
        return jnp.stack([jnp.asarray(c[key]) for c in cases])

    stacked = [stack(k) for k in ("rewards", "values", "last_value", "final_values")]
    trial_end, truncated = stack("trial_end"), stack("truncated")

    for boot in (True, False):

        @jax.jit
        def batched(rewards, values, last_value, final_values, trial_end, truncated, g, lm):
            return jax.vmap(
                lambda *a: run_gae(*a, boot)  # noqa: B023
            )(rewards, values, last_value, final_values, trial_end, truncated, g, lm)

        adv, targets = batched(
            *stacked, trial_end, truncated, jnp.asarray(gammas), jnp.asarray(lams)
        )
        assert adv.shape == (3, 12, 4)
        for i, case in enumerate(cases):
            ref_adv, ref_targets = reference_gae(
                *args_of(case), float(gammas[i]), float(lams[i]), boot
            )
            np.testing.assert_allclose(adv[i], ref_adv, **TOL)
            np.testing.assert_allclose(targets[i], ref_targets, **TOL)


def authors_time_limit_gae(rewards, values, last_value, trial_end, truncated, gamma, lam):
    """The authors' `use_proper_time_limits` GAE (H algorithms/online_storage.py:178-186), one env:
    masks = not done (trial end), bad_masks = not a time-limit step (any episode's, H
    environments/wrappers.py:188-193). Arrays (T,)."""
    num_steps = len(rewards)
    value_preds = np.append(np.asarray(values, np.float64), last_value)
    advantages, running = np.zeros(num_steps), 0.0
    for t in reversed(range(num_steps)):
        mask, bad_mask = 1.0 - trial_end[t], 1.0 - truncated[t]
        delta = rewards[t] + gamma * value_preds[t + 1] * mask - value_preds[t]
        running = (delta + gamma * lam * mask * running) * bad_mask
        advantages[t] = running
    return advantages, advantages + value_preds[:-1]


def test_authors_time_limits_zero_the_advantage_and_cut_the_recursion():
    """Two episodes of 3 steps in one trial, both ending at their time limit (steps 2 and 5),
    and the rollout going on into the next trial: the time-limit steps get advantage 0 and
    target V(s); the steps before them see no bootstrap from beyond the limit."""
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=8), rng.normal(size=8)
    last_value, gamma, lam = 0.7, 0.9, 0.8
    truncated = np.array([0, 0, 1, 0, 0, 1, 0, 0], bool)
    trial_end = np.array([0, 0, 0, 0, 0, 1, 0, 0], bool)
    expected = authors_time_limit_gae(rewards, values, last_value, trial_end, truncated, gamma, lam)
    next_values = np.append(values[1:], last_value)
    bootstrap = bootstrap_values(
        jnp.asarray(next_values),
        jnp.zeros(8),
        jnp.asarray(trial_end),
        jnp.asarray(truncated),
        False,
    )
    advantages, targets = gae(
        jnp.asarray(rewards),
        jnp.asarray(values),
        bootstrap,
        jnp.asarray(trial_end),
        gamma,
        lam,
        zero_at=jnp.asarray(truncated),
    )
    np.testing.assert_allclose(advantages, expected[0], **TOL)
    np.testing.assert_allclose(targets, expected[1], **TOL)
    assert advantages[2] == 0 and advantages[5] == 0
    np.testing.assert_allclose(np.asarray(targets)[[2, 5]], values[[2, 5]], **TOL)
    # Step 1 bootstraps from V(s_2), the last state before the limit, and nothing after it.
    np.testing.assert_allclose(advantages[1], rewards[1] + gamma * values[2] - values[1], **TOL)
