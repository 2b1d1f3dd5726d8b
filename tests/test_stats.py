"""The paired test lessons use to say whether two classifiers really differ on one test set."""

import math

import pytest

from course_utils.stats import above_chance_p_value, accuracy_standard_error, mcnemar, seed_spread, slice_gap_test


def test_standard_error_is_binomial_and_needs_examples():
    assert accuracy_standard_error(0.5, 100) == pytest.approx(0.05)
    assert accuracy_standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="at least one example"):
        accuracy_standard_error(0.5, 0)


def test_mcnemar_counts_the_disagreements_and_gives_the_exact_binomial_p_value():
    a = [True] * 10 + [False] * 0 + [True] * 50 + [False] * 40
    b = [False] * 10 + [True] * 0 + [True] * 50 + [False] * 40
    result = mcnemar(a, b, "A", "B")
    assert (result.only_a, result.only_b, result.n) == (10, 0, 100)
    assert result.p_value == pytest.approx(2 / 2 ** 10)  # all 10 disagreements one way: 2 * 0.5^10
    assert result.accuracy_a == 0.6 and result.accuracy_b == 0.5 and result.significant()
    assert "a real difference at the 5% level, in favour of A over B" in result.sentence()
    three_one = mcnemar([True, True, True, False, True], [False, False, False, True, True])
    assert three_one.p_value == pytest.approx(2 * (1 + 4) / 16)  # b = 3, c = 1: 0.625
    assert not three_one.significant() and "within noise" in three_one.sentence()


def test_mcnemar_ignores_agreement_however_large_the_gap_in_error_bars_suggests():
    same = [True, False] * 50
    assert mcnemar(same, same).p_value == 1.0 and "the same accuracy" in mcnemar(same, same).sentence()
    # 12 vs 4 disagreements: p = 0.077 (not significant), although the accuracies differ by 8 points
    a = [True] * 12 + [False] * 4 + [True] * 40 + [False] * 44
    b = [False] * 12 + [True] * 4 + [True] * 40 + [False] * 44
    expected = 2 * sum(math.comb(16, i) for i in range(5)) / 2 ** 16
    assert mcnemar(a, b).p_value == pytest.approx(expected) and not mcnemar(a, b).significant()


def test_mcnemar_says_what_to_pass_when_the_lengths_differ():
    with pytest.raises(ValueError, match="same order"):
        mcnemar([True, False], [True])
    with pytest.raises(ValueError):
        mcnemar([], [])


def test_slice_gap_test_tells_a_real_gap_from_the_largest_of_several_noisy_ones():
    real = slice_gap_test([True] * 50 + [False] * 50, ["a"] * 50 + ["b"] * 50, permutations=2000)
    assert (real.best, real.worst, real.gap) == ("a", "b", 1.0) and real.p_value < 0.01
    assert "a real gap" in real.sentence()
    # ten slices of 20 drawn from one 70% classifier: the largest gap is big by selection alone
    import numpy as np

    rng = np.random.default_rng(1)
    noise = slice_gap_test(rng.random(200) < 0.7, np.repeat(list("abcdefghij"), 20), permutations=2000)
    assert noise.gap > 0.2 and noise.p_value > 0.05 and "within noise" in noise.sentence()
    one = slice_gap_test([True, False], ["x", "x"], permutations=10)
    assert one.gap == 0.0 and one.p_value == 1.0


def test_slice_gap_test_says_what_to_pass():
    with pytest.raises(ValueError, match="one slice per example"):
        slice_gap_test([True, False], ["a"])


def test_above_chance_is_the_exact_binomial_tail():
    assert above_chance_p_value([True, True], 0.5) == pytest.approx(0.25)
    assert above_chance_p_value([True, False], 0.5) == pytest.approx(0.75)
    assert above_chance_p_value([True] * 3 + [False] * 37, 1 / 8) > 0.5  # 7.5% right is not above 12.5% chance
    assert above_chance_p_value([True] * 20 + [False] * 20, 1 / 8) < 1e-6
    with pytest.raises(ValueError, match="chance accuracy"):
        above_chance_p_value([True], 1.0)


def test_seed_spread_says_when_training_noise_is_as_large_as_the_difference():
    steady = seed_spread([0.90, 0.92, 0.91], [0.80, 0.85, 0.83], "LoRA", "prompt").sentence()
    assert "over 3 training seeds" in steady and "+0.083" in steady and "LoRA ahead with every seed" in steady
    behind = seed_spread([0.70, 0.72], [0.80, 0.75], "A", "B").sentence()
    assert "B ahead with every seed" in behind and "-0.065" in behind
    noisy = seed_spread([0.90, 0.80, 0.88], [0.85, 0.84, 0.86], "A", "B").sentence()
    assert "neither is ahead with every seed" in noisy and "from -0.040 to +0.050" in noisy
    assert "neither is ahead" in seed_spread([0.9, 0.8], [0.9, 0.7], "A", "B").sentence(), "a tie in one seed is not a lead"
    assert "the same accuracy with every seed" in seed_spread([0.9, 0.8], [0.9, 0.8]).sentence()
    assert "not measured here" in seed_spread([0.9], [0.8]).sentence()


def test_seed_spread_says_what_to_pass():
    with pytest.raises(ValueError, match="one accuracy per training seed"):
        seed_spread([0.9, 0.8], [0.7])
    with pytest.raises(ValueError, match="one accuracy per training seed"):
        seed_spread([], [])
