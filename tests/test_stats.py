"""The paired test lessons use to say whether two classifiers really differ on one test set."""

import math

import pytest

from course_utils.stats import accuracy_standard_error, mcnemar


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
    assert "A is better than B" in result.sentence()
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
