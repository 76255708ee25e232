"""The example notebook runs top to bottom against a live `gdt-search serve` (API + worker), so it cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import nbformat
from nbclient import NotebookClient

from tests.e2e.test_topology import REPO, _free_port, _wait_for

NOTEBOOK = REPO / "examples" / "notebook_sweep.ipynb"


def test_example_notebook_runs_a_sweep_against_a_live_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "GDT_SEARCH_DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "GDT_SEARCH_CACHE": str(tmp_path / "cache"),
        "GDT_SEARCH_HEARTBEAT_S": "1",
        "PYTHONPATH": str(REPO),
    }
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"

            def ready():
                try:
                    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait_for(ready, 60, "the server to be ready")
            figure = tmp_path / "sweep.png"
            os.environ.update(GDT_SEARCH_URL=url, GDT_NOTEBOOK_QUICK="1", GDT_NOTEBOOK_FIGURE=str(figure))
            notebook = nbformat.read(NOTEBOOK, as_version=4)
            NotebookClient(
                notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
            ).execute()
        finally:
            for key in ("GDT_SEARCH_URL", "GDT_NOTEBOOK_QUICK", "GDT_NOTEBOOK_FIGURE"):
                os.environ.pop(key, None)
            server.terminate()
            server.wait(timeout=60)
    assert figure.stat().st_size > 10_000  # the plots were drawn
    status = notebook.cells[4].outputs[-1]["data"]["text/plain"]
    assert "'completed'" in status, status
    table = notebook.cells[6].outputs[-1]["data"]["text/plain"]
    assert "DS=d" in table  # the results table lists configurations in the papers' notation
