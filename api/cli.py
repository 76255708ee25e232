"""The `gdt-search` command line."""

from __future__ import annotations

import argparse
import sys

from core.config import GDTConfig, InvalidConfiguration
from core.presets import PRESETS, preset
from core.validity import validate


def _parse_choices(items: list[str]) -> dict[str, str | tuple[str, int]]:
    """["TR=distinctive", "TS=invariant:3"] -> {"TR": "distinctive", "TS": ("invariant", 3)}."""
    choices: dict[str, str | tuple[str, int]] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"gdt-search: expected FACTOR=CHOICE[:K], got '{item}'")
        choice, _, k = value.partition(":")
        choices[name] = (choice, int(k)) if k else choice
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
    for name in PRESETS:
        print(f"{name:<14} {_structure_line(preset(name, args.clip_budget))}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = GDTConfig.build(_parse_choices(args.choices), clip_budget=args.clip_budget)
        print(_structure_line(config))
    except (InvalidConfiguration, ValueError) as error:
        print(f"gdt-search check: invalid configuration: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_trial(args: argparse.Namespace) -> int:
    """One trial of a preset on the embedded default: pretraining, then the proxy evaluation."""
    from core.pretrain import TrainingFailed
    from core.trial import run_trial, small_world_trial

    config = preset(args.preset, args.clip_budget)
    spec = small_world_trial(steps=args.steps, seed=args.seed)
    print(f"trial {args.preset}: {config.describe()}  K={config.batch_size}  steps={args.steps}")

    def progress(report):
        if report.step == 1 or report.step % max(1, args.steps // 10) == 0:
            print(f"  step {report.step:4d}  loss {report.loss:.4f}  {report.clips_per_second:7.0f} clips/s")

    try:
        result = run_trial(config, spec, on_step=progress)
    except TrainingFailed as error:
        print(f"gdt-search trial: failed at step {error.step}: {error.reason}", file=sys.stderr)
        return 1
    s = result.evaluation.scores
    print(f"proxy ({s.n_train} train / {s.n_test} test videos, {s.n_classes} classes, subset: {s.subset}):")
    print(
        f"  R@1 {s.r_at_1:.3f}  R@5 {s.r_at_5:.3f}  R@20 {s.r_at_20:.3f}  linear {s.linear_top1:.3f}"
        f"  1-NN {s.fewshot_1nn:.3f} ± {s.fewshot_1nn_std:.3f}"
    )
    print("measured invariance: " + "  ".join(f"{k} {v.score:+.3f}" for k, v in result.evaluation.invariance.items()))
    print(
        f"train {result.train.wall_seconds:.1f} s ({result.train.clips_per_second:.0f} clips/s on {result.device}),"
        f" eval {result.evaluation.seconds:.1f} s"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdt-search", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    presets = commands.add_parser("presets", help="list the named configurations and their batch structure")
    presets.add_argument("--clip-budget", type=int, default=64)
    presets.set_defaults(run=cmd_presets)

    check = commands.add_parser("check", help="validate a configuration, e.g. TR=distinctive TS=invariant:2")
    check.add_argument("choices", nargs="*", metavar="FACTOR=CHOICE[:K]")
    check.add_argument("--clip-budget", type=int, default=64)
    check.set_defaults(run=cmd_check)

    trial = commands.add_parser("trial", help="pretrain one preset on the embedded default and score it")
    trial.add_argument("--preset", default="iccv-l", choices=list(PRESETS))
    trial.add_argument("--steps", type=int, default=60)
    trial.add_argument("--clip-budget", type=int, default=64)
    trial.add_argument("--seed", type=int, default=0)
    trial.set_defaults(run=cmd_trial)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
