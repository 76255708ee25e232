"""The README's screenshots of a real study: its dashboard page and the page of its best trial.

    gdt-search serve --port 8000 &                      # a fresh database, then
    curl -X POST -H 'Content-Type: application/json' --data @table1.json http://127.0.0.1:8000/studies
    python docs/screenshots.py http://127.0.0.1:8000 1  # waits for study 1 to complete, writes docs/*.png

`table1.json` is `search.study_presets.preset_spec("table1")` as JSON (the main job), with
`"search": {..., "seeds": 3}` for the README's, so that every score has its interval over seeds. The pages are taken in
Debian's headless Chromium as the end-to-end tests launch it, 1120 px wide (`--width`), full page, and stored as
256-colour PNGs (the pages are flat colours: a few hundred KB instead of a few MB).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

DOCS = Path(__file__).resolve().parent


def save(page, path: Path) -> None:
    page.wait_for_timeout(500)  # the progress bar's CSS transition (0.3 s) ends first
    png = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    png.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {png.size[0]} x {png.size[1]}, {path.stat().st_size // 1024} KB")


def wait_completed(url: str, study: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (status := httpx.get(f"{url}/studies/{study}").json()["status"]) != "completed":
        if status in ("failed", "cancelled") or time.monotonic() > deadline:
            raise SystemExit(f"study {study} is {status}")
        time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("study", type=int)
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--width", type=int, default=1120, help="viewport width in CSS pixels")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds to wait for the study")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    wait_completed(url, args.study, args.timeout)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": args.width, "height": 900}).new_page()
        page.goto(f"{url}/dashboard/studies/{args.study}")
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)  # every panel drawn
        save(page, args.out / "study-table1.png")
        page.locator("#table1 tbody tr").first.click()  # Table 1 is sorted by score: the best configuration
        page.wait_for_url(f"**/dashboard/studies/{args.study}/trials/*")
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        save(page, args.out / "trial-page.png")
        browser.close()


if __name__ == "__main__":
    main()
