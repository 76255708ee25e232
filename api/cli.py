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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
