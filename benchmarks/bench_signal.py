"""Does a trial measure its configuration? Signal above seed noise on the `table1` preset's space.

Every feasible configuration of the `table1` space (one per equivalence class) is trained with the
preset's trial settings at its default budget (3 training seeds) and at 4x the budget (2 seeds), through
`core.trial.run_trial` with the study's own `TrialSpec` (common random numbers: one seed gives every
configuration the same initial weights and the same video stream). An untrained encoder (0 steps) is
the baseline. Reported, for the study's objective:

- `icc`: between-configuration share of the variance of one seed's score (one-way ICC(1));
- `tau_seeds_min`: the smallest Kendall tau between two seeds' rankings of the configurations;
- `tau_budgets`: tau between the default-budget mean ranking and the 4x mean ranking, and
  `tau_long_seeds`: tau between the two 4x seeds (is the reference itself stable?);
- `baseline_margin_sd`: (best configuration's mean - untrained mean) / pooled seed sd;
- `effects`: per factor, the paired difference of the objective between two choices over the pairs of
  configurations that differ only in that factor (same seed), with a 95 % t-interval over the pairs
  (each pair's difference averaged over seeds first: the pairs are the independent units). TR is scored
  on the world's reversal-pair classes (the proxy's linear probe restricted to them), where TR matters.
  `effects_long`: the same at 4x the budget (the long seeds). `largest_effect` names the largest of them.
- `effects_common` (and `effects_common_long`): every factor on the objective over all classes, TR too, as
  the papers rank their effects on one accuracy; `largest` with its margin over the runner-up.
- `main_job_seconds`: `gdt-search run --preset table1` end to end (a fresh SQLite database).

Runs are appended to `benchmarks/results/signal_runs.jsonl` and skipped when already there, so an
interrupted run resumes. Trials run in `--procs` spawned processes with one torch thread each.

    python benchmarks/bench_signal.py                          # the full benchmark (hours on 2 cores)
    python benchmarks/bench_signal.py --configs 12 --long-seeds 1 --skip-main-job   # a cheaper look
    python benchmarks/bench_signal.py --world-seed 7 --long-seeds 0 --skip-main-job # a held-out world
    python benchmarks/bench_signal.py --set data.proxy_videos_per_class=160 --tag proxy160 --long-seeds 0
                                                               # a variant of the default trial
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search.calibration import icc1, kendall_tau  # noqa: E402  (one definition of the rank statistics)

RESULTS = REPO / "benchmarks" / "results"
RUNS = RESULTS / "signal_runs.jsonl"
# Which two choices each effect compares, and on which score (TR: on the reversal-pair classes).
EFFECTS = {
    "MOD": ("invariant", "off", "objective"),
    "TR": ("distinctive", "invariant", "reversal_pairs_linear"),
    "TS": ("distinctive", "invariant", "objective"),
}


# The table1 preset counted every clip against its clip budget until 2026-12-02 (then: video_clips). The analyses
# of runs recorded under that rule (arithmetic_reseed, budget_ladder, heldout_worlds) pin it with this override.
CLIPS_RULE = {"clip_budget_counts": "clips"}


def _spec(world_seed: int, overrides: dict | None = None):
    from search.study_presets import load_preset

    return load_preset("table1", {"data.world.seed": world_seed, "search.threads": 1, **(overrides or {})})


def design(spec) -> str:
    """A fingerprint of everything a run depends on but its configuration, seed and steps: recorded runs
    of an older embedded default (other world, crops, optimiser, proxy) are never mixed with new ones.
    Not the objective: a run records every proxy metric, and the objective is computed from them
    (`objective_value`), so a change of objective re-reads the runs instead of training them again."""
    from dataclasses import replace

    trial = spec.trial_spec(seed=0)
    trial = replace(trial, train=replace(trial.train, steps=0, eval_every=None))
    # The loss's hyper-parameters (temperature) live outside the TrialSpec; named only when set, so that the
    # fingerprints of runs recorded before they counted stay the same.
    hyper = f" {sorted(spec.hyperparameters.items())}" if spec.hyperparameters else ""
    # Likewise what the clip budget counts: it gives the cross-modal configurations another K_i.
    counts = f" {spec.clip_budget_counts}" if spec.clip_budget_counts != "clips" else ""
    return hashlib.sha1(f"{trial!r} {spec.clip_budget}{counts}{hyper}".encode()).hexdigest()[:12]


def objective_value(run: dict, objective) -> float:
    """The study objective (search.spec.ObjectiveSection) of a recorded run, from its metrics by the search's own
    `score` (runs recorded before `scores` was kept hold R@1 and the linear probe only)."""
    from types import SimpleNamespace

    from search.objective import score

    scores = run.get("scores") or {k: run[k] for k in ("r_at_1", "linear_top1")}
    try:
        return score(SimpleNamespace(**scores), objective)
    except AttributeError as missing:
        raise KeyError(f"run {_key(run)} lacks a metric the objective {objective} needs: {missing}") from None


def recorded_runs(spec, path: Path = RUNS) -> list[dict]:
    """The runs recorded in `path` under `spec`'s design (so on its world), each with its objective."""
    fingerprint = design(spec)
    runs = (json.loads(line) for line in path.read_text().splitlines())
    return [{**r, "objective": objective_value(r, spec.objective)} for r in runs if r.get("design") == fingerprint]


