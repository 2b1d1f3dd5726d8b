"""Is a difference in accuracy real? Standard errors and the paired test for two models scored on one test set.

Two classifiers evaluated on the *same* e-mails are not independent samples: comparing their standard errors
as if they were overstates the noise when they agree on most e-mails and understates it when they do not.
McNemar's test uses only the e-mails on which exactly one of them is right (McNemar 1947, *Psychometrika* 12:
153-157; recommended for comparing classifiers on one test set by Dietterich 1998, *Neural Computation* 10:
1895-1923).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def accuracy_standard_error(accuracy: float, n: int) -> float:
    """The binomial standard error of an accuracy measured on ``n`` examples: sqrt(p(1 - p) / n)."""
    if n <= 0:
        raise ValueError(f"an accuracy needs at least one example, got n = {n}")
    return math.sqrt(accuracy * (1 - accuracy) / n)


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the same examples: how often each was right alone, and the exact McNemar p-value."""

    a: str
    b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    only_a: int      # examples only model a got right
    only_b: int      # examples only model b got right
    p_value: float   # two-sided exact McNemar (binomial test on the discordant pairs)

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level

    def sentence(self, level: float = 0.05) -> str:
        """One line a lesson prints: the two accuracies, the disagreements, and what the test says."""
        if self.accuracy_a == self.accuracy_b:
            verdict = "the same accuracy"
        else:
            better, worse = (self.a, self.b) if self.accuracy_a > self.accuracy_b else (self.b, self.a)
            verdict = (f"{better} is better than {worse} (a real difference at the {level:.0%} level)"
                       if self.significant(level) else
                       f"{better} is ahead, but by no more than a different test sample could give (within noise)")
        return (f"{self.a} {self.accuracy_a:.3f} vs {self.b} {self.accuracy_b:.3f} on the same {self.n} e-mails: "
                f"only {self.a} right on {self.only_a}, only {self.b} on {self.only_b}; "
                f"exact McNemar p = {self.p_value:.3g}: {verdict}")


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool], a: str = "a", b: str = "b") -> PairedComparison:
    """Compare two models from their per-example correctness on the same examples, in the same order."""
    if len(correct_a) != len(correct_b) or not correct_a:
        raise ValueError(f"pass one True/False per example for both models, in the same order: got "
                         f"{len(correct_a)} and {len(correct_b)}")
    only_a = sum(1 for x, y in zip(correct_a, correct_b) if x and not y)
    only_b = sum(1 for x, y in zip(correct_a, correct_b) if y and not x)
    discordant = only_a + only_b
    tail = sum(math.comb(discordant, i) for i in range(min(only_a, only_b) + 1)) / 2 ** discordant
    n = len(correct_a)
    return PairedComparison(a=a, b=b, n=n, accuracy_a=sum(map(bool, correct_a)) / n,
                            accuracy_b=sum(map(bool, correct_b)) / n, only_a=only_a, only_b=only_b,
                            p_value=min(1.0, 2 * tail))
