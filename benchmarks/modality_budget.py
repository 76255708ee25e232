"""What should the clip budget count? The `table1` grid under `clip_budget_counts: clips` and `video_clips`.

(This measurement made `video_clips` the `table1` preset's rule on 2026-12-02.)

Under "clips" (every clip of a batch counts) a cross-modal row has half the videos per batch of its video-only
twin, so the MOD effect compares two things at once: the sound, and half the videos. Under "video_clips" the
audio clips come on top and the twins see the same videos. This script measures, on today's code (fused
AdamW), what that does to the signal issue's statistics: ICC, Kendall tau between seeds and against the 4x
run, and the planted effects.

The video-only rows are the same training under both rules (the rule changes K_i only where MOD samples both
modalities), so they are read, like the "clips" rule's cross-modal rows, from the runs other benchmarks recorded
(`pruning_runs.jsonl` at 600 steps, `reference_fused_runs.jsonl` at 2400). This script trains the cross-modal
rows under "video_clips" on world 0 (600 steps x 3 seeds, 2400 steps x `--reference-seeds`), and on a held-out
world the whole grid under "video_clips" at 600 steps (`--heldout-world`, `--heldout-seeds`). Resumable: runs
go to `modality_budget_runs.jsonl`. World 0's first cross-modal runs were trained as `clip_budget: 128` under
"clips", the same K_i and batch and so the same job (bit-identical over 20 steps), and say so (`trained_as`);
runs recorded before `bench_signal.design` named the rule keep their first fingerprint in `recorded_as_design`.

    python benchmarks/modality_budget.py                 # -> benchmarks/results/modality_budget.md / .json
    python benchmarks/modality_budget.py --report-only   # re-read the recorded runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arithmetic_reseed import FUSED_REFERENCE_RUNS, REFERENCE_FACTOR, WORLD, complete_seeds, taus  # noqa: E402
from bench_pruning import PRUNING_RUNS  # noqa: E402
from bench_signal import (  # noqa: E402  (the benchmark's own definitions of a run and its statistics)
    RESULTS,
    _candidates,
    _spec,
    describe,
    design,
    kendall_tau,
    recorded_runs,
    run_jobs,
    table,
)
from bench_signal import RUNS as SIGNAL_RUNS  # noqa: E402
from budget_ladder import rung  # noqa: E402  (one budget's statistics: ICC, taus, effects, tau vs a reference)

RUNS = RESULTS / "modality_budget_runs.jsonl"
RULES = ("clips", "video_clips")
SHORT_SEEDS = [0, 1, 2]  # the default trial's seeds in bench_signal and bench_pruning


def _rule_spec(world: int, rule: str):
    return _spec(world, {"clip_budget_counts": rule})


def _cross_modal(candidate) -> bool:
    return candidate.config.uses_audio


def jobs(world: int, steps: int, seeds: list[int], cross_modal_only: bool) -> list[dict]:
    """bench_signal's jobs for the "video_clips" grid of `world` (its cross-modal rows only, if asked)."""
    spec = _rule_spec(world, "video_clips")
    overrides = {"clip_budget_counts": "video_clips"}
    candidates = [c for c in _candidates(spec) if _cross_modal(c) or not cross_modal_only]
    return [{"design": design(spec), "world_seed": world, "config": c.describe(), "params": c.params, "seed": s,
             "steps": steps, "overrides": overrides} for s in seeds for c in candidates]  # fmt: skip


def _runs(spec, path: Path, steps: int) -> list[dict]:
    return [r for r in recorded_runs(spec, path) if r["steps"] == steps] if path.exists() else []


def world0_rule(rule: str) -> dict:
    """One rule on world 0: the default budget's statistics, the 4x run's, and how the two rankings agree."""
    spec = _rule_spec(WORLD, rule)
    configs, settings = describe(_candidates(spec))
    steps, long_steps = spec.trial.steps, REFERENCE_FACTOR * spec.trial.steps
    if rule == "clips":
        short_rows, long_rows = _runs(spec, PRUNING_RUNS, steps), _runs(spec, FUSED_REFERENCE_RUNS, long_steps)
    else:  # bench_signal's record of the default: this script's cross-modal runs, and video-only runs of its own
        short_rows, long_rows = _runs(spec, SIGNAL_RUNS, steps), _runs(spec, SIGNAL_RUNS, long_steps)
    short_seeds = [s for s in complete_seeds(short_rows, configs, steps) if s in SHORT_SEEDS]
    long_seeds = complete_seeds(long_rows, configs, long_steps)
    if len(short_seeds) < 2 or len(long_seeds) < 2:
        raise SystemExit(f"{rule}: not every configuration has 2 seeds at {steps} and {long_steps} steps yet")
    long_mean = table(long_rows, configs, long_seeds, long_steps, "objective").mean(1)
    short = rung(short_rows, configs, settings, short_seeds, steps, long_mean)
    long = rung(long_rows, configs, settings, long_seeds, long_steps, None)
    short_mean = table(short_rows, configs, short_seeds, steps, "objective").mean(1)
    # Like for like across the rules: against the mean of the 4x run's first two seeds only.
    two = table(long_rows, configs, long_seeds[:2], long_steps, "objective").mean(1)
    short["tau_reference_two_seeds"] = kendall_tau(short_mean, two)
    return {"rule": rule, "short": short, "long": long}


