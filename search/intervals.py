"""A score as a measurement: the mean of independent replicates with its 95 % t-interval, and Welch's test.

A configuration trained with n seeds is n draws of a noisy measurement; its score is their mean, and the
interval is mean ± t(0.975, n - 1) · sd / sqrt(n). One draw has no spread to estimate, so it has no interval:
every report says "1 seed, no interval" rather than printing a fake "± 0.000". The same arithmetic serves
per-factor effects (search.effects), whose independent units are matched pairs instead of seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """`mean` of `n` independent values, `sd` their sample sd (None for n = 1), and the 95 % t-interval
    [`low`, `high`] of the mean (None for n = 1)."""

    mean: float
    n: int
    sd: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def text(self, unit: str = "seed", signed: bool = False) -> str:
        """'0.412 [0.395, 0.430], 3 seeds' or '0.412 (1 seed, no interval)'."""
        number = "{:+.3f}" if signed else "{:.3f}"
        mean = number.format(self.mean)
        if not self.has_interval:
            return f"{mean} ({self.n} {unit}{'' if self.n == 1 else 's'}, no interval)"
        return f"{mean} [{number.format(self.low)}, {number.format(self.high)}], {self.n} {unit}s"

    def as_dict(self) -> dict:
        return asdict(self)


def estimate(values: Sequence[float]) -> Estimate:
    """The mean of `values` with its 95 % t-interval (none below two values)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to estimate from")
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Estimate(mean, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy import stats  # here, not at the top: SciPy takes a second to import, and most processes never ask

    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    return Estimate(mean, n, sd, mean - half, mean + half)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test that `a` and `b` have the same mean; None when either has < 2 values.

    Two sets without spread (identical seeds' scores) are equal when their means are and distinct otherwise:
    scipy would return NaN there."""
    if len(a) < 2 or len(b) < 2:
        return None
    ea, eb = estimate(a), estimate(b)
    if not ea.sd and not eb.sd:
        return 1.0 if math.isclose(ea.mean, eb.mean, abs_tol=1e-12) else 0.0
    from scipy import stats

    with warnings.catch_warnings():  # nearly identical seeds: scipy warns of precision loss, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(list(a), list(b), equal_var=False).pvalue)
