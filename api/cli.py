"""The `gdt-search` command line."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from core.errors import GDTSearchError
from core.gdt.config import MAX_CLIP_BUDGET, GDTConfig, InvalidConfiguration
from core.gdt.presets import PRESETS, preset
from core.gdt.validity import validate
from core.trial import DEFAULT_STEPS


class UsageError(GDTSearchError):
    """Bad input on the command line: `main` prints the message and exits with status 2."""


def _parse_choices(items: list[str]) -> dict[str, str | tuple[str, int]]:
    """["TR=distinctive", "TS=invariant:3"] -> {"TR": "distinctive", "TS": ("invariant", 3)}."""
    from core.gdt.factors import CATALOGUE, Choice

    allowed = ", ".join(c.value for c in Choice)
    choices: dict[str, str | tuple[str, int]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"expected FACTOR=CHOICE[:K], got '{item}'")
        if name not in CATALOGUE:
            raise UsageError(f"'{item}': unknown factor '{name}'; known factors: {', '.join(CATALOGUE)}")
        if name in choices:
            raise UsageError(f"'{item}': factor {name} is given twice; give each factor once")
        choice, colon, k = value.partition(":")
        if choice not in {c.value for c in Choice}:
            raise UsageError(f"'{item}': unknown choice '{choice}' for {name}; choices: {allowed}")
        if colon and not (k.isascii() and k.isdigit() and int(k) >= 1):  # '²'.isdigit() is true, int('²') fails
            raise UsageError(f"'{item}': K_m must be a positive integer, got '{k}'")
        choices[name] = (choice, int(k)) if colon else choice
    return choices


def _structure_line(config: GDTConfig) -> str:
    structure = validate(config)
    positives = sorted(set(structure.positive.sum(dim=1).tolist()))
    negatives = sorted(set(structure.negative.sum(dim=1).tolist()))
    return (
        f"{config.describe():<58} K_i={config.k_videos:<4} K={config.batch_size:<5}"
        f" positives/anchor={positives} negatives/anchor={negatives}"
    )


def cmd_presets(args: argparse.Namespace) -> int:
    invalid = 0
    for name in PRESETS:
        try:
            print(f"{name:<14} {_structure_line(preset(name, args.clip_budget))}")
        except InvalidConfiguration as error:
            print(f"{name:<14} invalid with --clip-budget {args.clip_budget}: {error}")
            invalid += 1
    return 2 if invalid == len(PRESETS) else 0


def cmd_check(args: argparse.Namespace) -> int:
    choices = _parse_choices(args.choices)
    try:
        config = GDTConfig.build(choices, clip_budget=args.clip_budget)
        print(_structure_line(config))
    except (InvalidConfiguration, ValueError) as error:
        print(f"gdt-search check: invalid configuration: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_trial(args: argparse.Namespace) -> int:
    """One trial of a preset on the embedded default: pretraining, then the proxy evaluation."""
    from core.train.pretrain import TrainingFailed
    from core.trial import run_trial, small_world_trial, untrained_evaluation

    try:
        config = preset(args.preset, args.clip_budget)
    except InvalidConfiguration as error:
        print(f"gdt-search trial: preset {args.preset} with --clip-budget {args.clip_budget}: {error}", file=sys.stderr)
        return 2
    spec = small_world_trial(steps=args.steps, seed=args.seed)
    print(f"trial {args.preset}: {config.describe()}  K={config.batch_size}  steps={args.steps}")

    def progress(report):
        if report.step == 1 or report.step % max(1, args.steps // 10) == 0:
            print(f"  step {report.step:4d}  loss {report.loss:.4f}  {report.clips_per_second:7.0f} clips/s")

    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if args.finetune_epochs and checkpoint is None:
        checkpoint = Path(tempfile.mkdtemp(prefix="gdt-trial-")) / "model.pt"
    try:
        result = run_trial(config, spec, on_step=progress, checkpoint=checkpoint)
    except TrainingFailed as error:
        print(f"gdt-search trial: failed at step {error.step}: {error.reason}", file=sys.stderr)
        return 1
    s = result.evaluation.scores
    # every score beside its two references: the same encoders untrained (same seed) and chance
    untrained = untrained_evaluation(spec).scores
    print(f"proxy ({s.n_train} train / {s.n_test} test videos, {s.n_classes} classes, subset: {s.subset}):")
    print(f"  trained            {_metrics_text(vars(s))}  (1-NN: mean of {s.fewshot_repeats} support draws,"
          f" sd {s.fewshot_1nn_std:.3f})")  # fmt: skip
    print(f"  untrained encoder  {_metrics_text(vars(untrained))}")
    print(f"  chance             {_metrics_text(s.chance)}")
    print("measured invariance: " + "  ".join(f"{k} {v.score:+.3f}" for k, v in result.evaluation.invariance.items()))
    print(
        f"train {result.train.wall_seconds:.1f} s ({result.train.clips_per_second:.0f} clips/s on {result.device}),"
        f" eval {result.evaluation.seconds:.1f} s"
    )
    return 0


def _metrics_text(scores: dict) -> str:
    from core.evaluation.metrics import METRIC_LABELS

    return "  ".join(f"{label} {scores[metric]:.3f}" for metric, label in METRIC_LABELS.items())


def _parse_overrides(items: list[str]) -> dict:
    """["trial.steps=30", "search.sampler=gp"] -> {"trial.steps": 30, "search.sampler": "gp"} (YAML values)."""
    import yaml

    overrides = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise UsageError(f"--set: expected FIELD=VALUE, got '{item}'")
        try:
            overrides[field] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise UsageError(f"--set {field}: '{value}' is not a YAML value: {str(error).splitlines()[0]}") from None
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    """Run a study (a spec file or a preset) without the server: progress, then the results table."""
    from sqlalchemy.exc import DBAPIError

    from search.data_report import data_report
    from search.data_report import describe as describe_data
    from search.optuna_backend import StudyMismatch
    from search.recorder import ConsoleRecorder, JsonlRecorder, MultiRecorder
    from search.runner import report, run_study, summarize

    spec = _study_spec(args, {"backend": args.backend, "search.n_trials": args.n_trials,
                              "search.workers": args.workers})  # fmt: skip
    recorders = [] if args.quiet else [ConsoleRecorder(verbose=args.verbose)]
    if args.record:
        recorders.append(JsonlRecorder(_record_file(args.record)))
    try:
        study = run_study(spec, MultiRecorder(*recorders))
    except (StudyMismatch, ValueError) as error:
        print(f"gdt-search run: {error}", file=sys.stderr)
        return 2
    except (DBAPIError, OSError) as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"gdt-search run: database {spec.database_url}: {detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gdt-search run: interrupted; completed trials are in {spec.database_url} -- run the same command"
              " again to resume", file=sys.stderr)  # fmt: skip
        return 130
    print()
    print(report(summarize(study)))
    for line in describe_data(data_report(spec)):  # files the data left out or kept truncated
        print(line)
    return 0


def _record_file(path: str) -> Path:
    """`--record`'s file, whose folder must exist and be writable: found now, not after a trial."""
    record = Path(path)
    if record.is_dir() or not record.parent.is_dir():
        raise UsageError(f"--record {path}: {'a folder' if record.is_dir() else 'no such folder'}")
    try:
        with record.open("a"), open(f"{record}.lock", "a"):  # the file and its lock (search.recorder) can be made
            pass
    except OSError as error:
        raise UsageError(f"--record {path}: {error.strerror or error}") from None
    return record


