"""/docs in a real headless Chromium with nothing reachable off the machine: Swagger UI's assets come from
the installed package, and the UI renders every operation of the schema."""

from __future__ import annotations

from tests.api.conftest import LiveServer, settings_for
from tests.e2e.browser import screenshot, watched


def test_the_api_docs_render_offline(sqlite_url, context, tmp_path):
    with LiveServer(settings_for(sqlite_url, reaper_in_api=False)) as server:
        seen = watched(context)  # every request off 127.0.0.1 is aborted and reported
        page = seen.page
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
        assert page.text_content(".swagger-ui .info .title").startswith("gdt-search")
        operations = page.locator(".swagger-ui .opblock-summary-path").all_text_contents()
        assert "/studies" in [o.strip() for o in operations] and any("/trials" in o for o in operations)
        page.locator(".swagger-ui .opblock-summary", has_text="/healthz").first.click()  # the UI is live
        page.wait_for_selector(".swagger-ui .opblock.is-open", timeout=30_000)
        screenshot(page, tmp_path / "docs.png")
        seen.assert_clean()
