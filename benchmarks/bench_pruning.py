"""Pruning on the embedded default: do intermediate scores rank like final ones, and what would a pruner save?

Every configuration of the `table1` preset's space is trained at the default trial (3 training seeds, as in
`bench_signal.py`) with a proxy evaluation every `--eval-every` steps: the scores a pruner would see. The
runs go to `benchmarks/results/pruning_runs.jsonl` (resumable). Then:

- **calibration of the intermediate steps**: the study's own `search.calibration.Calibration` built from
  these runs (study budget and its intermediate scores) and the 4x-budget runs `bench_signal.py` recorded
  (the reference): at which steps `search.calibration.pruning_gate` lets a pruner act. Per step, Kendall
  tau between the mean intermediate score and the mean final score, with its bootstrap interval;
- **a replay**: over `--orders` random orders of the grid, the real Optuna pruners wrapped in the real gate
  (`CalibratedPruner`), each order replayed with and without the pruner, for a study with `search.seeds: 1`
  (each configuration measured by one seed, drawn per order) and one with every seed (the pruner reads the
  first seed's curve; a configuration it stops never trains its later seeds). As a study's trials do, a trial
  evaluates only at the steps where the gate lets the pruner act, and later seeds not at all. Compute is
  measured seconds: a pruned trial costs its seconds up to the evaluation that stopped it; a completed one its
  whole trial (all its seeds); without a pruner a trial pays no intermediate evaluations. Reported: the saving
  (seconds without / with), how often the search's answer (the best completed configuration) is in the grid's
  best set (best by mean over seeds + every configuration Welch's test cannot tell apart from it), with and
  without the pruner, and the ceiling (a pruner that knew the answer and stopped every other configuration
  at the first step the gate allows).

Results: `benchmarks/results/pruning.md` / `pruning.json`, `pruning_saving` in `search.json`, and the
calibration itself, `table1_calibration.json`, which a `table1` study adopts with `gdt-search calibrate --from`.

    python benchmarks/bench_pruning.py [--eval-every 100] [--orders 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_samplers import best_set, recorded  # noqa: E402
from benchmarks.bench_signal import (  # noqa: E402
    _candidates,
    _spec,
    describe,
    design,
    objective_value,
    pairwise_taus,
    planted_effects,
    run_jobs,
)
from benchmarks.bench_signal import table as score_table  # noqa: E402
from search.calibration import (  # noqa: E402
    THRESHOLD,
    CalibratedPruner,
    Calibration,
    agreement,
    icc1,
    pruning_gate,
    trial_design,
)
from search.samplers import PRUNERS  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
PRUNING_RUNS = RESULTS / "pruning_runs.jsonl"
REPLAYED = ("median", "successive_halving", "hyperband")


def with_pruner_spec(spec, kind: str, eval_every: int):
    """The preset's spec with pruner `kind` and intermediate evaluations every `eval_every` steps."""
    search = spec.search.model_copy(update={"pruner": spec.search.pruner.model_copy(update={"kind": kind})})
    return spec.model_copy(update={"search": search, "trial": spec.trial.model_copy(update={"eval_every": eval_every})})


def without_evaluations(run: dict) -> float:
    """A recorded run's seconds less its intermediate evaluations: the trial as a study without a pruner runs it."""
    return run["trained_seconds"] - sum(p["eval_seconds"] for p in run["intermediate"])


def evaluated_at(run: dict, every: int, gate: set[int] | None) -> tuple[list[dict], float]:
    """The run as a study evaluating every `every` steps (a multiple of the recorded interval) would have seen it:
    only where the gate lets its pruner act, as the study's trials do (`search.objective.train_candidate`). Its
    intermediate points, each at the seconds it would have been reached without the skipped evaluations, and its
    whole trial's seconds."""
    points, skipped = [], 0.0
    for point in run["intermediate"]:
        if point["step"] % every or (gate is not None and point["step"] not in gate):
            skipped += point["eval_seconds"]
        else:
            points.append({**point, "at_seconds": point["at_seconds"] - skipped})
    return points, run["trained_seconds"] - skipped


