"""A real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) for the dashboard tests.

`watched(context)` opens a page that records console errors, uncaught exceptions, failed requests and
any request that would leave the machine (the dashboard must work offline: such requests are aborted
and reported). Chromium is required, never skipped: `.ci/install` installs it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM_ENV = "GDT_SEARCH_CHROMIUM"
ARTIFACTS_ENV = "GDT_SEARCH_ARTIFACTS"  # where screenshots are copied (CI keeps them), if set
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"Chromium is required for the dashboard tests: {path} not found (run `bash .ci/install`"
                    f" or set {CHROMIUM_ENV})", pytrace=False)  # fmt: skip
    return path


@dataclass
class Watched:
    page: object
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)
        assert not self.external, f"the page asked for resources off this machine: {self.external}"


def watched(context) -> Watched:
    page = context.new_page()
    seen = Watched(page)
    page.on("console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: seen.errors.append(f"request failed: {r.url} {r.failure}"))

    def local_only(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            return route.continue_()
        seen.external.append(route.request.url)
        return route.abort()

    page.route("**/*", local_only)
    return seen


def screenshot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000, "the screenshot is (nearly) blank"
    if os.environ.get(ARTIFACTS_ENV):
        target = Path(os.environ[ARTIFACTS_ENV])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path
