"""The example notebook runs top to bottom against a live `gdt-search serve` (API + worker), so it cannot rot."""

from __future__ import annotations

import os
import sys

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.e2e.test_topology import REPO

NOTEBOOK = REPO / "examples" / "notebook_sweep.ipynb"


def test_the_notebook_kernel_is_this_environments_python():
    """Under the README's test command the kernel is .venv's python, which has gdt-search installed."""
    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert command[0] == sys.executable, command


def test_example_notebook_runs_a_sweep_against_a_live_server(served, tmp_path):
    figure = tmp_path / "sweep.png"
    os.environ.update(GDT_SEARCH_URL=served, GDT_NOTEBOOK_QUICK="1", GDT_NOTEBOOK_FIGURE=str(figure))
    try:
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
        ).execute()
    finally:
        for key in ("GDT_SEARCH_URL", "GDT_NOTEBOOK_QUICK", "GDT_NOTEBOOK_FIGURE"):
            os.environ.pop(key, None)
    assert figure.stat().st_size > 10_000  # the plots were drawn
    status = notebook.cells[4].outputs[-1]["data"]["text/plain"]
    assert "'completed'" in status, status
    table = notebook.cells[6].outputs[-1]["data"]["text/plain"]
    assert "DS=d" in table  # the results table lists configurations in the papers' notation