def replay(spec, kind: str, gate: set[int] | None, every: int, order: list[str], runs: dict[str, list[dict]]) -> dict:
    """One pass over the grid in `order` with the pruner `kind` behind the calibration gate, and the same pass
    without a pruner (and without intermediate evaluations): measured seconds of each, and each one's answer (the
    best completed configuration). `runs`: each configuration's seeds as a study with that many `search.seeds`
    trains them (`search.objective.train_candidate`): the pruner reads the first seed's scores, evaluated every
    `every` steps where the gate lets it act; a kept configuration then trains its later seeds without
    intermediate evaluations, a pruned one never does; its value is the mean over its seeds."""
    pruner = PRUNERS[kind](with_pruner_spec(spec, kind, every))
    if gate is not None:
        pruner = CalibratedPruner(pruner, gate)
    # A fixed name: Hyperband assigns trials to brackets by a hash of the study's name (random by default).
    study = optuna.create_study(study_name="replay", direction="maximize", pruner=pruner)
    with_pruner, without, completed, pruned = 0.0, 0.0, {}, 0
    value = {c: float(np.mean([run["objective"] for run in seed_runs])) for c, seed_runs in runs.items()}
    for config in order:
        first, *later = runs[config]
        plain = [without_evaluations(run) for run in runs[config]]
        without += sum(plain)
        points, seconds = evaluated_at(first, every, gate)
        trial = study.ask()
        stopped_at = None
        for point in points:
            trial.report(point["objective"], point["step"])
            if trial.should_prune():
                stopped_at = point
                break
        if stopped_at is None:
            with_pruner += seconds + sum(plain[1:])
            completed[config] = value[config]
            study.tell(trial, value[config])
        else:
            with_pruner += stopped_at["at_seconds"]
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    answer = max(completed, key=completed.get)
    unpruned_answer = max(order, key=value.get)
    return {"seconds_with": with_pruner, "seconds_without": without, "pruned": pruned,
            "answer": answer, "answer_without": unpruned_answer}  # fmt: skip


def _variants(eval_every: int, gate: set[int] | None, n_seeds: int):
    """(pruner, evaluation interval, label, gate) replayed for a study shape: every pruner at the recorded interval
    and twice it, gated and not, for one seed per configuration; the recorded interval for more seeds."""
    for kind in REPLAYED:
        for every in (eval_every, 2 * eval_every) if n_seeds == 1 else (eval_every,):
            for label, kind_gate in (("calibrated", gate), ("ungated", None)):
                yield kind, every, label, kind_gate


def ceiling(runs: dict[str, list[dict]], every: int, gate: set[int]) -> float:
    """The most any pruner behind `gate` could save on these runs (each configuration's seeds, as `replay` takes
    them): every configuration but the best stopped at its first seed's first evaluation the gate allows (a
    pruner that knew the answer), the best trained to the end with all its seeds."""
    best = max(runs, key=lambda c: np.mean([r["objective"] for r in runs[c]]))
    first, *later = runs[best]
    with_oracle = evaluated_at(first, every, gate)[1] + sum(map(without_evaluations, later))
    for config, (first, *_) in runs.items():
        if config != best:
            with_oracle += evaluated_at(first, every, gate)[0][0]["at_seconds"]
    return sum(without_evaluations(r) for seed_runs in runs.values() for r in seed_runs) / with_oracle