def _study_spec(args: argparse.Namespace, fields: dict):
    """The study spec of `run` / `calibrate`: a file or a preset, `--set` overrides, then the command line's
    own fields; every problem (spec, storage, a space with no valid configuration) is a UsageError."""
    from search.spec import SpecError, load_spec
    from search.study_presets import load_preset

    if bool(args.study) == bool(args.preset):
        raise UsageError("give a study file or --preset NAME (not both)")
    overrides = _parse_overrides(args.set)
    for field, value in {"storage": args.storage, "name": args.name, **fields}.items():
        if value is not None:
            overrides[field] = value
    try:
        spec = load_preset(args.preset, overrides) if args.preset else load_spec(args.study, overrides)
    except SpecError as error:
        raise UsageError(str(error)) from None
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    problem = _storage_problem(spec.database_url)
    if problem:
        raise UsageError(problem)
    reason = _no_valid_configuration(spec)
    if reason:
        where = f"{args.study}: factors" if args.study else f"preset {args.preset}: factors"
        raise UsageError(f"{where}: {reason}")
    return spec


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Does the study's trial rank like a longer one? Train a sample at the budgets and a reference, report."""
    import json

    from search.calibration import THRESHOLD, adopt_calibration, calibrate, report, store_calibration

    spec = _study_spec(args, {"search.seeds": args.seeds})
    if args.adopt:  # a calibration saved before (--out), for a study of the same design: no training
        try:
            calibration = adopt_calibration(spec, json.loads(Path(args.adopt).read_text()))
        except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise UsageError(f"{args.adopt}: {error}") from None
        print(report(calibration))
        store_calibration(_calibrated_study(spec), calibration)
        print(f"adopted {args.adopt}: stored with study '{spec.name}' in {spec.database_url}")
        return 0
    _check_calibration_options(args)
    study = _calibrated_study(spec)  # before the training: a study of another design is refused at once
    budgets = sorted(set(args.budgets or [max(1, spec.trial.steps // 3)]) | {spec.trial.steps})
    print(f"calibrating {spec.name}: {args.configurations} configurations x {spec.search.seeds} seed(s) at"
          f" {budgets} steps and a reference of {args.reference_steps or 4 * spec.trial.steps}",
          flush=True)  # fmt: skip

    def heard(config: str, steps: int, value: float) -> None:
        print(f"  {steps:>6} steps  {config}: {value:.3f}", flush=True)

    try:
        calibration = calibrate(spec, args.configurations, args.budgets, args.reference_steps, args.eval_every,
                                args.threshold if args.threshold is not None else THRESHOLD,
                                on_trained=heard)  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    print()
    print(report(calibration))
    if args.out:  # first: the training's result is kept even if the database refuses it
        Path(args.out).write_text(json.dumps(calibration.as_dict(), indent=2) + "\n")
    store_calibration(study, calibration)
    print(f"stored with study '{spec.name}' in {spec.database_url}")
    return 0


def _check_calibration_options(args: argparse.Namespace) -> None:
    """The command line's calibration options, bounded as the spec's `search.calibration` section bounds them."""
    from pydantic import ValidationError

    from search.spec import CalibrationSection

    given = {"configurations": args.configurations, "budgets": args.budgets, "reference_steps": args.reference_steps,
             "threshold": args.threshold}  # fmt: skip
    try:
        CalibrationSection(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        problems = [f"--{str(error['loc'][0]).replace('_', '-')}: {error['msg']}" for error in error.errors()]
        raise UsageError("; ".join(problems)) from None
    if args.out and not Path(args.out).parent.is_dir():
        raise UsageError(f"--out {args.out}: no such folder")


def _calibrated_study(spec):
    """The Optuna study the calibration is stored with; a stored study of another trial design is a UsageError."""
    from search.optuna_backend import StudyMismatch, open_study

    try:
        return open_study(spec)
    except StudyMismatch as error:
        raise UsageError(str(error)) from None


def _no_valid_configuration(spec) -> str | None:
    """The API's check (422 there): why the spec's GDT space has no valid configuration, or None."""
    from api.settings import Limits
    from api.submit import no_valid_configuration

    limits = Limits()
    return no_valid_configuration(spec, limits.space_checked, limits.space_check_seconds)


def _storage_problem(url: str) -> str | None:
    """Why the study's database cannot be used (a bad URL, a server that does not answer), or None."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except ArgumentError as error:
        return f"storage: not a database URL: {error}"
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        return None  # a file (its folder is created); errors opening it are reported by `run`
    try:
        engine = sqlalchemy.create_engine(parsed, connect_args=_connect_timeout(parsed))
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        return f"storage {shown}: unsupported database URL ({error})"
    try:
        with engine.connect():
            return None
    except DBAPIError as error:
        first = str(error.orig or error).strip().splitlines()[0]
        return f"storage {shown}: cannot connect: {first}"
    finally:
        engine.dispose()


def _connect_timeout(url) -> dict:
    return {"connect_timeout": 10} if url.get_backend_name() in ("postgresql", "mysql") else {}


def _service_settings(args: argparse.Namespace):
    """Settings from the environment, with the command line's --database-url over GDT_SEARCH_DATABASE_URL."""
    from api.settings import Settings

    overrides = {"database_url": args.database_url} if args.database_url else {}
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    problem = _storage_problem(settings.database_url)
    if problem:
        raise UsageError(problem.replace("storage ", "database ", 1))
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    """The API (and, unless --no-worker, local workers) on one database; the embedded default is SQLite."""
    from api.db import normalize_url
    from api.serve import serve

    settings = _service_settings(args)
    print(f"gdt-search serve: http://{args.host}:{args.port} (docs at /docs) on {normalize_url(settings.database_url)}")
    return serve(settings, host=args.host, port=args.port, workers=0 if args.no_worker else args.workers)


def cmd_worker(args: argparse.Namespace) -> int:
    """Claim queued studies and run them, one at a time, until stopped (SIGTERM / Ctrl-C)."""
    from api.worker import Worker

    worker = Worker(
        _service_settings(args), worker_id=args.id, max_studies=args.max_studies, exit_with_parent=args.exit_with_parent
    )
    return worker.run()


def _int_in(low: int, high: int):
    """An argparse type: an integer in [low, high]; anything else is argparse's usage error (exit status 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} .. {high}, got {value}")
        return value

    return parse


CLIP_BUDGET = _int_in(2, MAX_CLIP_BUDGET)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdt-search", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    presets = commands.add_parser("presets", help="list the named configurations and their batch structure")
    presets.add_argument("--clip-budget", type=CLIP_BUDGET, default=64)
    presets.set_defaults(run=cmd_presets)

    check = commands.add_parser("check", help="validate a configuration, e.g. TR=distinctive TS=invariant:2")
    check.add_argument("choices", nargs="*", metavar="FACTOR=CHOICE[:K]")
    check.add_argument("--clip-budget", type=CLIP_BUDGET, default=64)
    check.set_defaults(run=cmd_check)

    trial = commands.add_parser("trial", help="pretrain one preset on the embedded default and score it")
    trial.add_argument("--preset", default="iccv-l", choices=list(PRESETS))
    trial.add_argument("--steps", type=_int_in(1, 10**8), default=DEFAULT_STEPS,
                       help="default: the embedded default trial's")  # fmt: skip
    trial.add_argument("--clip-budget", type=CLIP_BUDGET, default=64)
    trial.add_argument("--seed", type=_int_in(0, 2**32 - 1), default=0)
    trial.add_argument("--checkpoint", help="save the trained model here (resumes from it if it exists)")
    trial.add_argument("--finetune-epochs", type=_int_in(0, 10_000), default=0,
                       help="then fine-tune fully on the proxy split")  # fmt: skip
    trial.set_defaults(run=cmd_trial)

    run = commands.add_parser("run", help="run a study (a YAML/JSON spec or a preset) and print its results table")
    run.add_argument("study", nargs="?", metavar="STUDY.yaml")
    run.add_argument("--preset", help="a study preset instead of a file: table1, extended")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="override a spec field, e.g. --set trial.steps=30 --set search.sampler=gp")  # fmt: skip
    run.add_argument("--backend", choices=["optuna", "ray"])
    run.add_argument("--storage", metavar="URL", help="database URL (default: the spec's, or sqlite:///gdt-search.db)")
    run.add_argument("--name", help="study name (resumes the study of that name when the storage has it)")
    run.add_argument("--n-trials", type=int, help="trials to train (equivalent and infeasible proposals are free)")
    run.add_argument("--workers", type=int, help="Optuna worker processes on the study")
    run.add_argument("--record", metavar="FILE.jsonl", help="also append every trial event to this file")
    run.add_argument("--verbose", action="store_true", help="print trial starts and intermediate scores")
    run.add_argument("--quiet", action="store_true", help="no progress lines, only the final report")
    run.set_defaults(run=cmd_run)

    cal = commands.add_parser("calibrate", help="does the study's trial rank configurations like a longer one?")
    cal.add_argument("study", nargs="?", metavar="STUDY.yaml")
    cal.add_argument("--preset", help="a study preset instead of a file: table1, extended")
    cal.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a spec field")
    cal.add_argument("--storage", metavar="URL", help="database URL the result is stored in, with the study")
    cal.add_argument("--name", help="study name (default: the spec's)")
    cal.add_argument("--configurations", type=int, default=6, help="configurations sampled (default 6)")
    cal.add_argument("--budgets", type=int, nargs="+", metavar="STEPS",
                     help="budgets to compare (default: a third of trial.steps; trial.steps always)")
    cal.add_argument("--reference-steps", type=int, help="the reference budget (default 4 x trial.steps)")
    cal.add_argument("--eval-every", type=_int_in(1, 10**8),
                     help="intermediate evaluations (default trial.eval_every, else steps/3)")  # fmt: skip
    cal.add_argument("--seeds", type=int, help="training seeds per configuration (default search.seeds)")
    cal.add_argument("--threshold", type=float, help="Kendall tau at which rankings agree (default 0.6)")
    cal.add_argument("--out", metavar="FILE.json", help="also write the calibration here")
    cal.add_argument("--from", dest="adopt", metavar="FILE.json",
                     help="store a calibration saved by --out, for a study of the same trial design")  # fmt: skip
    cal.set_defaults(run=cmd_calibrate)

    serve = commands.add_parser("serve", help="the HTTP API (OpenAPI at /docs) plus one local worker")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=_int_in(0, 65_535), default=8000)
    serve.add_argument("--database-url", help="overrides $GDT_SEARCH_DATABASE_URL (default sqlite:///gdt-search.db)")
    serve.add_argument("--workers", type=_int_in(0, 64), default=1, help="local worker processes to start (default 1)")
    serve.add_argument("--no-worker", action="store_true", help="the API only; run `gdt-search worker` elsewhere")
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="claim queued studies from the database and run them")
    worker.add_argument("--database-url", help="overrides $GDT_SEARCH_DATABASE_URL")
    worker.add_argument("--id", help="worker id (default hostname:pid:random)")
    worker.add_argument("--max-studies", type=_int_in(1, 10**9), help="exit after running this many studies")
    worker.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    worker.set_defaults(run=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"gdt-search {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