def heldout(world: int) -> dict | None:
    spec = _rule_spec(world, "video_clips")
    candidates = _candidates(spec)
    configs, settings = describe(candidates)
    cross_modal = {c.describe() for c in candidates if _cross_modal(c)}
    rows = _runs(spec, RUNS, spec.trial.steps)
    seeds = complete_seeds(rows, configs, spec.trial.steps)
    if len(seeds) < 2:
        return None
    out = rung(rows, configs, settings, seeds, spec.trial.steps, None)
    cost = {kind: statistics.mean(r["seconds"] for r in rows if (r["config"] in cross_modal) == (kind == "cross-modal"))
            for kind in ("video-only", "cross-modal")}  # fmt: skip
    return {"world_seed": world, **out, "seconds_per_trial": cost}


def write(s: dict) -> None:
    (RESULTS / "modality_budget.json").write_text(json.dumps(s, indent=2) + "\n")
    lines = [
        "# What should the clip budget count? (`benchmarks/modality_budget.py`)",
        "",
        "The `table1` grid (18 configurations) on world 0, today's code (fused AdamW), the study's objective (mean"
        " of R@1 and the linear probe). `clips`: the clip budget (64) counts every clip, so a cross-modal row has"
        " half its video-only twin's videos per batch; `video_clips`: it counts the video encoder's clips and the"
        " audio comes on top (128 clips per cross-modal batch), so twins see the same videos. Video-only rows are"
        " the same runs under both rules.",
        "",
        "| rule | steps | seeds | ICC | tau between seeds | tau vs the 4x mean [95 % CI] | MOD | TR | TS | largest |",
        "|---|---:|---|---:|---|---|---|---|---|---|",
    ]
    for r in s["world0"]:
        for part in ("short", "long"):
            b = r[part]
            t = b.get("tau_reference")
            against = f"**{t['tau']:.2f}** [{t['low']:+.2f}, {t['high']:+.2f}]" if t else "(the 4x run)"
            e = b["effects"]
            cells = " | ".join(f"{e[f]['diff']:+.3f} [{e[f]['ci_low']:+.3f}, {e[f]['ci_high']:+.3f}]"
                               for f in ("MOD", "TR", "TS"))  # fmt: skip
            lines.append(f"| {r['rule']} | {b['steps']} | {', '.join(map(str, b['seeds']))} | {b['icc']:.2f} |"
                         f" {taus(b['tau_seeds'])} | {against} | {cells} | {b['largest_effect']} |")  # fmt: skip
    lines += ["", "Against the 4x run's seeds 0 and 1 only (like for like): " + "; ".join(
        f"{r['rule']} {r['short']['tau_reference_two_seeds']:.2f}" for r in s["world0"]) + "."]  # fmt: skip
    lines += [
        "",
        "Effects: bench_signal's paired differences (MOD invariant - off, TR distinctive - invariant"
        " on the reversal-pair classes, TS distinctive - invariant), 95 % t-intervals over matched pairs.",
    ]
    h = s.get("heldout")
    if h:
        e = h["effects"]
        cost = h["seconds_per_trial"]
        lines += ["", f"## Held out: world {h['world_seed']} under `video_clips`, {h['steps']} steps,"
                      f" seeds {', '.join(map(str, h['seeds']))}", "",
                  f"ICC {h['icc']:.2f}, tau between seeds {taus(h['tau_seeds'])}; "
                  + "; ".join(f"{f} {e[f]['diff']:+.3f} [{e[f]['ci_low']:+.3f}, {e[f]['ci_high']:+.3f}]"
                              for f in ("MOD", "TR", "TS"))
                  + f"; largest: {h['largest_effect']}.", "",
                  f"Cost, measured in the same run (one thread per trial, two at a time): a video-only trial"
                  f" {cost['video-only']:.0f} s, a cross-modal one {cost['cross-modal']:.0f} s"
                  f" ({cost['cross-modal'] / cost['video-only']:.2f}x)."]  # fmt: skip
    (RESULTS / "modality_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-seeds", type=int, default=2, help="seeds of the 4x run's cross-modal rows")
    parser.add_argument("--heldout-world", type=int, default=2)
    parser.add_argument("--heldout-seeds", type=int, default=3, help="0 skips the held-out world")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    spec = _rule_spec(WORLD, "video_clips")
    if not args.report_only:
        todo = jobs(WORLD, spec.trial.steps, SHORT_SEEDS, cross_modal_only=True)
        todo += jobs(WORLD, REFERENCE_FACTOR * spec.trial.steps, list(range(args.reference_seeds)), True)
        todo += jobs(args.heldout_world, spec.trial.steps, list(range(args.heldout_seeds)), False)
        run_jobs(todo, args.procs, spec.objective, runs=RUNS)
    write({"world0": [world0_rule(rule) for rule in RULES], "heldout": heldout(args.heldout_world)})


if __name__ == "__main__":
    main()