def analyse(args, spec, rows: list[dict], configs: list[str]) -> dict:
    """The calibration of the intermediate steps, and the replay of each pruner behind its gate."""
    seeds = list(range(args.seeds))
    objective = spec.objective
    by = {(r["config"], r["seed"]): r for r in rows}
    at_step: dict[tuple[str, int, int], float] = {}  # (configuration, seed, step) -> the objective a pruner saw
    for r in rows:
        for point in r["intermediate"]:
            point["objective"] = objective_value({"scores": point["scores"]}, objective)
            at_step[r["config"], r["seed"], point["step"]] = point["objective"]
    final = {c: [by[c, s]["objective"] for s in seeds] for c in configs}
    steps = sorted(p["step"] for p in rows[0]["intermediate"])
    reference_steps = spec.trial.steps * 4
    _, reference = recorded(args.world_seed, reference_steps)  # bench_signal.py's 4x runs, one list of seeds each
    if not set(configs) <= set(reference):
        raise SystemExit(f"bench_pruning: the {reference_steps}-step reference runs are missing; run bench_signal.py")
    # The study's own calibration object, as `gdt-search calibrate` would fill it (its intermediate scores are
    # the first seed's), and the gate the study's pruner would get from it.
    calibration = Calibration(
        configurations=configs, seeds=seeds, reference_steps=reference_steps, study_steps=spec.trial.steps,
        threshold=THRESHOLD,
        scores={spec.trial.steps: [final[c] for c in configs], reference_steps: [reference[c] for c in configs]},
        intermediate={step: [at_step[c, seeds[0], step] for c in configs] for step in steps},
        design=trial_design(spec),
    )  # fmt: skip
    gate, gate_line = pruning_gate(with_pruner_spec(spec, "median", args.eval_every), calibration)
    # Per step, over all seeds: tau between mean intermediate and mean final scores (more precise than one seed).
    mean_final = [float(np.mean(final[c])) for c in configs]
    per_step = {}
    for step in steps:
        at = [float(np.mean([at_step[c, s, step] for s in seeds])) for c in configs]
        per_step[step] = {"all_seeds": agreement(at, mean_final).__dict__,
                          "first_seed": calibration.step_agreement(step).__dict__}  # fmt: skip
    best, targets = best_set(final)
    replays = {}
    rng = np.random.default_rng(0)
    orders = []
    for _ in range(args.orders):
        order = list(rng.permutation(configs))
        measured_by = {c: by[c, int(rng.choice(seeds))] for c in configs}  # one seed's measurement each
        orders.append((order, measured_by))
    means = {c: float(np.mean(v)) for c, v in final.items()}
    # Study shapes: search.seeds 1 (each configuration measured by one seed, drawn per order) and search.seeds n
    # (every seed, the first one's curve read by the pruner, as common random numbers order them).
    every_seed = {c: [by[c, s] for s in seeds] for c in configs}
    shapes = {
        1: [(order, {c: [run] for c, run in one.items()}) for order, one in orders],
        len(seeds): [(order, every_seed) for order, _ in orders],
    }
    ceilings = {n: float(np.mean([ceiling(runs, args.eval_every, gate) for _, runs in shaped])) if gate else None
                for n, shaped in shapes.items()}  # fmt: skip
    for n_seeds, shaped in shapes.items():
        for kind, every, label, kind_gate in _variants(args.eval_every, gate, n_seeds):
            results = [replay(spec, kind, kind_gate, every, order, measured) for order, measured in shaped]
            name = f"{kind}, every {every} ({label})" + (f", {n_seeds} seeds each" if n_seeds > 1 else "")
            replays[name] = {
                "kind": kind, "every": every, "gated": kind_gate is not None, "seeds": n_seeds,
                "saving": sum(r["seconds_without"] for r in results) / sum(r["seconds_with"] for r in results),
                "pruned_mean": statistics.mean(r["pruned"] for r in results),
                "answer_in_best_set": sum(r["answer"] in targets for r in results) / len(results),
                "answer_in_best_set_without": sum(r["answer_without"] in targets for r in results) / len(results),
                # how far the answer's mean over seeds is below the best configuration's
                "regret": statistics.mean(means[best] - means[r["answer"]] for r in results),
                "regret_without": statistics.mean(means[best] - means[r["answer_without"]] for r in results),
            }  # fmt: skip
            print(name, replays[name], flush=True)
    return {
        "world_seed": args.world_seed,
        "configurations": len(configs),
        "seeds": len(seeds),
        "steps": spec.trial.steps,
        "eval_every": args.eval_every,
        "intermediate_steps": steps,
        "calibration": calibration.as_dict(),
        "gate": sorted(gate) if gate is not None else None,
        "gate_line": gate_line,
        "per_step": {str(s): v for s, v in per_step.items()},
        "best": best,
        "best_set": sorted(targets),
        "orders": args.orders,
        "replays": replays,
        "ceiling": {str(n): c for n, c in ceilings.items()},
        "eval_seconds_mean": float(np.mean([p["eval_seconds"] for r in rows for p in r["intermediate"]])),
        "trial_seconds_mean": float(np.mean([r["trained_seconds"] for r in rows])),
        "signal": signal_of(rows, configs, seeds, spec, calibration),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "optuna": optuna.__version__},
    }


