"""Per-factor effects with confidence intervals: what changing one factor's choice does to the score.

"TR distinctive - invariant: +0.060 [+0.030, +0.090], paired over 12 configurations x 3 seeds" -- the
one computation behind `gdt-search run`'s report, `GET /studies/{id}/effects`, the client's `effects()`,
the JSON export and the dashboard's per-factor panel.

For a factor F and two of its choices, a *matched pair* is two trained configurations that differ only in
F: every other factor has the same choice and K, and the searched parameters (hyper-parameters, clip
budget, pair switches) are equal. DS's K is not matched, since it follows from the clip budget and F's K.
Configurations that differ only in F's K are averaged within their (match, choice) first, so each match
gives one pair. A pair's difference is that of the two sides' means over seeds (with common random
numbers, the mean of the per-seed differences), and the pairs -- not the seeds -- are the independent
units of the 95 % t-interval: seeds of one configuration share everything but the seed. Duplicates,
pruned, failed and infeasible trials never count (search.measurements).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from search.intervals import Estimate, estimate
from search.measurements import Measured

CHOICE_ORDER = ("invariant", "distinctive", "ignore", "off")
MIN_PAIRS = 2


@dataclass
class Effect:
    """`choice` - `reference` for `factor`: the mean paired difference and its 95 % interval (None below
    MIN_PAIRS pairs), over `pairs` matched pairs whose sides rest on `min_seeds`..`max_seeds` seeds each."""

    factor: str
    choice: str
    reference: str
    pairs: int
    min_seeds: int
    max_seeds: int
    estimate: Estimate | None
    note: str | None = None

    def seeds_text(self) -> str:
        return str(self.min_seeds) if self.min_seeds == self.max_seeds else f"{self.min_seeds}-{self.max_seeds}"

    def text(self) -> str:
        head = f"{self.factor} {self.choice} - {self.reference}"
        if self.estimate is None:
            return f"{head}: {self.note}"
        e = self.estimate
        return (
            f"{head}: {e.mean:+.3f} [{e.low:+.3f}, {e.high:+.3f}], paired over {self.pairs} configuration pairs"
            f" x {self.seeds_text()} seed{'' if self.max_seeds == 1 else 's'}"
        )

    def as_dict(self) -> dict:
        e = self.estimate
        return {
            "factor": self.factor,
            "choice": self.choice,
            "reference": self.reference,
            "pairs": self.pairs,
            "min_seeds": self.min_seeds,
            "max_seeds": self.max_seeds,
            "mean": e.mean if e else None,
            "low": e.low if e else None,
            "high": e.high if e else None,
            "sd": e.sd if e else None,
            "note": self.note,
            "text": self.text(),
        }


def _order(choice: str) -> tuple:
    return (CHOICE_ORDER.index(choice) if choice in CHOICE_ORDER else len(CHOICE_ORDER), choice)


def factor_effects(measured: Sequence[Measured]) -> list[Effect]:
    """Every factor with at least two choices among the trained configurations: one Effect per pair of its
    choices (the later choice in CHOICE_ORDER minus the earlier), factors in the notation's order."""
    settings = [m.settings for m in measured]
    factors = list(dict.fromkeys(name for s in settings for name in s if name != "DS"))
    out = []
    for factor in factors:
        # match -> choice -> the seeds' scores of each configuration with that choice (one list per configuration)
        sides: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
        for m, s in zip(measured, settings, strict=True):
            if factor not in s:
                continue
            others = {n: v for n, v in s.items() if n not in (factor, "DS")}
            match = json.dumps([others, m.hyper], sort_keys=True, default=str)
            sides[match][s[factor]["choice"]].append(m.values)
        choices = sorted({c for by_choice in sides.values() for c in by_choice}, key=_order)
        for reference, choice in itertools.combinations(choices, 2):
            out.append(_paired(factor, choice, reference, sides))
    return out


def _paired(factor: str, choice: str, reference: str, sides: dict) -> Effect:
    differences, seeds = [], []
    for by_choice in sides.values():
        if choice in by_choice and reference in by_choice:
            differences.append(_mean_of(by_choice[choice]) - _mean_of(by_choice[reference]))
            seeds += [len(v) for v in by_choice[choice] + by_choice[reference]]
    low, high = (min(seeds), max(seeds)) if seeds else (0, 0)
    if len(differences) < MIN_PAIRS:
        note = f"fewer than {MIN_PAIRS} matched pairs ({len(differences)}): no interval"
        return Effect(factor, choice, reference, len(differences), low, high, None, note)
    return Effect(factor, choice, reference, len(differences), low, high, estimate(differences))


def _mean_of(configurations: list[list[float]]) -> float:
    """The mean over configurations (differing only in the factor's K) of each one's mean over seeds."""
    return sum(sum(v) / len(v) for v in configurations) / len(configurations)


def report_lines(effects: Sequence[Effect]) -> list[str]:
    if not effects:
        return ["effects per factor: no factor took two choices among the trained configurations"]
    head = "effects per factor (paired differences of the objective, 95 % t-interval over matched pairs):"
    return [head, *(f"  {e.text()}" for e in effects)]
