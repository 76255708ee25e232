"""Start-up: how long a fresh Python process takes to import each of the project's entry points.

Every CLI command, the worker's parent process, each study process and each spawned trial process pays this
once. The processes that only validate, queue or report studies import no training-only library
(torchvision, scikit-learn, SciPy: tests/test_startup.py); a study process still imports them all.

Each row is the median over `--repeats` fresh interpreters of the wall time of `python -c "import X"`
(one after another, so that they do not compete for the cores), next to `import torch` measured the same
way in the same run: the floor under every entry point, since each of them needs torch. With `--compare REV`
the same rows are measured, interleaved, in a checkout of revision REV (a temporary git worktree): the
change between the two as ratios from one run.

    python benchmarks/bench_startup.py                       # ~2 min on 2 cores
    python benchmarks/bench_startup.py --compare 7b05ce6     # against the code before the lazy imports
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

ROWS = {
    "import torch": "import torch",
    "gdt-search CLI (api.cli)": "import api.cli",
    "worker parent (api.worker)": "import api.worker",
    "API app (api.app)": "import api.app",
    "study process (api.study_process)": "import api.study_process",
    "a trial, everything it uses": (
        "import core.trial, sklearn.linear_model, scipy.stats;"
        " from core.models.encoders import build_encoders; build_encoders('tiny_video', 'tiny_audio')"
    ),
}


def seconds(code: str, root: Path = REPO) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    return time.perf_counter() - started


def measure(roots: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """{root name: {row: median seconds}}, the roots taking turns within each repeat."""
    samples = {name: {row: [] for row in ROWS} for name in roots}
    for _ in range(repeats):
        for row, code in ROWS.items():
            for name, root in roots.items():
                samples[name][row].append(seconds(code, root))
    return {name: {row: statistics.median(v) for row, v in rows.items()} for name, rows in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare", metavar="REV", help="also measure a checkout of this git revision")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    seconds("import torch")  # warm the file cache
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"now": REPO}
        if args.compare:
            roots[args.compare] = Path(tmp) / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(roots[args.compare]), args.compare], cwd=REPO,
                           check=True, capture_output=True)  # fmt: skip
        try:
            measured = measure(roots, args.repeats)
        finally:
            if args.compare:
                subprocess.run(["git", "worktree", "remove", "--force", str(roots[args.compare])], cwd=REPO, check=True)
    now = measured["now"]
    torch_s = now["import torch"]
    summary = {
        "seconds": now,
        "over_torch": {name: s / torch_s for name, s in now.items()},
        "cli_over_trial": now["gdt-search CLI (api.cli)"] / now["a trial, everything it uses"],
        "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load": [load_before, os.getloadavg()]},
    }
    if args.compare:
        before = measured[args.compare]
        summary["compared_with"] = {"revision": args.compare, "seconds": before,
                                    "now_over_before": {row: now[row] / before[row] for row in ROWS}}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Start-up: importing each entry point in a fresh process",
        "",
        f"Median of {args.repeats} fresh interpreters each; {platform.platform()}, {os.cpu_count()} CPUs,"
        f" load average {load_before[0]:.2f} before. Made by `benchmarks/bench_startup.py`.",
        "",
    ]
    if args.compare:
        before = measured[args.compare]
        lines += [
            f"| process | seconds | / import torch | seconds at {args.compare} | now / then |",
            "|---|---|---|---|---|",
            *[f"| {row} | {now[row]:.2f} | {now[row] / torch_s:.2f} | {before[row]:.2f} | "
              f"{now[row] / before[row]:.2f} |" for row in ROWS],  # fmt: skip
        ]
    else:
        lines += [
            "| process | seconds | / import torch |",
            "|---|---|---|",
            *[f"| {row} | {now[row]:.2f} | {now[row] / torch_s:.2f} |" for row in ROWS],
        ]
    (args.out / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
