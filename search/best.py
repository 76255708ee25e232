"""The best configuration, honestly: the highest mean together with every configuration the seeds cannot tell
apart from it.

A configuration is *indistinguishable* from the best when Welch's t-test of their seeds' scores gives
p > ALPHA (both need >= 2 seeds). Seeds are common random numbers, so a paired test is the other candidate;
with 3 seeds it has 2 degrees of freedom, and on the four recorded table1 worlds (900 steps) the two tests'
sets differ in size by one, in no consistent direction (Welch 5, 6, 5, 8 of 18; paired 4, 7, 6, 7), and in 1-3
members: Welch, which needs no seed-by-seed match between configurations, stays. With one seed there is no
spread to test against, so no set can be computed and the report says so rather than crowning a winner that
another seed might reverse. Chance level (the objective on features with no class information) is reported
beside it: a best near chance learnt nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from search.intervals import welch_p
from search.measurements import Measured

ALPHA = 0.05
CHANCE_LABEL = "chance level (no class information in the features)"


@dataclass
class BestSet:
    """`best`: the highest mean (None: nothing trained); `indistinguishable`: (configuration, Welch p) of the
    others with p > ALPHA, best p first; `untestable`: how many others have < 2 seeds; `note`: why there is no set."""

    best: Measured | None
    indistinguishable: list[tuple[Measured, float]] = field(default_factory=list)
    untestable: int = 0
    note: str | None = None
    chance: float | None = None

    def lines(self) -> list[str]:
        if self.best is None:
            return ["best: none (no trained configuration)"]
        e = self.best.estimate
        out = [f"best: #{self.best.numbers[0]} {self.best.label}  objective {e.text()}"]
        if self.note:
            out.append(f"  indistinguishable from the best: {self.note}")
        else:
            out.append(
                f"  indistinguishable from the best (Welch t-test p > {ALPHA}): {len(self.indistinguishable)}"
                + (f" ({self.untestable} with < 2 seeds not tested)" if self.untestable else "")
            )
            for m, p in self.indistinguishable:
                out.append(f"    {m.label}  {m.estimate.text()}  p={p:.2f}")
        if self.chance is not None:
            out.append(f"  {CHANCE_LABEL}: {self.chance:.3f}")
        return out

    def as_dict(self) -> dict:
        def entry(m: Measured, p: float | None = None) -> dict:
            return {"config": m.config, "hyper": m.hyper, "trials": m.numbers, "values": m.values,
                    **m.estimate.as_dict(), "p": p}  # fmt: skip

        return {
            "best": entry(self.best) if self.best else None,
            "indistinguishable": [entry(m, p) for m, p in self.indistinguishable],
            "untestable": self.untestable,
            "alpha": ALPHA,
            "note": self.note,
            "chance": self.chance,
        }


def best_set(measured: Sequence[Measured], chance: float | None = None) -> BestSet:
    if not measured:
        return BestSet(None, chance=chance)
    best = max(measured, key=lambda m: (m.estimate.mean, -m.numbers[0]))
    if len(best.values) < 2:
        note = f"{len(best.values)} seed: no set can be computed (needs search.seeds >= 2)"
        return BestSet(best, note=note, chance=chance)
    same, untestable = [], 0
    for m in measured:
        if m is best:
            continue
        p = welch_p(best.values, m.values)
        if p is None:
            untestable += 1
        elif p > ALPHA:
            same.append((m, p))
    same.sort(key=lambda mp: (-mp[1], mp[0].numbers[0]))
    return BestSet(best, same, untestable, chance=chance)


def chance_level(baseline: Mapping[str, Any] | None, n_classes: int | None) -> float | None:
    """The objective's score on features with no class information, as the study measured it with its baseline
    (search.baseline); a study recorded before that has 1 / proxy classes, which is right for R@1 and the
    classifiers but too low for R@5 and R@20."""
    if baseline and isinstance(baseline.get("chance"), int | float):
        return float(baseline["chance"])
    return 1.0 / n_classes if n_classes else None
