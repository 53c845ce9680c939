"""P(X > Y) for the paper's claims (hyperjax.compare): values, intervals, verdicts."""

import numpy as np
import pytest

from hyperjax import compare

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


def test_best_learning_rate_is_the_one_that_ends_highest_per_method():
    finals = {
        with_rate(BHI, "0.001"): np.array([5.0, 6.0]),
        with_rate(BHI, "0.0003"): np.array([7.0, 9.0]),
        with_rate(STD, "0.001"): np.array([3.0, 3.0]),
        with_rate(STD, "0.0003"): np.array([1.0, 2.0]),
    }
    rates = compare.best_learning_rates(finals)
    assert rates == {BHI: "0.0003", STD: "0.001"}
    tuned = compare.at_learning_rates(finals, rates)
    assert set(tuned) == {BHI, STD}
    np.testing.assert_array_equal(tuned[BHI], [7.0, 9.0])
    assert compare.best_learning_rates({BHI: np.ones(2), STD: np.zeros(2)}) == {}  # one rate
    assert compare.split_learning_rate(with_rate(HFI, "3e-05")) == (HFI, "3e-05")
    assert compare.split_learning_rate(HFI) == (HFI, None)


def test_claims_pair_methods_at_one_rate_and_at_each_ones_best_rate():
    train = {
        with_rate(BHI, "0.001"): np.array([10.0, 11, 12]),  # BHI's best rate
        with_rate(BHI, "0.0003"): np.array([0.0, 1, 2]),
        with_rate(STD, "0.001"): np.array([4.0, 5, 6]),
        with_rate(STD, "0.0003"): np.array([7.0, 8, 9]),  # Standard's best rate
    }
    # On held-out tasks BHI's untuned rate would look better; the rates chosen in training hold.
    held_out = {m: -s if "0.001" in m and BHI in m else s for m, s in train.items()}
    tables = compare.claim_comparisons({"train": train, "eval": held_out})
    assert set(tables) == {"train", "eval", "train_best_lr", "eval_best_lr"}
    same_rate = {(r["x"], r["y"]): r["p_improvement"] for r in tables["train"]}
    assert same_rate == {
        (with_rate(BHI, "0.0003"), with_rate(STD, "0.0003")): 0.0,
        (with_rate(BHI, "0.001"), with_rate(STD, "0.001")): 1.0,
    }
    (best,) = tables["train_best_lr"]
    assert (best["x"], best["y"]) == (with_rate(BHI, "0.001"), with_rate(STD, "0.0003"))
    assert best["p_improvement"] == 1.0
    (best_eval,) = tables["eval_best_lr"]
    assert (best_eval["x"], best_eval["y"]) == (best["x"], best["y"])
    assert best_eval["p_improvement"] == 0.0  # -12..-10 against 7..9
    # Without a rate grid: the plain pairs only.
    plain = compare.claim_comparisons({"train": {BHI: np.ones(3), STD: np.zeros(3)}})
    assert list(plain) == ["train"] and plain["train"][0]["p_improvement"] == 1.0
