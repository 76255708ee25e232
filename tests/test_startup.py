"""Processes that only validate, queue or report studies start without the heavy libraries that training needs.

torchvision (which loads torch's compiler stack), scikit-learn and SciPy together take longer to import than
torch itself; the CLI's every command, the worker's parent process and each spawned world renderer would pay
for them on every start. They are imported where an encoder is built, a probe is fitted or an interval is
computed. A module-level import of one of them in the modules below fails this test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torchvision", "sklearn", "scipy")


ENTRY_POINTS = ("core.data.world", "core.trial", "search.spec", "api.worker", "api.cli")

# One process imports the entry points in turn and names, for each, the heavy libraries loaded so far.
PROBE = f"""
import importlib, sys
for module in {ENTRY_POINTS!r}:
    importlib.import_module(module)
    print(module, *[m for m in {HEAVY!r} if m in sys.modules])
import core.models.encoders
core.models.encoders.build_encoders("tiny_video", "tiny_audio", feature_dim=8, width=4)
print("build_encoders", *[m for m in {HEAVY!r} if m in sys.modules])
"""


def test_importing_the_entry_points_loads_no_training_only_library():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
    assert {module: loaded[module] for module in ENTRY_POINTS} == {module: [] for module in ENTRY_POINTS}
    assert loaded["build_encoders"] == ["torchvision"]  # and building an encoder still finds it
