"""Which trial budget ranks like the long run, on today's code? The `table1` grid at 600, 1200 and 2400 steps.

Every `table1` configuration of world 0, trained by today's code (fused AdamW), read from the runs other
benchmarks recorded; this script trains nothing:

- 600 steps (the default), seeds 0-2: `pruning_runs.jsonl` (`bench_pruning.py`; its intermediate evaluations
  do not change what a trial learns: tests/core/test_trial.py);
- 1200 steps, seeds 0-2: `signal_runs.jsonl` (`bench_signal.py --set trial.steps=1200 --tag steps1200
  --long-seeds 0 --skip-main-job`);
- 2400 steps, the reference (bench_signal's 4x budget), every seed recorded for every configuration:
  `reference_fused_runs.jsonl` (`arithmetic_reseed.py --train-reference --reference-seeds N`).

Per budget: the ICC, Kendall tau between seeds, tau of the seed mean against the reference's mean (with a
bootstrap 95 % interval over the configurations) and bench_signal's paired effects. The reference's own
reliability bounds what any budget can reach: the tau between the means of two disjoint halves of its seeds.

    python benchmarks/budget_ladder.py          # -> benchmarks/results/budget_ladder.md / .json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arithmetic_reseed import FUSED_REFERENCE_RUNS, REFERENCE_FACTOR, WORLD, complete_seeds, taus  # noqa: E402
from bench_pruning import PRUNING_RUNS  # noqa: E402
from bench_signal import (  # noqa: E402  (the benchmark's own definitions of a run and its statistics)
    CLIPS_RULE,
    RESULTS,
    RUNS,
    _candidates,
    _spec,
    describe,
    icc1,
    kendall_tau,
    pairwise_taus,
    planted_effects,
    recorded_runs,
    table,
)

from search.calibration import agreement  # noqa: E402

DEFAULT_SEEDS = [0, 1, 2]  # the default trial's seeds in bench_signal and bench_pruning
TARGET = 0.6  # the signal issue's tau and the calibration's default threshold


def budget_rows(spec, configs: list[str]) -> dict[int, tuple[list[dict], list[int]]]:
    """Per budget in steps: today's runs of it and the seeds that cover every configuration."""
    steps = spec.trial.steps
    sources = {steps: PRUNING_RUNS, 2 * steps: RUNS, REFERENCE_FACTOR * steps: FUSED_REFERENCE_RUNS}
    out = {}
    for n_steps, path in sources.items():
        rows = [r for r in recorded_runs(spec, path) if r["steps"] == n_steps] if path.exists() else []
        seeds = complete_seeds(rows, configs, n_steps)
        if n_steps != REFERENCE_FACTOR * steps:
            seeds = [s for s in seeds if s in DEFAULT_SEEDS]
        if len(seeds) >= 2:
            out[n_steps] = (rows, seeds)
    return out


def rung(rows: list[dict], configs: list[str], settings: dict, seeds: list[int], n_steps: int, reference) -> dict:
    """One budget: its seeds' agreement with each other and with the reference, and its effects."""
    scores = table(rows, configs, seeds, n_steps, "objective")
    pairs = pairwise_taus(scores)
    effects = planted_effects(rows, configs, settings, seeds, n_steps)
    largest = max(effects, key=lambda f: effects[f]["diff"])
    out = {"steps": n_steps, "seeds": seeds, "icc": icc1(scores), "tau_seeds": pairs, "tau_seeds_min": min(pairs),
           "effects": effects, "largest_effect": largest}  # fmt: skip
    if reference is not None:
        against = agreement(scores.mean(1), reference)
        out["tau_reference"] = {"tau": against.tau, "low": against.low, "high": against.high}
    return out


def summarise() -> dict:
    spec = _spec(WORLD, CLIPS_RULE)
    configs, settings = describe(_candidates(spec))
    budgets = budget_rows(spec, configs)
    long_steps = REFERENCE_FACTOR * spec.trial.steps
    if long_steps not in budgets:
        raise SystemExit(f"no complete {long_steps}-step reference in {FUSED_REFERENCE_RUNS}: train it first")
    long_rows, long_seeds = budgets[long_steps]
    long = table(long_rows, configs, long_seeds, long_steps, "objective")
    half = len(long_seeds) // 2  # >= 1: budget_rows keeps budgets with two seeds or more
    return {
        "world_seed": WORLD,
        "configurations": len(configs),
        "reference": {"steps": long_steps, "seeds": long_seeds},
        # Two disjoint halves of the reference's seeds: how well one half-size reference predicts another.
        "tau_reference_halves": kendall_tau(long[:, :half].mean(1), long[:, half : 2 * half].mean(1)),
        "budgets": [
            rung(rows, configs, settings, seeds, n, long.mean(1) if n != long_steps else None)
            for n, (rows, seeds) in sorted(budgets.items())
        ],
    }


def write(s: dict) -> None:
    (RESULTS / "budget_ladder.json").write_text(json.dumps(s, indent=2) + "\n")
    ref = s["reference"]
    lines = [
        "# Which budget ranks like the long run? (`benchmarks/budget_ladder.py`)",
        "",
        f"World {s['world_seed']}, the `table1` space ({s['configurations']} configurations), today's code (fused"
        f" AdamW), objective the study's (mean of R@1 and the linear probe). Reference: {ref['steps']} steps,"
        f" seeds {', '.join(map(str, ref['seeds']))}. Nothing trained here; the runs' sources are in the script.",
        "",
        f"| steps | seeds | ICC | tau between seeds | tau vs the {ref['steps']}-step mean [95 % CI] | largest effect |",
        "|---:|---|---:|---|---|---|",
    ]
    for b in s["budgets"]:
        t = b.get("tau_reference")
        against = f"**{t['tau']:.2f}** [{t['low']:+.2f}, {t['high']:+.2f}]" if t else "(the reference)"
        lines.append(f"| {b['steps']} | {', '.join(map(str, b['seeds']))} | {b['icc']:.2f} | {taus(b['tau_seeds'])}"
                     f" | {against} | {b['largest_effect']} |")  # fmt: skip
    half = len(ref["seeds"]) // 2
    lines += ["", f"The reference against itself: the mean of seeds {', '.join(map(str, ref['seeds'][:half]))}"
                  f" vs the mean of seeds {', '.join(map(str, ref['seeds'][half:2 * half]))}: tau"
                  f" {s['tau_reference_halves']:.2f}. No budget can agree with a reference much better than the"
                  " reference agrees with itself."]  # fmt: skip
    lines += ["", "Paired effects (bench_signal's: TR on the reversal-pair classes), per budget:", "",
              "| steps | effect | compared | diff | 95 % CI | pairs x seeds |",
              "|---:|---|---|---|---|---|"]  # fmt: skip
    for b in s["budgets"]:
        for f, v in b["effects"].items():
            lines.append(f"| {b['steps']} | {f} | {v['compared']} | {v['diff']:+.3f} |"
                         f" [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}] | {v['pairs']} x {v['seeds']} |")  # fmt: skip
    lines += ["", f"Target (signal issue): tau against the long run >= {TARGET} and MOD the largest effect."]
    (RESULTS / "budget_ladder.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    write(summarise())
