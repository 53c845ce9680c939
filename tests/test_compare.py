"""P(X > Y) for the paper's claims (hyperjax.compare): values, intervals, verdicts."""

import numpy as np
import pytest

from hyperjax import compare
from hyperjax.errors import ConfigError

BHI, STD, HFI = "hypernet+bias_hyperinit", "standard", "hypernet+hfi"


def rows_by_pair(rows):
    return {(r["x"], r["y"]): r for r in rows}


def test_dominance_gives_one_and_an_interval_of_one():
    finals = {BHI: np.arange(10.0, 15.0), STD: np.arange(5.0), HFI: np.arange(20.0, 25.0)}
    rows = rows_by_pair(compare.improvement_probabilities(finals))
    bhi_std = rows[(BHI, STD)]
    assert bhi_std["p_improvement"] == 1.0
    assert (bhi_std["ci_low"], bhi_std["ci_high"]) == (1.0, 1.0)
    assert compare.verdict(bhi_std) == "X better"
    bhi_hfi = rows[(BHI, HFI)]  # every HFI seed above every BHI seed
    assert bhi_hfi["p_improvement"] == 0.0 and compare.verdict(bhi_hfi) == "Y better"
    assert bhi_std["seeds_x"] == bhi_std["seeds_y"] == 5


def test_probability_counts_pairs_of_seeds_with_ties_as_half():
    # x > y in 3 of the 9 seed pairs: (3, 2), (5, 2), (5, 4).
    rows = compare.improvement_probabilities(
        {BHI: np.array([1.0, 3, 5]), STD: np.array([2.0, 4, 6])}
    )
    assert rows[0]["p_improvement"] == pytest.approx(3 / 9)
    assert rows[0]["ci_low"] <= 3 / 9 <= rows[0]["ci_high"]
    tied = compare.improvement_probabilities({BHI: np.array([1.0, 2.0]), STD: np.array([2.0, 3.0])})
    assert tied[0]["p_improvement"] == pytest.approx(0.5 / 4)  # (2, 2) is a tie: half a pair


def test_noisy_equal_methods_are_not_separated():
    rng = np.random.default_rng(0)
    finals = {BHI: rng.normal(size=5), STD: rng.normal(size=5)}
    (row,) = compare.improvement_probabilities(finals)
    assert row["ci_low"] < 0.5 < row["ci_high"]
    assert compare.verdict(row) == "not separated"
    assert "not separated" in compare.comparisons_markdown([row])


def test_only_pairs_whose_methods_both_ran_are_compared():
    assert compare.improvement_probabilities({BHI: np.ones(3)}) == []
    finals = {m: np.ones(3) for m in (BHI, STD, "hypernet+kaiming", "hypernet+normc")}
    pairs = {(r["x"], r["y"]) for r in compare.improvement_probabilities(finals)}
    assert pairs == {
        (BHI, STD), (BHI, "hypernet+kaiming"), (BHI, "hypernet+normc"), (STD, "hypernet+kaiming")
    }  # fmt: skip


def with_rate(method, rate):
    return f"{method} lr={rate}"


