"""The suite's subprocesses use this environment's executables (`gdt-search`, `ray`, the Jupyter kernel's
python): the directory of the interpreter running pytest -- `.venv/bin` under the README's test command --
goes first on PATH, whatever else (a system or pyenv Python) the caller's PATH holds."""

import os
import sys
from pathlib import Path

_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
