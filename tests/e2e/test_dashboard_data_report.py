"""The study page shows what the study's data left out or kept truncated, file names as text."""

from __future__ import annotations

from api import queue
from api.db import Database
from api.study_process import record_data_report
from tests.api.conftest import LiveServer, settings_for, tiny_spec
from tests.e2e.browser import watched

HOSTILE = '<img src=x onerror="window.__xss=1">.mp4'


def test_the_study_page_lists_skipped_and_truncated_media(sqlite_url, context):
    report = {
        "pretrain": {
            "videos": 12,
            "skipped": [
                {"path": HOSTILE, "reason": "corrupt or unreadable"},
                {"path": "gone.mp4", "reason": "broken symbolic link (its target deleted.mp4 does not exist)"},
            ],
            "truncated": [{"path": "cut.avi", "reason": "truncated: 0.75 s of the 2.00 s its header declares"}],
        },
        "proxy": {"videos": 12, "skipped": [], "truncated": []},
    }
    with LiveServer(settings_for(sqlite_url, reaper_in_api=False)) as server, server.client() as client:
        study_id = client.post("/studies", json=tiny_spec("media")).json()["id"]
        db = Database(sqlite_url)
        queue.register_worker(db, "w", "host", 1)
        assert queue.claim(db, "w").id == study_id
        record_data_report(db, study_id, "w", report)  # what the study process records before it trains
        db.dispose()
        seen = watched(context)
        page = seen.page
        page.goto(f"{server.url}/dashboard/studies/{study_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        assert page.is_visible("#study-data")
        assert page.text_content("#study-data-summary") == "Data: pretrain: 12 videos used, 2 skipped, 1 truncated"
        page.click("#study-data-summary")
        items = page.eval_on_selector_all("#study-data-files li", "xs => xs.map(x => x.textContent)")
        assert items == [
            f"pretrain · {HOSTILE}: corrupt or unreadable",
            "pretrain · gone.mp4: broken symbolic link (its target deleted.mp4 does not exist)",
            "pretrain · cut.avi: truncated: 0.75 s of the 2.00 s its header declares",
        ]
        assert page.locator("#study-data img").count() == 0 and page.evaluate("window.__xss") is None
        seen.assert_clean()
