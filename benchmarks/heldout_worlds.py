"""The planted truths on worlds nothing was tuned on: each held-out world's effects, and the worlds pooled.

The embedded default was tuned on world 0, and world 1 informed the choice of its objective
(`docs/world.md`). Worlds 2, 3 and 4 were held out: nothing was chosen after looking at them. This script
trains nothing: it reads the runs `bench_signal.py --world-seed N` recorded (`signal_runs.jsonl`, only
those whose design fingerprint is today's preset on that world) and reports, per factor, the paired
effect of `bench_signal.py` on each world and pooled over the worlds.

Pooled: every world's per-pair differences (each averaged over that world's seeds) are the units of one
95 % t-interval. This is a fixed-effect pool: the interval covers the variation between pairs within these
worlds, not the variation between worlds, which two or three worlds cannot estimate.

Besides `bench_signal.py`'s effects (TR on the reversal-pair classes), every factor on the objective over all
classes, pooled the same way, with the largest and its margin over the runner-up (`ranked_effects`).

    python benchmarks/heldout_worlds.py --worlds 2 3 4               # the preset's clip budget rule
    python benchmarks/heldout_worlds.py --rule clips                 # runs of the earlier rule (every clip)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_signal import (  # noqa: E402  (the benchmark's own definitions of a run, a pair and an interval)
    EFFECTS,
    RESULTS,
    RUNS,
    _candidates,
    _spec,
    common_differences,
    describe,
    design,
    mean_interval,
    pair_differences,
    ranked_effects,
    recorded_runs,
    table,
)


def world_differences(world: int, rule: str | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Per factor, the per-pair differences on one world at its preset's default budget (as `bench_signal` scores
    each effect, and on the objective over all classes), and what they rest on. `rule`: what the clip budget
    counts, when not the preset's."""
    spec = _spec(world, {"clip_budget_counts": rule} if rule else None)
    fingerprint, steps = design(spec), spec.trial.steps
    rows = [r for r in recorded_runs(spec) if r["steps"] == steps]
    configs, settings = describe(_candidates(spec))
    seeds = sorted({r["seed"] for r in rows})
    recorded = {(r["config"], r["seed"]) for r in rows}
    missing = [(c, s) for c in configs for s in seeds if (c, s) not in recorded]
    if not seeds or missing:
        raise SystemExit(
            f"world {world}: runs missing in {RUNS} ({len(missing)} of {len(configs) * len(seeds)}); "
            f"record them with: python benchmarks/bench_signal.py --world-seed {world} --long-seeds 0 --skip-main-job"
        )
    differences = {
        factor: pair_differences(table(rows, configs, seeds, steps, key), configs, settings, factor, a, b)
        for factor, (a, b, key) in EFFECTS.items()
    }
    common = common_differences(rows, configs, settings, seeds, steps)
    return differences, common, {"world": world, "design": fingerprint, "steps": steps, "seeds": len(seeds)}


def summarise(worlds: list[int], rule: str | None) -> dict:
    per_world, pooled, pooled_common = {}, {factor: [] for factor in EFFECTS}, {factor: [] for factor in EFFECTS}
    for world in worlds:
        differences, common, about = world_differences(world, rule)
        per_world[world] = {**about, "effects": {f: mean_interval(d) for f, d in differences.items()},
                            "effects_common": ranked_effects(common, about["seeds"])}  # fmt: skip
        for factor in EFFECTS:
            pooled[factor].append(differences[factor])
            pooled_common[factor].append(common[factor])
    pooled_effects = {
        f: {**mean_interval(np.concatenate(ds)), "compared": f"{EFFECTS[f][0]} - {EFFECTS[f][1]}"}
        for f, ds in pooled.items()
    }
    return {
        "worlds": worlds,
        "clip_budget_counts": rule or _spec(worlds[0]).clip_budget_counts,
        "per_world": per_world,
        "pooled": pooled_effects,
        "largest_pooled": max(pooled_effects, key=lambda f: pooled_effects[f]["diff"]),
        "pooled_common": ranked_effects({f: np.concatenate(ds) for f, ds in pooled_common.items()}, None),
    }


def write(summary: dict, name: str) -> None:
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    cell = "{diff:+.3f} [{ci_low:+.3f}, {ci_high:+.3f}] ({pairs})".format
    worlds = summary["per_world"].values()
    lines = [
        f"# Planted truths on held-out worlds {', '.join(map(str, summary['worlds']))}",
        "",
        f"The `table1` preset with the clip budget counting `{summary['clip_budget_counts']}`.",
        "",
        "Paired effects at the default budget (`bench_signal.py`'s definitions; TR on the reversal-pair classes); "
        "each cell: mean difference, 95 % CI, (matched pairs). Pooled: a fixed-effect pool of every world's pairs.",
        "",
        "| effect | compared | "
        + " | ".join(f"world {w['world']} ({w['seeds']} seeds)" for w in worlds)
        + " | pooled |",
        "|---|---|" + "---|" * (len(summary["per_world"]) + 1),
        *(
            f"| {f} | {p['compared']} | " + " | ".join(cell(**w["effects"][f]) for w in worlds) + f" | {cell(**p)} |"
            for f, p in summary["pooled"].items()
        ),
        "",
        f"Largest pooled effect as scored above: {summary['largest_pooled']}.",
    ]
    common = summary["pooled_common"]
    lines += [
        "",
        "Every effect on the objective over all classes (TR too; the papers rank their effects on one accuracy):",
        "",
        "| effect | compared | " + " | ".join(f"world {w['world']}" for w in worlds) + " | pooled |",
        "|---|---|" + "---|" * (len(summary["per_world"]) + 1),
        *(
            f"| {f} | {p['compared']} | "
            + " | ".join(cell(**w["effects_common"]["effects"][f]) for w in worlds)
            + f" | {cell(**p)} |"
            for f, p in common["effects"].items()
        ),
        "",
        f"Largest pooled effect on the objective: {common['largest']}, by {common['margin']:+.3f} "
        f"[{common['margin_ci_low']:+.3f}, {common['margin_ci_high']:+.3f}] over {common['runner_up']} "
        "(Welch 95 % CI, approximate: the pair sets share configurations).",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument(
        "--rule", choices=["clips", "video_clips"], help="what the clip budget counts, when not the preset's"
    )  # its results: heldout_worlds_<rule>.*
    args = parser.parse_args()
    write(summarise(args.worlds, args.rule), "heldout_worlds" + (f"_{args.rule}" if args.rule else ""))


if __name__ == "__main__":
    main()
