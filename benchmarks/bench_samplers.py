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

- `expectation`: the mean of trials_to_best over `--expectation-seeds` searches run until they reach the best
  set, with its 95 % interval, for TPE and GP at each start-up count in `--startups`, each paired with random
  search on the same search seed (their start-up draws are random search's), and the bound that start-up sets.

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
import re
import statistics
import sys
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_signal import RUNS, _spec, design, objective_value  # noqa: E402
from search.intervals import estimate, welch_p  # noqa: E402
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


def startup_bound(n: int, m: int, startup: int) -> float:
    """The fewest trained configurations any sampler needs on average to reach a set of `m` of `n` when its first
    `startup` proposals are uniform draws without replacement: a perfect model hits the set with its next one.
    The expectation is the sum over k = 0 .. startup of P(the first k draws all miss the set)."""
    total, miss = 0.0, 1.0
    for k in range(startup + 1):
        total += miss
        miss *= max(n - m - k, 0) / (n - k) if k < n else 0.0
    return total


def expected_trials(spec, space, table, targets, sampler: str, startup: int, seeds: int, workers: int = 1) -> list[int]:
    """Trained configurations until the best set, per search seed, each search run until it gets there."""
    runs = (search(spec, space, table, targets, sampler, s, startup, len(table), stop_when_reached=True,
                   workers=workers) for s in range(seeds))  # fmt: skip
    return [run["reached_after"] for run in runs]


def search(spec, space: SearchSpace, table: dict[str, list[float]], targets: set[str], sampler: str,
           search_seed: int, startup: int, budget: int, stop_when_reached: bool = False,
           workers: int = 1) -> dict:  # fmt: skip
    """One search over the table to `budget` trained configurations (the preset's n_trials), or until it trains
    one in `targets` (`stop_when_reached`): when it first trained one there, and how many proposals trained nothing.

    With `workers` > 1 the search runs as a study with that many workers whose trials take equally long: it keeps
    `workers` trials running, proposing each new one while the others run, and scores the oldest first."""
    run_spec = spec.model_copy(update={"search": spec.search.model_copy(
        update={"sampler": sampler, "seed": search_seed, "n_startup_trials": startup})})  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=make_sampler(run_spec))
    study.sampler = steer(run_spec, study.sampler, space)
    rng = np.random.default_rng(1000 + search_seed)
    trained: dict[str, float] = {}
    running: list[tuple[optuna.trial.Trial, str]] = []
    limit = min(budget, len(table))
    proposals, wasted_after_startup, after_startup, reached = 0, 0, 0, None
    while len(trained) < limit and proposals < 10 * len(table):
        if len(running) < workers and len(trained) + len(running) < limit:
            proposals += 1
            trial = study.ask()
            candidate = space.suggest(trial)
            config = candidate.describe() if candidate.feasible else None
            taken = [c for _, c in running]
            waste = config is None or config in trained or config in taken
            if len(trained) >= startup:
                after_startup += 1
                wasted_after_startup += waste
            if config is None or config in taken:  # infeasible, or (not expected: claims) a running one's
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            elif config in trained:
                study.tell(trial, trained[config])
            else:
                running.append((trial, config))
            continue
        trial, config = running.pop(0)
        trained[config] = float(rng.choice(table[config]))  # one seed's measurement
        study.tell(trial, trained[config])
        if config in targets and reached is None:
            reached = len(trained)
            if stop_when_reached:
                break
    return {"reached_after": reached, "trained": len(trained), "proposals": proposals,
            "wasted_after_startup": wasted_after_startup, "proposals_after_startup": after_startup}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="the recorded budget to search over (default: the preset's)")
    parser.add_argument("--search-seeds", type=int, default=10)
    parser.add_argument("--startup", type=int, help="n_startup_trials of TPE and GP (default: the preset's)")
    parser.add_argument("--budget", type=int, help="trained configurations per search (default: the preset's n_trials)")
    parser.add_argument(
        "--expectation-seeds",
        type=int,
        default=200,
        help="search seeds per sampler for the expected trials to the best set (0: skip)",
    )
    parser.add_argument("--startups", default="1,2,3,4", help="n_startup_trials of TPE and GP in the expectation")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    preset = _spec(args.world_seed)
    args.steps = args.steps or preset.trial.steps
    args.budget = args.budget or preset.search.n_trials
    args.startup = preset.search.n_startup_trials if args.startup is None else args.startup
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
    expectation = expectations(spec, space, table, targets, args) if args.expectation_seeds else None
    result = {
        "configurations": n,
        "best": best,
        "best_set": sorted(targets),
        "random_expected": random_expected,
        "trials_to_best": {s: v["trials_to_best"] for s, v in samplers.items()},
        "wasted_proposal_share": {s: v["wasted_proposal_share"] for s, v in samplers.items()},
        "samplers": samplers,
        "expectation": expectation,
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
    (args.out / f"{name}.json").write_text(compact_integer_lists(json.dumps(result, indent=2)) + "\n")
    lines = [
        "# Samplers on the embedded default (`benchmarks/bench_samplers.py`)",
        "",
        f"The `table1` space ({n} configurations) at the default trial ({args.steps} steps), world seed"
        f" {args.world_seed}, scores recorded by `bench_signal.py` (3 seeds each; a proposal sees one seed's score)."
        f" Best set (best by mean + Welch p > {ALPHA}): **{m}** of {n} configurations, best `{best}`.",
        f" TPE and GP start with {args.startup} random proposal{'' if args.startup == 1 else 's'} (the preset runs"
        f" {preset.search.sampler} after {preset.search.n_startup_trials}); {args.search_seeds} search seeds each, each"
        f" to {args.budget} trained configurations (the preset's budget); real samplers with the real steering"
        " (`search.proposals`).",
        "",
        "| sampler | trained configurations until the best set (median) | vs random expected | wasted proposals after"
        " start-up |",
        "|---|---:|---:|---:|",
    ]
    for sampler, v in samplers.items():
        lines.append(f"| {sampler} | {v['trials_to_best']:g} (of {n}) | {random_expected / v['trials_to_best']:.2f}x"
                     f" | {v['wasted_proposal_share']:.1%} of {v['proposals_after_startup']} |")  # fmt: skip
    lines += ["", f"Random search without replacement needs (N + 1) / (m + 1) = **{random_expected:.2f}** on average."]
    if "random" in samplers:  # the statistic sets a median of 10 against a mean: it flatters every sampler
        own = samplers["random"]["trials_to_best"]
        lines += [f"Random search's own median over these 10 searches is {own:g}, {random_expected / own:.2f}x"
                  " its expectation: the column compares a median with a mean. The next section compares means."]
    lines += [""]
    if expectation:
        lines += expectation_lines(expectation, n, m, random_expected, preset)
    lines += ["Pruning: `bench_pruning.py` -> `pruning.md`."]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not args.world_seed:
        write_search_keys(args.out, result)


def expectations(spec, space, table, targets, args) -> dict:
    """Each sampler's mean trained configurations until the best set over many search seeds, with its 95 %
    interval, and its difference from random search paired by search seed: the samplers draw their start-up
    proposals from the same seeded generator as random search, so a pair differs only by the model's proposals."""
    n, m, seeds = len(table), len(targets), args.expectation_seeds
    random = expected_trials(spec, space, table, targets, "random", 0, seeds)
    rows = [{"sampler": "random", "n_startup_trials": 0, "workers": 1, "reached_after": random,
             **estimate(random).as_dict(), "vs_random": None, "startup_bound": startup_bound(n, m, 0)}]  # fmt: skip
    # Every sampler and start-up one proposal at a time, then the preset as its main job runs (its workers).
    runs = [(sampler, int(startup), 1) for sampler in ("tpe", "gp") for startup in args.startups.split(",")]
    runs.append((spec.search.sampler, spec.search.n_startup_trials, spec.search.workers))
    for sampler, startup, workers in runs:
        reached = expected_trials(spec, space, table, targets, sampler, startup, seeds, workers)
        drawn = startup + workers - 1  # proposals made before the first score: random search's draws
        # The pairing's premise: where random search reached the set within the start-up draws, so did this one.
        if any(a != b for a, b in zip(reached, random, strict=True) if b <= drawn):
            raise SystemExit(f"bench_samplers: {sampler}'s start-up draws are not random search's; no pairing")
        mean, paired = estimate(reached), estimate([a - b for a, b in zip(reached, random, strict=True)])
        rows.append({"sampler": sampler, "n_startup_trials": startup, "workers": workers, "reached_after": reached,
                     **mean.as_dict(), "vs_random": paired.as_dict(),
                     "startup_bound": startup_bound(n, m, drawn)})  # fmt: skip
        print(sampler, startup, workers, mean.text(), "vs random", paired.text(signed=True))
    return {"search_seeds": seeds, "random_exact": (n + 1) / (m + 1), "rows": rows}


def within(reached: list[int], budget: int) -> float:
    return sum(r <= budget for r in reached) / len(reached)


def expectation_lines(expectation: dict, n: int, m: int, random_expected: float, preset) -> list[str]:
    seeds, search, budget = expectation["search_seeds"], preset.search, preset.search.n_trials
    lines = [
        f"## Expected trained configurations until the best set ({seeds} search seeds each)",
        "",
        "The median over 10 searches above moves in whole trials and mostly counts the shared random start-up"
        f" draws. Here each search runs until it trains a configuration of the best set, over {seeds} search seeds:"
        " the mean with its 95 % interval, and the difference from random search on the same search seed (the"
        " samplers' start-up proposals are random search's own draws, so the pair differs by the model alone)."
        " *Bound*: the fewest any sampler can need on average after that many random start-up proposals (a perfect"
        " model hits the set with its first proposal). *Within the budget*: the share of searches that reach the set"
        f" within the preset's {budget} trained configurations. A study with w workers proposes w - 1 configurations"
        " before its first is scored, so they are start-up draws too (GP's and TPE's start-up count finished"
        f" trials): the main job's {search.sampler} after {search.n_startup_trials} with {search.workers} workers"
        f" starts with {search.n_startup_trials + search.workers - 1} random proposals; its row replays it as it runs,"
        f" {search.workers} trials at a time (equally long), each proposed while the others run.",
        "",
        "| sampler | start-up | mean (95 % interval) | vs random, paired | vs random expected | within the budget"
        " | bound |",
        "|---|---:|---|---|---:|---:|---:|",
    ]
    for row in expectation["rows"]:
        mean = f"{row['mean']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
        paired = row["vs_random"]
        versus = f"{paired['mean']:+.2f} [{paired['low']:+.2f}, {paired['high']:+.2f}]" if paired else "-"
        startup = f"{row['n_startup_trials']}" + (
            f", {row['workers']} workers (the main job)" if row["workers"] > 1 else ""
        )
        lines.append(f"| {row['sampler']} | {startup} | {mean} | {versus} |"
                     f" {random_expected / row['mean']:.2f}x | {within(row['reached_after'], budget):.0%}"
                     f" | {row['startup_bound']:.2f} |")  # fmt: skip
    lines += ["", f"Random search's exact expectation (N + 1) / (m + 1) = {random_expected:.2f}; its bound after 0"
              f" start-up proposals is 1 (an oracle). N = {n}, m = {m}. Whatever its start-up, a sampler that reads"
              " scores only against each other (TPE ranks them, GP standardises them) learns nothing from one score:"
              " over problems where any configuration may be the best, its second proposal does no better than a"
              f" random one, so none needs fewer than the start-up-2 bound, {startup_bound(n, m, 2):.2f}"
              f" ({random_expected / startup_bound(n, m, 2):.2f}x random's expectation).", ""]  # fmt: skip
    return lines


def compact_integer_lists(text: str) -> str:
    """Indented JSON with each list of integers (200 searches' counts) on one line rather than one per number."""
    return re.sub(
        r"\[\s*((?:-?\d+|null),?\s*)+\]",
        lambda m: re.sub(r"\s+", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"),
        text,
    )


def expected_at_startup(result: dict) -> dict | None:
    if not result["expectation"]:
        return None
    startup = result["settings"]["n_startup_trials"]
    keep = ("n_startup_trials", "workers", "mean", "low", "high", "n", "vs_random")
    rows = result["expectation"]["rows"]
    one_at_a_time = [row for row in rows if row["workers"] == 1]
    expected = {row["sampler"]: {k: row[k] for k in keep} for row in one_at_a_time
                if row["sampler"] == "random" or row["n_startup_trials"] == startup}  # fmt: skip
    expected["main_job"] = {k: rows[-1][k] for k in ("sampler", *keep)}  # the preset with its workers
    return expected


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
            # the mean over many searches at the preset's start-up, paired with random search (the median's whole
            # trials mostly count the start-up draws' luck)
            "trials_to_best_expected": expected_at_startup(result),
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
