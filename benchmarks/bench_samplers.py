"""Samplers on the embedded default: how many trained configurations until the best set, and proposal waste.

A tabular benchmark on the runs `bench_signal.py` recorded (`benchmarks/results/signal_runs.jsonl`): every
configuration of the `table1` preset's space trained at the default trial with 3 seeds. A search proposes
with the real sampler and the real steering (`search.optuna_backend.make_sampler` + `steer`: TPE, GP and
random search propose only feasible, untried configurations), and a proposal's score is one of its recorded
seeds (one noisy measurement, as a study with search.seeds 1 sees it). Reported, per sampler over
`--search-seeds` searches:

- `trials_to_best`: trained configurations until one in the grid's best set is trained (the best by mean
  over the 3 seeds and every configuration Welch's test cannot tell apart from it, p > 0.05: search.best),
  median over search seeds; the issue's target is <= 1/3 of the grid and >= 1.5x fewer than random;
- `random_expected`: the same for uniform random search without replacement, (N + 1) / (m + 1);
- `wasted_proposal_share`: proposals that trained nothing (duplicates, infeasible) over all proposals
  after the sampler's start-up trials.

Pruning is `bench_pruning.py`'s (runs with intermediate scores; it writes `pruning_saving`).
Results go to benchmarks/results/samplers.json and .md; the headline keys (trials_to_best, random_expected,
wasted_proposal_share) also into search.json. Another world's (`--world-seed N`, recorded by
`bench_signal.py --world-seed N`) go to samplers_worldN.json and .md.

    python benchmarks/bench_samplers.py [--search-seeds 10] [--world-seed 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_signal import RUNS, _spec, design, objective_value  # noqa: E402
from search.intervals import welch_p  # noqa: E402
from search.optuna_backend import make_sampler, steer  # noqa: E402
from search.space import SearchSpace, data_limits  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ALPHA = 0.05


def recorded(world_seed: int, steps: int) -> tuple[object, dict[str, list[float]]]:
    """The table1 spec and, per configuration, its recorded objective per seed at `steps` (current design)."""
    spec = _spec(world_seed)
    fingerprint = design(spec)
    table: dict[str, dict[int, float]] = {}
    for line in RUNS.read_text().splitlines():
        run = json.loads(line)
        wanted = (fingerprint, world_seed, steps, None)  # runs with intermediate evaluations are bench_pruning's
        if (run.get("design"), run["world_seed"], run["steps"], run.get("eval_every")) == wanted:
            table.setdefault(run["config"], {})[run["seed"]] = objective_value(run, spec.objective)
    return spec, {config: [seeds[s] for s in sorted(seeds)] for config, seeds in table.items()}


def best_set(table: dict[str, list[float]]) -> tuple[str, set[str]]:
    """The best configuration by mean, and every configuration Welch's test cannot tell apart from it."""
    best = max(table, key=lambda c: statistics.mean(table[c]))
    same = {c for c in table if c == best or (welch_p(table[c], table[best]) or 0.0) > ALPHA}
    return best, same