def signal_of(rows: list[dict], configs: list[str], seeds: list[int], spec, calibration: Calibration) -> dict:
    """These runs' final scores read as `bench_signal.py` reads its own: they are the default trial trained by
    today's code (signal.md's runs are older), so they re-measure its signal."""
    steps = spec.trial.steps
    final = score_table(rows, configs, seeds, steps, "objective")
    _, settings = describe(_candidates(spec))
    return {
        "icc": icc1(final),
        "tau_seeds": pairwise_taus(final),
        "tau_reference": calibration.budget_agreement(steps).tau,
        "effects": planted_effects(rows, configs, settings, seeds, steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--orders", type=int, default=20, help="random orders of the grid replayed per pruner")
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()

    spec = _spec(args.world_seed)
    fingerprint = design(spec)
    candidates = _candidates(spec)
    steps = spec.trial.steps
    jobs = [{"design": fingerprint, "world_seed": args.world_seed, "config": c.describe(), "params": c.params,
             "seed": s, "steps": steps, "overrides": {}, "eval_every": args.eval_every}
            for s in range(args.seeds) for c in candidates]  # fmt: skip
    started = time.perf_counter()
    rows = run_jobs(jobs, args.procs, spec.objective, PRUNING_RUNS)
    print(f"trained in {(time.perf_counter() - started) / 3600:.2f} h", flush=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    summary = analyse(args, spec, rows, [c.describe() for c in candidates])
    (RESULTS / "pruning.json").write_text(json.dumps(summary, indent=2) + "\n")
    # The calibration as `gdt-search calibrate --out` writes it: a table1 study adopts it with `--from`.
    (RESULTS / "table1_calibration.json").write_text(json.dumps(summary["calibration"], indent=2) + "\n")
    write_markdown(summary)
    write_search_key(summary)


def headline(summary: dict, seeds: int | None = None) -> tuple[float, str]:
    """The saving a study gets at the default (one with `seeds` training seeds per configuration; None: either):
    the best calibrated pruner that loses no answers (its answer is in the grid's best set as often as without a
    pruner), and why."""
    keeping = {
        name: r
        for name, r in summary["replays"].items()
        if r["gated"]
        and r["answer_in_best_set"] >= r["answer_in_best_set_without"]
        and (seeds is None or r["seeds"] == seeds)
    }
    if not summary["gate"]:
        return 1.0, f"no pruner acts: {summary['gate_line']}"
    if not keeping:
        return 1.0, "every calibrated pruner lost answers (its best outside the grid's best set more often)"
    name, r = max(keeping.items(), key=lambda item: item[1]["saving"])
    return r["saving"], f"{name}, acting at steps {', '.join(map(str, summary['gate']))}"


def write_markdown(summary: dict) -> None:
    cal = summary["calibration"]
    saving, basis = headline(summary)
    lines = [
        "# Pruning on the embedded default (`benchmarks/bench_pruning.py`)",
        "",
        f"The `table1` space ({summary['configurations']} configurations) at the default trial ({summary['steps']}"
        f" steps) x {summary['seeds']} seeds, world seed {summary['world_seed']}, with a proxy evaluation every"
        f" {summary['eval_every']} steps ({summary['eval_seconds_mean']:.1f} s each on one thread; a whole trial with"
        f" them {summary['trial_seconds_mean']:.0f} s). Machine: {summary['machine']}.",
        "",
        "## Do intermediate scores rank like final ones?",
        "",
        f"Kendall tau between the objective at an intermediate step and at step {summary['steps']} over the"
        " configurations, with a bootstrap 95 % interval; a pruner may act where tau >= "
        f"{cal['threshold']} (`search.calibration`, which reads one seed as a study's calibration does).",
        "",
        "| step | tau, one seed (the study's calibration) | tau, mean of the seeds |",
        "|---:|---|---|",
    ]
    for step, v in summary["per_step"].items():
        one, mean = v["first_seed"], v["all_seeds"]
        lines.append(f"| {step} | {one['tau']:+.2f} [{one['low']:+.2f}, {one['high']:+.2f}] |"
                     f" {mean['tau']:+.2f} [{mean['low']:+.2f}, {mean['high']:+.2f}] |")  # fmt: skip
    budget = cal["budgets"][str(summary["steps"])]
    lines += [
        "",
        f"The default budget itself against the {cal['reference_steps']}-step reference: tau {budget['tau']:+.2f}"
        f" [{budget['low']:+.2f}, {budget['high']:+.2f}].",
        f"The study's gate: {summary['gate_line']}.",
        "",
        "## What a pruner saves",
        "",
        f"{summary['orders']} random orders of the grid, replayed with real Optuna pruners behind the calibration"
        " gate and without it, for two shapes of study: `search.seeds: 1` (each configuration measured by one seed,"
        f" drawn per order) and `search.seeds: {summary['seeds']}` (every seed; the pruner reads the first seed's"
        " curve, and a configuration it stops never trains its later seeds, as `search.objective.train_candidate`"
        " does). Behind the gate a trial evaluates only at the steps where the pruner may act, and later seeds make"
        " no intermediate evaluations, as a study's trials do. Saving = measured seconds without a pruner (no"
        " intermediate evaluations) / with it. Answer = the best completed configuration by its value (the mean"
        f" over its seeds); best set ({len(summary['best_set'])} of {summary['configurations']}): the best by mean"
        " over seeds (`" + summary["best"] + "`) and those Welch's test cannot tell apart from it.",
        "",
        "| pruner, evaluations | seeds per configuration | saving | trials pruned (of the grid, mean) | answer in"
        " the best set (without a pruner) | regret (without) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in summary["replays"].items():
        kept = f"{r['answer_in_best_set']:.0%} ({r['answer_in_best_set_without']:.0%})"
        regret = f"{r['regret']:.3f} ({r['regret_without']:.3f})"
        label = name.split(", ")[0] + ", every " + str(r["every"]) + (" (calibrated)" if r["gated"] else " (ungated)")
        lines.append(f"| {label} | {r['seeds']} | {r['saving']:.2f}x | {r['pruned_mean']:.1f} | {kept} | {regret} |")
    one, one_basis = headline(summary, seeds=1)
    lines += [
        "",
        f"Headline (`pruning_saving` in search.json): **{saving:.2f}x**: {basis}. With one seed per configuration:"
        f" {one:.2f}x ({one_basis}).",
    ]
    if summary["gate"]:
        first = min(summary["gate"])
        ceilings = ", ".join(f"{c:.2f}x with {n} seed{'s' if n != '1' else ''} per configuration"
                             for n, c in summary["ceiling"].items())  # fmt: skip
        lines += [
            "",
            f"The ceiling behind this gate, if every configuration but the best stopped at step {first} (a pruner"
            f" that knew the answer; mean over the orders): {ceilings}. A trial stopped there has still paid"
            f" {first / summary['steps']:.0%} of its first seed's training and one proxy evaluation; with more seeds"
            " a stopped configuration also saves every later seed, which is why pruning pays more there.",
        ]
    sig = summary["signal"]
    effects = "; ".join(
        f"{f} {v['diff']:+.3f} [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]" for f, v in sig["effects"].items()
    )
    signal_line = [
        "",
        "## The same runs as signal.md reads them",
        "",
        "These runs' final scores, read as `signal.md` reads its own (runs from different sessions' CPUs differ"
        f" by about a seed sd: compare `signal.md`): ICC {sig['icc']:.2f}, Kendall tau between seeds"
        f" {' / '.join(f'{t:.2f}' for t in sig['tau_seeds'])}, tau against bench_signal's"
        f" {cal['reference_steps']}-step runs {sig['tau_reference']:.2f}; effects {effects}"
        " (TR on the reversal-pair classes).",
    ]
    ungated = {n: r for n, r in summary["replays"].items() if not r["gated"]}
    name, r = max(ungated.items(), key=lambda item: item[1]["saving"])
    refused = sorted(set(summary["intermediate_steps"]) - set(summary["gate"] or []))
    lines += [
        "",
        f"Without the gate the most is {name}: {r['saving']:.2f}x, its answer in the best set"
        f" {r['answer_in_best_set']:.0%} of the time, regret {r['regret']:.3f}; it prunes at steps the calibration"
        f" refuses ({', '.join(map(str, refused)) or 'none'}: tau below {cal['threshold']}). A study gets that only"
        " with `search.pruner.require_calibration: false`. Regret: the best configuration's mean over seeds minus"
        f" the answer's, averaged over the orders; with {len(summary['best_set'])} of {summary['configurations']}"
        " configurations in the best set, regret is the finer test.",
    ]
    lines += signal_line
    (RESULTS / "pruning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_search_key(summary: dict) -> None:
    """`pruning_saving` in search.json (the search issue's key), measured here at the default trial."""
    path = RESULTS / "search.json"
    search = json.loads(path.read_text()) if path.exists() else {}
    saving, basis = headline(summary)
    one, one_basis = headline(summary, seeds=1)
    search.update({
        "pruning_saving": saving,
        "pruning_basis": f"benchmarks/bench_pruning.py (pruning.md): {basis}",
        "pruning_saving_one_seed": one,
        "pruning_basis_one_seed": one_basis,
    })  # fmt: skip
    path.write_text(json.dumps(search, indent=2) + "\n")


if __name__ == "__main__":
    main()
