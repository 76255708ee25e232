"""Fixtures of the end-to-end tests: `gdt-search serve` as a process, a headless Chromium, a fresh browser
context, a SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.e2e.browser import CHROMIUM_ARGS, chromium_path
from tests.e2e.test_topology import REPO, _free_port, _wait_for


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def served(tmp_path):
    """`gdt-search serve` (the API and one worker) as a subprocess on a fresh SQLite database."""
    port = _free_port()
    env = {
        **os.environ,
        "GDT_SEARCH_DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "GDT_SEARCH_CACHE": str(tmp_path / "cache"),
        "GDT_SEARCH_HEARTBEAT_S": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:

            def ready():
                try:
                    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait_for(ready, 60, "the server to be ready")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)