def search(spec, space: SearchSpace, table: dict[str, list[float]], targets: set[str], sampler: str,
           search_seed: int, startup: int, budget: int) -> dict:  # fmt: skip
    """One search over the table to `budget` trained configurations (the preset's n_trials): when it first
    trained one in `targets`, and how many of its proposals trained nothing."""
    run_spec = spec.model_copy(update={"search": spec.search.model_copy(
        update={"sampler": sampler, "seed": search_seed, "n_startup_trials": startup})})  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=make_sampler(run_spec))
    study.sampler = steer(run_spec, study.sampler, space)
    rng = np.random.default_rng(1000 + search_seed)
    trained: dict[str, float] = {}
    proposals, wasted_after_startup, after_startup, reached = 0, 0, 0, None
    while len(trained) < min(budget, len(table)) and proposals < 10 * len(table):
        proposals += 1
        trial = study.ask()
        candidate = space.suggest(trial)
        waste = not candidate.feasible or candidate.describe() in trained
        if len(trained) >= startup:
            after_startup += 1
            wasted_after_startup += waste
        if not candidate.feasible:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        config = candidate.describe()
        if config in trained:
            study.tell(trial, trained[config])
            continue
        trained[config] = float(rng.choice(table[config]))  # one seed's measurement
        study.tell(trial, trained[config])
        if config in targets and reached is None:
            reached = len(trained)
    return {"reached_after": reached, "trained": len(trained), "proposals": proposals,
            "wasted_after_startup": wasted_after_startup, "proposals_after_startup": after_startup}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="the recorded budget to search over (default: the preset's)")
    parser.add_argument("--search-seeds", type=int, default=10)
    parser.add_argument("--startup", type=int, default=3, help="n_startup_trials of TPE and GP")
    parser.add_argument("--budget", type=int, help="trained configurations per search (default: the preset's n_trials)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    preset = _spec(args.world_seed)
    args.steps = args.steps or preset.trial.steps
    args.budget = args.budget or preset.search.n_trials
    spec, table = recorded(args.world_seed, args.steps)
    space = SearchSpace(spec, data_limits(spec))
    feasible = {c.describe() for c in space.unique_feasible()}
    missing = feasible - set(table)
    if missing:
        raise SystemExit(f"bench_samplers: {len(missing)} configurations have no recorded runs; run bench_signal.py")
    table = {c: table[c] for c in feasible}
    best, targets = best_set(table)
    n, m = len(table), len(targets)
    samplers = {}
    for sampler in ("tpe", "gp", "random"):
        startup = 0 if sampler == "random" else args.startup
        runs = [search(spec, space, table, targets, sampler, s, startup, args.budget) for s in range(args.search_seeds)]
        reached = [r["reached_after"] for r in runs]
        wasted = sum(r["wasted_after_startup"] for r in runs)
        after = sum(r["proposals_after_startup"] for r in runs)
        samplers[sampler] = {
            "trials_to_best": statistics.median(r if r is not None else n + 1 for r in reached),
            "reached_after": reached,
            "wasted_proposal_share": wasted / after if after else 0.0,
            "proposals_after_startup": after,
        }
        print(sampler, samplers[sampler], flush=True)
    random_expected = (n + 1) / (m + 1)
    result = {
        "configurations": n,
        "best": best,
        "best_set": sorted(targets),
        "random_expected": random_expected,
        "trials_to_best": {s: v["trials_to_best"] for s, v in samplers.items()},
        "wasted_proposal_share": {s: v["wasted_proposal_share"] for s, v in samplers.items()},
        "samplers": samplers,
        "settings": {
            "world_seed": args.world_seed,
            "steps": args.steps,
            "search_seeds": args.search_seeds,
            "n_startup_trials": args.startup,
            "budget": args.budget,
            "design": design(spec),
        },  # fmt: skip
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "optuna": optuna.__version__},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    # Another world's replay goes beside the default's (samplers_world2.*) and leaves search.json's headline alone.
    name = f"samplers_world{args.world_seed}" if args.world_seed else "samplers"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Samplers on the embedded default (`benchmarks/bench_samplers.py`)",
        "",
        f"The `table1` space ({n} configurations) at the default trial ({args.steps} steps), world seed"
        f" {args.world_seed}, scores recorded by `bench_signal.py` (3 seeds each; a proposal sees one seed's score)."
        f" Best set (best by mean + Welch p > {ALPHA}): **{m}** of {n} configurations, best `{best}`.",
        f" TPE and GP start with {args.startup} random proposals; {args.search_seeds} search seeds each, each to"
        f" {args.budget} trained configurations (the preset's budget); real samplers with the real steering"
        " (`search.proposals`).",
        "",
        "| sampler | trained configurations until the best set (median) | vs random expected | wasted proposals after"
        " start-up |",
        "|---|---:|---:|---:|",
    ]
    for sampler, v in samplers.items():
        lines.append(f"| {sampler} | {v['trials_to_best']:g} (of {n}) | {random_expected / v['trials_to_best']:.2f}x"
                     f" | {v['wasted_proposal_share']:.1%} of {v['proposals_after_startup']} |")  # fmt: skip
    lines += ["", f"Random search without replacement needs (N + 1) / (m + 1) = **{random_expected:.2f}** on average.",
              "", "Pruning: `bench_pruning.py` -> `pruning.md`."]  # fmt: skip
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not args.world_seed:
        write_search_keys(args.out, result)


def write_search_keys(out: Path, result: dict) -> None:
    """The search issue's headline keys in search.json, at the default trial: bench_search.py's own grid and
    live runs there predate the default (15 / 60-step trials), so these come from this replay."""
    path = out / "search.json"
    search = json.loads(path.read_text()) if path.exists() else {}
    search.update(
        {
            "trials_to_best": result["trials_to_best"],
            "random_expected": result["random_expected"],
            # the largest share over the samplers (the bound holds for each), and each sampler's
            "wasted_proposal_share": max(result["wasted_proposal_share"].values()),
            "wasted_proposal_share_by_sampler": result["wasted_proposal_share"],
            "default_trial": {
                "source": "benchmarks/bench_samplers.py (samplers.json)",
                "best_set_size": len(result["best_set"]),
                "configurations": result["configurations"],
                "settings": result["settings"],
            },
        }
    )
    path.write_text(json.dumps(search, indent=2) + "\n")


if __name__ == "__main__":
    main()