def _candidates(spec):
    from search.space import SearchSpace, data_limits

    return SearchSpace(spec, data_limits(spec)).unique_feasible()


def describe(candidates) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The candidates' names, and per name its choice for every factor (what `paired_effect` matches on)."""
    configs = [c.describe() for c in candidates]
    return configs, {c.describe(): {n: s.choice.value for n, s in c.config.settings} for c in candidates}


def _run_one(job: dict) -> dict:
    """One trial in a fresh process: train, score on the proxy, and on the reversal-pair classes."""
    import torch

    torch.set_num_threads(1)
    from dataclasses import replace

    from core.data.world import REVERSAL_PAIRS
    from core.evaluation.metrics import METRICS
    from core.evaluation.proxy import evaluate
    from core.trial import build_model, open_data, run_trial
    from search.space import SearchSpace

    spec = _spec(job["world_seed"], job.get("overrides"))
    candidate = SearchSpace(spec).from_params(job["params"])
    trial_spec = spec.trial_spec(candidate.train_hyper(), seed=job["seed"])
    eval_every = job.get("eval_every")
    trial_spec = replace(trial_spec, train=replace(trial_spec.train, steps=job["steps"], eval_every=eval_every))
    started = time.perf_counter()
    intermediate = []

    def record(step, evaluation) -> bool:  # what a pruner would see; never stops the trial
        scores = {m: getattr(evaluation.scores, m) for m in METRICS}
        at = time.perf_counter() - started
        intermediate.append({"step": step, "scores": scores, "at_seconds": at, "eval_seconds": evaluation.seconds})
        return False

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        result = run_trial(candidate.config, trial_spec, checkpoint=checkpoint, on_intermediate=record)
        trained_seconds = time.perf_counter() - started  # data, pretraining, evaluations: what a study pays
        model = build_model(trial_spec, torch.device("cpu"))
        from core.train.pretrain import load_checkpoint

        load_checkpoint(checkpoint, model)
    _, data = open_data(trial_spec.data)
    classes = trial_spec.data.world.classes
    pair_classes = tuple(sorted(classes.index(n) for pair in REVERSAL_PAIRS for n in pair if n in classes))
    from core.data.clips import ClipSpec

    pairs = evaluate(model, data, replace(trial_spec.eval, classes=pair_classes, invariance_videos=2),
                     ClipSpec(trial_spec.data.clip_frames), trial_spec.augment, "cpu")  # fmt: skip
    scores = result.evaluation.scores
    return {
        **{k: job[k] for k in ("design", "world_seed", "config", "seed", "steps")},
        "scores": {metric: getattr(scores, metric) for metric in METRICS},
        "r_at_1": scores.r_at_1,
        "linear_top1": scores.linear_top1,
        "reversal_pairs_linear": pairs.scores.linear_top1,
        "invariance": {k: v.score for k, v in result.evaluation.invariance.items()},
        "n_test": scores.n_test,
        "seconds": time.perf_counter() - started,
        "threads": result.environment["torch_threads"],
        # The same trial scores differently on another CPU's kernels (a seed sd's worth): runs from different
        # machines are not common random numbers, so each run says where it ran.
        "cpu": cpu_model(),
        **({"eval_every": eval_every, "intermediate": intermediate, "trained_seconds": trained_seconds}
           if eval_every else {}),  # fmt: skip
    }


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _key(run: dict) -> tuple:
    return run.get("design"), run["world_seed"], run["config"], run["seed"], run["steps"], run.get("eval_every")