def test_best_learning_rate_has_the_highest_mean_over_the_whole_curve():
    """The authors' rule (H visualize_runs.py:296-326): each seed's mean over all evaluations,
    averaged over seeds. BHI at 1e-3 ends highest but was far below for most of training; the
    old rule (the final value) would pick it."""
    curves = {
        with_rate(BHI, "0.001"): np.array([[0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 1.0, 11.0]]),
        with_rate(BHI, "0.0003"): np.array([[6.0, 7.0, 8.0, 9.0], [6.0, 7.0, 8.0, 9.0]]),
        with_rate(STD, "0.001"): np.array([[3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]]),
        with_rate(STD, "0.0003"): np.array([[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]),
    }
    rates = compare.best_learning_rates(curves)
    assert rates == {BHI: "0.0003", STD: "0.001"}
    finals = {m: c[:, -1] for m, c in curves.items()}
    tuned = compare.at_learning_rates(finals, rates)
    assert set(tuned) == {BHI, STD}
    np.testing.assert_array_equal(tuned[BHI], [9.0, 9.0])
    one_rate = {BHI: np.ones((2, 3)), STD: np.zeros((2, 3))}
    assert compare.best_learning_rates(one_rate) == {}
    assert compare.split_learning_rate(with_rate(HFI, "3e-05")) == (HFI, "3e-05")
    assert compare.split_learning_rate(HFI) == (HFI, None)


def test_claims_at_the_best_rate_use_the_rate_with_the_best_curve_not_the_best_end():
    """BHI at 1e-3 ends highest but its curve's mean is lowest: the old rule (the highest final
    return) would compare BHI at 1e-3; the authors' rule compares it at 3e-4."""
    late = np.array([[0.0, 0.0, 20.0], [0.0, 0.0, 21.0]])
    steady = np.array([[9.0, 9.0, 9.0], [9.0, 9.0, 9.5]])
    curves = {
        with_rate(BHI, "0.001"): late,
        with_rate(BHI, "0.0003"): steady,
        with_rate(STD, "0.001"): np.full((2, 3), 5.0),
        with_rate(STD, "0.0003"): np.full((2, 3), 4.0),
    }
    finals = {m: c[:, -1] for m, c in curves.items()}
    (row,) = compare.claim_comparisons({"eval": finals}, curves)["eval_best_lr"]
    assert (row["x"], row["y"]) == (with_rate(BHI, "0.0003"), with_rate(STD, "0.001"))


def test_cross_fitting_scores_each_half_at_the_rate_the_other_half_chose():
    """4 seeds: the even-position seeds (0, 2) are best at 1e-3, the odd ones (1, 3) at 3e-4.
    Each half is scored at the other half's choice, so no seed picks its own rate."""
    fast = np.array([[10.0], [0.0], [10.0], [0.0]])  # seeds 0..3, one evaluation each
    slow = np.array([[5.0], [5.0], [5.0], [5.0]])
    curves = {with_rate(BHI, "0.001"): fast, with_rate(BHI, "0.0003"): slow}
    finals = {m: c[:, 0] for m, c in curves.items()}
    scores, rates = compare.cross_fitted(finals, curves)
    # Even seeds at the odd seeds' pick (3e-4: 5, 5), odd seeds at the even seeds' pick (1e-3).
    np.testing.assert_array_equal(scores[BHI], [5.0, 5.0, 0.0, 0.0])
    assert rates == {BHI: "0.0003/0.001"}


def test_learning_rates_are_chosen_on_other_seeds_from_four_seeds_on():
    three, four = np.zeros((3, 2)), np.zeros((4, 2))
    assert compare.lr_choice_for({"a lr=0.1": three}) == "same"
    assert compare.lr_choice_for({"a lr=0.1": four}) == "split"
    assert compare.lr_choice_for({"a lr=0.1": four}, "same") == "same"
    with pytest.raises(ConfigError, match="lr_choice: split needs 4 seeds"):
        compare.lr_choice_for({"a lr=0.1": three}, "split")
    with pytest.raises(ConfigError, match="lr_choice"):
        compare.lr_choice_for({"a lr=0.1": four}, "best")


def test_claims_pair_methods_at_one_rate_and_at_each_ones_best_rate():
    train = {
        with_rate(BHI, "0.001"): np.array([10.0, 11, 12]),  # BHI's best rate
        with_rate(BHI, "0.0003"): np.array([0.0, 1, 2]),
        with_rate(STD, "0.001"): np.array([4.0, 5, 6]),
        with_rate(STD, "0.0003"): np.array([7.0, 8, 9]),  # Standard's best rate
    }
    selection = {m: s[:, None] for m, s in train.items()}  # one-point curves
    # On held-out tasks BHI's untuned rate would look better; the rates chosen hold.
    held_out = {m: -s if "0.001" in m and BHI in m else s for m, s in train.items()}
    tables = compare.claim_comparisons({"train": train, "eval": held_out}, selection)
    assert set(tables) == {"train", "eval", "train_best_lr", "eval_best_lr"}
    same_rate = {(r["x"], r["y"]): r["p_improvement"] for r in tables["train"]}
    assert same_rate == {
        (with_rate(BHI, "0.0003"), with_rate(STD, "0.0003")): 0.0,
        (with_rate(BHI, "0.001"), with_rate(STD, "0.001")): 1.0,
    }
    (best,) = tables["train_best_lr"]
    assert (best["x"], best["y"]) == (with_rate(BHI, "0.001"), with_rate(STD, "0.0003"))
    assert best["p_improvement"] == 1.0
    # 3 seeds: chosen on the seeds it is scored on, and the table says so.
    assert best["lr_chosen_on"] == compare.CHOSEN_ON["same"]
    assert compare.comparisons_markdown([best]).startswith(
        f"Each method's learning rate chosen on {compare.CHOSEN_ON['same']}."
    )
    (best_eval,) = tables["eval_best_lr"]
    assert (best_eval["x"], best_eval["y"]) == (best["x"], best["y"])
    assert best_eval["p_improvement"] == 0.0  # -12..-10 against 7..9
    # Without a rate grid: the plain pairs only.
    plain = {BHI: np.ones(3), STD: np.zeros(3)}
    tables = compare.claim_comparisons({"train": plain}, {m: s[:, None] for m, s in plain.items()})
    assert list(tables) == ["train"] and tables["train"][0]["p_improvement"] == 1.0
    assert "chosen on" not in compare.comparisons_markdown(tables["train"])


def test_with_four_seeds_claims_use_rates_chosen_on_the_other_half():
    rng = np.random.default_rng(1)
    curves = {
        with_rate(m, r): rng.normal(size=(4, 3)) + (5.0 if m == BHI else 0.0)
        for m in (BHI, STD)
        for r in ("0.001", "0.0003")
    }
    finals = {m: c[:, -1] for m, c in curves.items()}
    (row,) = compare.claim_comparisons({"eval": finals}, curves)["eval_best_lr"]
    assert row["lr_chosen_on"] == compare.CHOSEN_ON["split"]
    assert row["seeds_x"] == row["seeds_y"] == 4 and row["p_improvement"] == 1.0


def test_the_verdict_is_the_same_when_rerun():
    """A fixed-seed bootstrap: the same scores give the same interval, hence the same verdict,
    and numpy's global generator is left as it was."""
    rng = np.random.default_rng(7)
    finals = {BHI: rng.normal(0.5, 1.0, size=5), STD: rng.normal(size=5)}
    np.random.seed(99)  # noqa: NPY002 (the global state rliable draws from)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    first = compare.improvement_probabilities(finals)
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002
    np.random.rand(3)  # noqa: NPY002 (draws between the calls change nothing)
    second = compare.improvement_probabilities(finals)
    assert first == second
    assert compare.verdict(first[0]) == compare.verdict(second[0])
