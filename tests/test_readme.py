"""The README's promises: exactly two set-up commands, CI runs the test one verbatim, and every command of the
README runs as written (each with a tiny budget appended), so a README command that breaks fails the suite."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # the environment running the tests (.venv/bin under the README's command)


def _block(heading: str) -> list[str]:
    block = re.search(rf"## {heading}.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _two_commands() -> list[str]:
    return _block("Two commands")


def test_readme_has_exactly_two_commands_each_doing_the_setup():
    commands = _two_commands()
    assert len(commands) == 2
    assert all(c.startswith("bash .ci/install && .venv/bin/") for c in commands)  # the project's environment


def test_ci_runs_the_readme_test_command():
    test_command = _two_commands()[1]
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI runs the README's test command; a developer may not")
def test_ci_runs_the_suite_in_the_venv_made_by_debians_python():
    """CI puts /usr/bin first on PATH: `.ci/install` made .venv with Debian's python3 (PEP 668 and all)."""
    assert Path(sys.prefix) == ROOT / ".venv", sys.prefix
    config = dict(
        line.split(" = ", 1) for line in (ROOT / ".venv" / "pyvenv.cfg").read_text().splitlines() if " = " in line
    )
    assert config["home"] == "/usr/bin", config
    owner = subprocess.run(["dpkg", "-S", os.path.realpath("/usr/bin/python3")], capture_output=True, text=True)
    assert owner.returncode == 0 and owner.stdout.startswith("python3"), owner.stdout + owner.stderr


# -- every command, as written, on a tiny budget --------------------------------------------------------

TINY_RUN = [
    *("--n-trials", "1", "--workers", "1", "--set", "trial.steps=2", "--set", "trial.eval_every=1"),
    *("--set", "data.world.videos_per_class=3", "--set", "evaluation.clips_per_video=1"),
    *("--set", "evaluation.invariance_videos=4"),
]


def _tiny(argv: list[str], tmp: Path) -> list[str]:
    """The README's command with a tiny budget appended (argparse: a later option wins)."""
    command = argv[1] if len(argv) > 1 else ""
    if command in ("presets", "check"):
        return argv
    if command == "trial":
        extra = ["--steps", "2"]
        if "--finetune-epochs" in argv:
            extra += ["--finetune-epochs", "1"]
        return argv + extra
    if command == "run":
        return argv + TINY_RUN + ["--storage", f"sqlite:///{tmp / 'run.db'}", "--set", f"ray.storage_path={tmp}/ray"]
    if command == "calibrate":  # 3 configurations at 1 and 2 steps against a 4-step reference
        tiny = [*("--configurations", "3", "--budgets", "1", "--reference-steps", "4", "--eval-every", "1")]
        fields = ["trial.steps=2", "data.world.videos_per_class=3", "data.proxy_videos_per_class=3",
                  "evaluation.clips_per_video=1", "evaluation.invariance_videos=4"]  # fmt: skip
        sets = [x for field in fields for x in ("--set", field)]
        return argv + tiny + sets + ["--storage", f"sqlite:///{tmp / 'calibration.db'}"]
    if command in ("serve", "worker"):
        return argv
    raise AssertionError(f"README command {shlex.join(argv)}: no tiny budget known for it; add one to _tiny")


def _tour() -> list[tuple[str, str]]:
    """(command, comment) of the tour's lines, after the environment's activation line."""
    lines = _block("A tour")
    assert lines[0].split("#")[0].strip() == "source .venv/bin/activate", lines[0]
    out = []
    for line in lines[1:]:
        command, _, comment = line.partition("#")
        out.append((command.strip(), comment.strip()))
    return out


def _env(tmp: Path, cache: Path) -> dict:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONWARNINGS": "ignore"}
    env["GDT_SEARCH_DATABASE_URL"] = f"sqlite:///{tmp / 'service.db'}"
    env["GDT_SEARCH_CACHE"] = str(cache)  # one clip cache for every command: each world is rendered once
    env.pop("GDT_SEARCH_API_TOKEN", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _long_running(argv: list[str], env: dict, tmp: Path) -> None:
    """`serve` until it answers /healthz and /docs, `worker` until it says it started; then SIGTERM: exit 0."""
    port = _free_port()
    if argv[1] == "serve":
        argv = argv + ["--port", str(port)]
    log = tmp / f"{argv[1]}.log"
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            if argv[1] == "serve":
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
                    assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5).status_code == 200
                except httpx.TransportError:
                    pass
            else:
                ready = "started on" in log.read_text()
        assert ready, f"{shlex.join(argv)} never became ready:\n{log.read_text()}"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    assert code == 0, f"{shlex.join(argv)} exited {code} on SIGTERM:\n{log.read_text()}"


def _run(command: str, expect: int, tmp: Path, cache: Path) -> None:
    argv = _tiny(shlex.split(command), tmp)
    env = _env(tmp, cache)
    argv[0] = str(VENV_BIN / argv[0]) if (VENV_BIN / argv[0]).exists() else argv[0]
    if argv[1] in ("serve", "worker"):
        _long_running(argv, env, tmp)
        return
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == expect, f"{command} (run as {shlex.join(argv)}) exited {done.returncode}:\n{output}"
    assert "Traceback" not in output, output
    if argv[1] == "trial":  # the trained scores beside the untrained encoder's and chance
        assert "\n  untrained encoder  R@1 " in output and "\n  chance             R@1 0.062" in output, output


@pytest.fixture(scope="module")
def clip_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readme-cache")


@pytest.mark.slow
@pytest.mark.parametrize("command, comment", _tour(), ids=[c for c, _ in _tour()])
def test_readme_tour_command_runs_as_written(command, comment, tmp_path, clip_cache):
    _run(command, 2 if comment.startswith("rejected") else 0, tmp_path, clip_cache)


def test_readme_main_job_is_a_tour_command():
    """The first of the two commands, after its `bash .ci/install && `, is the tour's (run there, as written)."""
    command = _two_commands()[0].removeprefix("bash .ci/install && ")
    assert command.startswith(".venv/bin/gdt-search ")
    assert command.removeprefix(".venv/bin/") in [c for c, _ in _tour()]