def run_jobs(jobs: list[dict], procs: int, objective, runs: Path = RUNS) -> list[dict]:
    """Every job's run, training those not recorded yet (in `runs`); each with its `objective` from its metrics."""
    done = {}
    if runs.exists():
        for line in runs.read_text().splitlines():
            row = json.loads(line)
            done[_key(row)] = row
    todo = [j for j in jobs if _key(j) not in done]
    print(f"{len(jobs) - len(todo)} runs already recorded, {len(todo)} to train", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pool, runs.open("a") as out:
        for i, row in enumerate(pool.map(_run_one, todo), 1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[_key(row)] = row
            print(f"[{i}/{len(todo)}] {row['config']} seed {row['seed']} steps {row['steps']}: "
                  f"{objective_value(row, objective):.3f} ({row['seconds']:.0f} s)", flush=True)  # fmt: skip
    return [{**done[_key(j)], "objective": objective_value(done[_key(j)], objective)} for j in jobs]


# -- statistics ------------------------------------------------------------------------------------


def table(rows: list[dict], configs: list[str], seeds: list[int], steps: int, key: str) -> np.ndarray:
    """(configs, seeds) matrix of `key`."""
    index = {(r["config"], r["seed"]): r[key] for r in rows if r["steps"] == steps}
    return np.array([[index[(c, s)] for s in seeds] for c in configs])


def pooled_sd(matrix: np.ndarray) -> float:
    return float(np.sqrt(((matrix - matrix.mean(1, keepdims=True)) ** 2).sum() / (matrix.size - len(matrix))))


def pair_differences(matrix: np.ndarray, configs: list[str], settings: dict, factor: str, a: str, b: str) -> np.ndarray:
    """score(factor=a) - score(factor=b) for each matched pair of configurations (all other factors equal),
    averaged over seeds (the same seed in both: common random numbers): one number per pair."""

    def others(c):
        return tuple(sorted((f, ch) for f, ch in settings[c].items() if f not in (factor, "DS")))

    by_key = {(others(c), settings[c].get(factor)): i for i, c in enumerate(configs)}
    diffs = [matrix[i] - matrix[by_key[(key, b)]] for (key, choice), i in by_key.items()
             if choice == a and (key, b) in by_key]  # fmt: skip
    return np.array(diffs).mean(axis=1) if diffs else np.array([])


def mean_interval(per_pair: np.ndarray) -> dict:
    """Mean of the per-pair differences with a 95 % t-interval over the pairs (the independent units)."""
    mean, sem = float(per_pair.mean()), float(per_pair.std(ddof=1) / math.sqrt(len(per_pair)))
    half = float(stats.t.ppf(0.975, len(per_pair) - 1) * sem)
    return {"diff": mean, "ci_low": mean - half, "ci_high": mean + half, "pairs": len(per_pair)}


def paired_effect(matrix: np.ndarray, configs: list[str], settings: dict, factor: str, a: str, b: str) -> dict:
    """Mean over matched pairs (other factors equal) of score(factor=a) - score(factor=b), with a 95 % CI."""
    per_pair = pair_differences(matrix, configs, settings, factor, a, b)
    if len(per_pair) < 2:  # e.g. a --configs subset that holds no two configurations differing only here
        return {"diff": math.nan, "ci_low": math.nan, "ci_high": math.nan, "pairs": len(per_pair),
                "compared": f"{a} - {b}: fewer than 2 matched pairs in these configurations"}  # fmt: skip
    return {**mean_interval(per_pair), "seeds": int(matrix.shape[1]), "compared": f"{a} - {b}"}


def planted_effects(rows: list[dict], configs: list[str], settings: dict, seeds: list[int], steps: int) -> dict:
    """`paired_effect` for every factor of EFFECTS, each on its own score, from these runs at `steps`."""
    return {
        factor: paired_effect(table(rows, configs, seeds, steps, key), configs, settings, factor, a, b)
        for factor, (a, b, key) in EFFECTS.items()
    }


def common_differences(rows: list[dict], configs: list[str], settings: dict, seeds: list[int], steps: int) -> dict:
    """Per factor of EFFECTS, its per-pair differences on the study objective over all classes, TR included.

    The papers rank their effects on one accuracy (HMDB-51 top-1); `planted_effects` scores TR on the
    reversal-pair classes only, where it is detectable but not on the others' scale."""
    matrix = table(rows, configs, seeds, steps, "objective")
    return {f: pair_differences(matrix, configs, settings, f, a, b) for f, (a, b, _) in EFFECTS.items()}


def ranked_effects(per_pair: dict[str, np.ndarray], seeds: int | None) -> dict:
    """Each factor's effect from its per-pair differences, which is the largest, and its margin over the runner-up:
    a Welch interval between the two sets of per-pair differences (approximate: the sets share configurations)."""
    if min(len(d) for d in per_pair.values()) < 2:  # a --configs subset without two matched pairs per factor
        return {}
    effects = {f: {**mean_interval(d), **({"seeds": seeds} if seeds else {}),
                   "compared": f"{EFFECTS[f][0]} - {EFFECTS[f][1]}"} for f, d in per_pair.items()}  # fmt: skip
    first, second = sorted(effects, key=lambda f: -effects[f]["diff"])[:2]
    margin = stats.ttest_ind(per_pair[first], per_pair[second], equal_var=False).confidence_interval(0.95)
    return {"effects": effects, "largest": first, "runner_up": second,
            "margin": effects[first]["diff"] - effects[second]["diff"],
            "margin_ci_low": float(margin.low), "margin_ci_high": float(margin.high)}  # fmt: skip


def pairwise_taus(matrix: np.ndarray) -> list[float]:
    """Kendall tau between every two columns (seeds) of a (configs, seeds) matrix."""
    return [kendall_tau(matrix[:, a], matrix[:, b]) for a, b in itertools.combinations(range(matrix.shape[1]), 2)]


def by_choice(rows: list[dict], configs: list[str], settings: dict, budgets: dict) -> dict:
    """Mean objective of the configurations holding each factor's choice, per budget (unpaired: a first look
    that needs no matched pairs, so it works on a --configs subset too)."""
    out: dict = {}
    for budget, (seeds, n_steps) in budgets.items():
        if not seeds:
            continue
        means = table(rows, configs, seeds, n_steps, "objective").mean(axis=1)
        for factor in EFFECTS:
            for choice in sorted({settings[c][factor] for c in configs}):
                chosen = [m for c, m in zip(configs, means, strict=True) if settings[c][factor] == choice]
                out.setdefault(factor, {}).setdefault(choice, {})[budget] = {"mean": float(np.mean(chosen)),
                                                                             "configs": len(chosen)}  # fmt: skip
    return out


def main_job_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "api.cli", "run", "--preset", "table1", "--storage", f"sqlite:///{tmp}/main.db"],
            check=True, cwd=tmp, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--configs", type=int, help="only the first N feasible configurations (a cheaper look)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--long-seeds", type=int, default=2)
    parser.add_argument("--long-factor", type=int, default=4)
    parser.add_argument("--long-steps", type=int, help="the long budget (default: --long-factor x the trial's steps)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--skip-main-job", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a variant of the preset's trial (a spec key, e.g. data.proxy_videos_per_class=160);"
                             " its results go to signal_<tag>.* beside the default's")  # fmt: skip
    parser.add_argument("--tag", help="the name of a variant's results (required with --set)")
    args = parser.parse_args()
    if args.set and not args.tag:
        parser.error("--set needs --tag: a variant's results must not overwrite the default's")
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}

    spec = _spec(args.world_seed, overrides)
    fingerprint = design(spec)
    candidates = _candidates(spec)
    if args.configs:  # spread over the space rather than its first corner
        candidates = [candidates[i] for i in np.linspace(0, len(candidates) - 1, args.configs).round().astype(int)]
    steps = spec.trial.steps
    long_steps = args.long_steps or steps * args.long_factor
    seeds, long_seeds = list(range(args.seeds)), list(range(args.long_seeds))
    configs, settings = describe(candidates)

    def job(candidate, seed, n_steps):
        return {"design": fingerprint, "world_seed": args.world_seed, "config": candidate.describe(),
                "params": candidate.params, "seed": seed, "steps": n_steps, "overrides": overrides}  # fmt: skip

    jobs = [job(candidates[0], s, 0) for s in seeds]  # the untrained encoder: the same for every config
    jobs += [job(c, s, steps) for s in seeds for c in candidates]
    jobs += [job(c, s, long_steps) for s in long_seeds for c in candidates]
    started = time.perf_counter()
    rows = run_jobs(jobs, args.procs, spec.objective)
    train_hours = (time.perf_counter() - started) / 3600

    short = table(rows, configs, seeds, steps, "objective")
    baseline = [r["objective"] for r in rows if r["steps"] == 0]
    summary: dict = {
        "world_seed": args.world_seed,
        "variant": {"tag": args.tag, "overrides": overrides} if args.tag else None,
        "configurations": len(configs),
        "seeds": len(seeds),
        "steps": steps,
        "objective": spec.objective.score,
        "icc": icc1(short),
        "tau_seeds": pairwise_taus(short),
        "seed_sd": pooled_sd(short),
        "best": {"config": configs[int(short.mean(1).argmax())], "mean": float(short.mean(1).max())},
        "untrained_mean": float(np.mean(baseline)),
        "chance": 1 / len(spec.data_spec().world.classes),
    }
    summary["tau_seeds_min"] = min(summary["tau_seeds"])
    summary["baseline_margin_sd"] = (summary["best"]["mean"] - summary["untrained_mean"]) / summary["seed_sd"]
    if long_seeds:
        long = table(rows, configs, long_seeds, long_steps, "objective")
        summary["long_steps"] = long_steps
        summary["long_seeds"] = len(long_seeds)
        summary["tau_budgets"] = kendall_tau(short.mean(1), long.mean(1))
        if len(long_seeds) > 1:
            summary["tau_long_seeds"] = kendall_tau(long[:, 0], long[:, 1])
            summary["icc_long"] = icc1(long)
    summary["effects"] = planted_effects(rows, configs, settings, seeds, steps)
    measured = [f for f, e in summary["effects"].items() if not math.isnan(e["diff"])]  # a subset may lack pairs
    summary["largest_effect"] = max(measured, key=lambda f: summary["effects"][f]["diff"], default=None)
    summary["effects_common"] = ranked_effects(common_differences(rows, configs, settings, seeds, steps), len(seeds))
    if long_seeds:  # the same effects at 4x the budget: the ordering the default budget should agree with
        summary["effects_long"] = planted_effects(rows, configs, settings, long_seeds, long_steps)
        common_long = common_differences(rows, configs, settings, long_seeds, long_steps)
        summary["effects_common_long"] = ranked_effects(common_long, len(long_seeds))
    budgets = {"default": (seeds, steps), "long": (long_seeds, long_steps)}
    summary["by_choice"] = by_choice(rows, configs, settings, budgets)
    summary["seconds_per_trial"] = float(np.mean([r["seconds"] for r in rows if r["steps"] == steps]))
    summary["this_run_train_hours"] = train_hours
    if not args.skip_main_job and not overrides:  # the main job is the preset as shipped, not a variant
        summary["main_job_seconds"] = main_job_seconds()
        summary["main_job_design"] = fingerprint
    elif (previous := previous_main_job(summary, fingerprint)) is not None:
        summary["main_job_seconds"], summary["main_job_design"] = previous, fingerprint  # measured by an earlier run
    summary["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "load": os.getloadavg()}
    write(summary, rows, configs, seeds, steps)


def result_name(summary: dict) -> str:
    name = f"signal_world{summary['world_seed']}" if summary["world_seed"] else "signal"
    return name + (f"_{summary['variant']['tag']}" if summary.get("variant") else "")


def previous_main_job(summary: dict, fingerprint: str) -> float | None:
    """The main job's seconds from this result file's last run, when that run measured the same design (a rerun
    with --skip-main-job that adds seeds keeps the measurement; one of another design drops it)."""
    path = RESULTS / f"{result_name(summary)}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    return previous.get("main_job_seconds") if previous.get("main_job_design") == fingerprint else None


def common_effect_lines(summary: dict) -> list[str]:
    """signal.md's table of every effect on the objective over all classes (`common_differences`, `ranked_effects`)."""
    budgets = [(summary["steps"], summary.get("effects_common")),
               (summary.get("long_steps"), summary.get("effects_common_long"))]  # fmt: skip
    budgets = [(n_steps, common) for n_steps, common in budgets if common]
    if not budgets:
        return []
    lines = ["", "Every effect on the objective over all classes (TR too; the papers rank their effects on one "
             "accuracy), and the largest one's margin over the runner-up (Welch 95 % CI, approximate):", "",
             f"| budget | {' | '.join(EFFECTS)} | largest | margin over the runner-up |",
             "|---" * (len(EFFECTS) + 3) + "|"]  # fmt: skip
    interval = "{diff:+.3f} [{ci_low:+.3f}, {ci_high:+.3f}]".format
    for n_steps, common in budgets:
        cells = " | ".join(interval(**v) for v in common["effects"].values())
        margin = interval(diff=common["margin"], ci_low=common["margin_ci_low"], ci_high=common["margin_ci_high"])
        lines.append(f"| {n_steps} | {cells} | {common['largest']} | {margin} over {common['runner_up']} |")
    return lines


def write(summary: dict, rows: list[dict], configs: list[str], seeds: list[int], steps: int) -> None:
    name = result_name(summary)
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    short = table(rows, configs, seeds, steps, "objective")
    e = summary["effects"]
    long_part = f", {summary['long_steps']} steps x {summary['long_seeds']} seeds" if "long_steps" in summary else ""
    lines = [
        f"# Signal: does a trial measure its configuration? (world seed {summary['world_seed']})",
        "",
        f"`table1` space, {summary['configurations']} feasible configurations, objective `{summary['objective']}`, "
        f"{summary['steps']} steps x {summary['seeds']} seeds{long_part}; {summary['seconds_per_trial']:.0f} s "
        f"per trial on one thread; machine: {summary['machine']}.",
        *([f"\nA variant of the shipped default: `{summary['variant']['overrides']}`."]
          if summary.get("variant") else []),  # fmt: skip
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| ICC (between-configuration share of one seed's variance) | {summary['icc']:.2f} | >= 0.8 |",
        f"| Kendall tau between seeds (min) | {summary['tau_seeds_min']:.2f} ({', '.join(f'{t:.2f}' for t in summary['tau_seeds'])}) | >= 0.6 |",  # noqa: E501
        *([f"| tau default budget vs {summary['long_steps']} steps | {summary['tau_budgets']:.2f} | >= 0.6 |"]
          if "tau_budgets" in summary else []),  # fmt: skip
        *([f"| tau between the long seeds | {summary['tau_long_seeds']:.2f} | >= 0.6 |"]
          if "tau_long_seeds" in summary else []),  # fmt: skip
        f"| best mean vs untrained encoder, in seed sds | {summary['baseline_margin_sd']:.1f} | >= 10 |",
        f"| seed sd / untrained mean / chance | {summary['seed_sd']:.3f} / {summary['untrained_mean']:.3f} / {summary['chance']:.3f} | |",  # noqa: E501
        "",
        "| effect | compared | budget | diff | 95 % CI | pairs x seeds |",
        "|---|---|---|---|---|---|",
        *(f"| {f} | {v.get('compared', '')} | {n_steps} | {v['diff']:+.3f} | [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}] "
          f"| {v['pairs']} x {v.get('seeds', '-')} |"
          for n_steps, effects in [(summary["steps"], e), (summary.get("long_steps"), summary.get("effects_long", {}))]
          for f, v in effects.items()),  # fmt: skip
        f"\nLargest effect as scored above: {summary['largest_effect']}.",
        *common_effect_lines(summary),
        "",
        f"Best: `{summary['best']['config']}` ({summary['best']['mean']:.3f}).",
        "",
        "| configuration | mean | per seed |",
        "|---|---|---|",
        *(f"| `{c}` | {m.mean():.3f} | {' / '.join(f'{v:.3f}' for v in m)} |"
          for c, m in sorted(zip(configs, short, strict=True), key=lambda x: -x[1].mean())),  # fmt: skip
    ]
    lines += ["", "Mean objective by choice (unpaired; configurations in brackets):", "",
              "| factor | choice | default budget | long budget |", "|---|---|---|---|"]  # fmt: skip
    for factor, choices in summary["by_choice"].items():
        for choice, budgets in choices.items():
            cells = [f"{budgets[b]['mean']:.3f} ({budgets[b]['configs']})" if b in budgets else "-"
                     for b in ("default", "long")]  # fmt: skip
            lines.append(f"| {factor} | {choice} | {cells[0]} | {cells[1]} |")
    if "main_job_seconds" in summary:
        lines += ["", f"`gdt-search run --preset table1` end to end: {summary['main_job_seconds']:.0f} s."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:20]))


if __name__ == "__main__":
    main()
