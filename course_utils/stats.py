"""Is a difference in accuracy real? Standard errors, the paired test for two models scored on one test set, and a
permutation test for the largest gap between slices of one test set.

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
            verdict = (f"a real difference at the {level:.0%} level, in favour of {better} over {worse}"
                       if self.significant(level) else
                       f"{better} ahead, but by no more than a different test sample could give (within noise)")
        return (f"{self.a} {self.accuracy_a:.3f} vs {self.b} {self.accuracy_b:.3f} on the same {self.n} e-mail{'s' if self.n != 1 else ''}: "
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


def above_chance_p_value(correct: Sequence[bool], chance: float) -> float:
    """One-sided exact binomial p-value: how likely guessing at accuracy ``chance`` gets at least this many right."""
    if not correct or not 0 < chance < 1:
        raise ValueError(f"pass one True/False per example and a chance accuracy in (0, 1): got {len(correct)} "
                         f"examples and chance {chance}")
    n, right = len(correct), sum(map(bool, correct))
    return sum(math.comb(n, i) * chance ** i * (1 - chance) ** (n - i) for i in range(right, n + 1))


@dataclass(frozen=True)
class SliceGap:
    """The largest accuracy gap between slices, and how often a gap that large arises when slices are random."""

    best: str
    worst: str
    gap: float
    p_value: float     # share of random relabellings of the slices whose largest gap is at least as large
    permutations: int

    def sentence(self, level: float = 0.05) -> str:
        verdict = ("larger than random slices of the same sizes give: a real gap at the "
                   f"{level:.0%} level" if self.p_value < level else
                   "no larger than random slices of the same sizes often give (within noise)")
        return (f"largest gap {self.gap:.3f} ({self.best} vs {self.worst}); in {self.permutations:,} random "
                f"relabellings of the slices a gap at least this large came up {self.p_value:.1%} of the time: {verdict}")


def slice_gap_test(correct: Sequence[bool], groups: Sequence, permutations: int = 10_000, seed: int = 0) -> SliceGap:
    """Permutation test for the largest accuracy gap (max - min) between the slices ``groups`` defines.

    The largest of several gaps is large by selection alone, so comparing it with the standard errors of its two
    slices overstates it; shuffling which example belongs to which slice (sizes kept) gives its null distribution.
    """
    import numpy as np

    correct, groups = np.asarray(correct, dtype=float), np.asarray(groups)
    if len(correct) != len(groups) or len(correct) == 0:
        raise ValueError(f"pass one True/False and one slice per example: got {len(correct)} and {len(groups)}")
    names, codes = np.unique(groups, return_inverse=True)
    membership = np.eye(len(names))[codes]          # example x slice, one-hot
    sizes = membership.sum(axis=0)
    observed = correct @ membership / sizes
    rng = np.random.default_rng(seed)
    per_slice = rng.permuted(np.tile(correct, (permutations, 1)), axis=1) @ membership / sizes
    null_gaps = per_slice.max(axis=1) - per_slice.min(axis=1)
    gap = float(observed.max() - observed.min())
    return SliceGap(best=str(names[observed.argmax()]), worst=str(names[observed.argmin()]), gap=gap,
                    p_value=float((1 + np.sum(null_gaps >= gap - 1e-12)) / (1 + permutations)),
                    permutations=permutations)


@dataclass(frozen=True)
class SeedSpread:
    """Accuracy differences a - b from training runs repeated with seeds 0, 1, ...: the noise a paired test on one
    test set does not see (another initialisation, another order of the training examples)."""

    a: str
    b: str
    differences: tuple[float, ...]

    def sentence(self) -> str:
        n, diffs = len(self.differences), self.differences
        if n == 1:
            return (f"one training seed (the profile's training_seeds): how far {self.a} - {self.b} moves when the run "
                    "is repeated is not measured here")
        mean = sum(diffs) / n
        if all(d > 0 for d in diffs) or all(d < 0 for d in diffs):
            verdict = f"{self.a if mean > 0 else self.b} ahead with every seed"
        elif all(d == 0 for d in diffs):
            verdict = "the same accuracy with every seed"
        else:
            verdict = "neither is ahead with every seed: training noise is as large as the difference"
        return (f"over {n} training seeds, {self.a} - {self.b} = {mean:+.3f} on average "
                f"(from {min(diffs):+.3f} to {max(diffs):+.3f}): {verdict}")


def seed_spread(accuracy_a: Sequence[float], accuracy_b: Sequence[float], a: str = "a", b: str = "b") -> SeedSpread:
    """Pair two methods' accuracies seed by seed (the same seeds for both, in the same order)."""
    if len(accuracy_a) != len(accuracy_b) or not accuracy_a:
        raise ValueError(f"pass one accuracy per training seed for both methods, in the same seed order: got "
                         f"{len(accuracy_a)} and {len(accuracy_b)}")
    return SeedSpread(a=a, b=b, differences=tuple(x - y for x, y in zip(accuracy_a, accuracy_b)))
