"""The dashboard in a real headless Chromium: a live study drawn as it runs, a 10,000-trial study paged
and sorted, user text shown as text, and the token prompt of a read-protected server."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from benchmarks.synthetic_study import populate
from tests.api.conftest import LiveServer, settings_for, tiny_spec
from tests.api.helpers import claim_for, record, small_calibration
from tests.e2e.browser import screenshot, watched
from tests.e2e.test_topology import _wait_for
from tests.search.test_effects import SAMPLES

PLOTS = ("plot-history", "plot-effects", "plot-paired-effects", "plot-importance", "plot-invariance", "plot-parallel",
         "plot-curves")  # fmt: skip


def summary(page, plot: str) -> dict:
    return json.loads(page.get_attribute(f"#{plot}", "data-summary") or "{}")


def test_a_running_study_is_drawn_live_and_every_panel_shows_its_data(served, context, tmp_path):
    spec = tiny_spec("live-dashboard", n_trials=5, steps=6)
    spec["trial"]["eval_every"] = 2  # intermediate values at steps 2 and 4
    spec["objective"] = {"score": "r_at_1", "cost": "device_seconds"}  # two objectives: a Pareto front
    spec["hyperparameters"] = {"lr": {"choices": [0.01, 0.1]}}
    spec["search"]["seeds"] = 2  # replicates: every score is a mean of two seeds with its interval
    study_id = httpx.post(f"{served}/studies", json=spec).json()["id"]

    seen = watched(context)
    page = seen.page
    page.goto(f"{served}/dashboard/studies/{study_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    page.evaluate("window.__sameDocument = true")
    progress = set()

    def finished():
        progress.add(page.text_content("#study-progress"))
        return page.text_content("#study-status") == "completed"

    _wait_for(finished, 300, "the study to complete on the page")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    assert len(progress) >= 3, progress  # the trial count moved while we watched

    trials = httpx.get(f"{served}/studies/{study_id}/trials", params={"limit": 100}).json()["items"]
    # The measurements: completed trials (a duplicate reused an original's result and is not counted again).
    complete = [t for t in trials if t["state"] == "complete" and t["score"] is not None]
    assert complete, [t["reason"] for t in trials]
    page.wait_for_function(
        "n => JSON.parse(document.getElementById('plot-history').dataset.summary || '{}').total === n",
        arg=len(complete), timeout=30_000,
    )  # fmt: skip
    for plot in PLOTS + ("plot-pareto",):
        assert page.get_attribute(f"#{plot}", "data-rendered") == "1", plot
    best = max(t["score"] for t in complete)
    assert f"{best:.3f}" in page.text_content("#study-best")
    assert summary(page, "plot-history")["best"] == pytest.approx(best)
    # One row per (configuration, searched hyper-parameters); duplicates sit in their original's row.
    rows = {(t["config"], t["params"].get("lr")) for t in trials if t["state"] != "duplicate"}
    assert page.locator("#table1 tbody tr").count() == len(rows)
    shown = page.eval_on_selector_all("#table1 tbody tr", "rows => rows.map(r => [r.dataset.config, r.dataset.hyper])")
    assert {(config, json.loads(hyper).get("lr")) for config, hyper in shown} == rows
    assert "lr" in page.eval_on_selector_all("#table1 thead th", "ths => ths.map(th => th.textContent)")
    seeds = page.eval_on_selector_all("#table1 tbody td.seeds", "tds => tds.map(td => td.textContent)")
    assert seeds.count("2") == len({(t["config"], t["params"].get("lr")) for t in complete})  # 2 seeds per mean
    assert all(t["n_seeds"] == 2 and t["ci_low"] is not None for t in complete)
    assert "best mean" in page.text_content("#study-best-set")
    # Chance level (the objective on features with no class information; R@1 here: 1 / proxy classes) and the
    # untrained encoder (search.baseline) on every score plot.
    chance = 1 / complete[0]["scores"]["n_classes"]
    baseline = httpx.get(f"{served}/studies/{study_id}").json()["baseline"]
    assert baseline["n"] == 2 and len(baseline["values"]) == 2  # one untrained score per training seed
    assert summary(page, "plot-history")["chance"] == pytest.approx(chance)
    assert summary(page, "plot-history")["baseline"] == pytest.approx(baseline["mean"])
    for plot in ("plot-history", "plot-effects", "plot-curves", "plot-pareto"):
        y = page.eval_on_selector_all(f"#{plot} line.reference", "lines => lines.map(l => Number(l.dataset.value))")
        assert y == [pytest.approx(chance), pytest.approx(baseline["mean"])], plot
    assert f"untrained encoder {baseline['mean']:.3f}" in page.text_content("#study-best-set")
    # The paired effects beside the boxes: search.effects' numbers (GET /studies/{id}/effects), as error bars.
    assert page.get_attribute("#plot-paired-effects", "data-rendered") == "1"
    paired = httpx.get(f"{served}/studies/{study_id}/effects").json()["effects"]
    drawn = summary(page, "plot-paired-effects")
    computable = {f"{e['factor']} {e['choice']}-{e['reference']}": e for e in paired if e["mean"] is not None}
    if computable:
        assert {k: v["mean"] for k, v in drawn.items()} == pytest.approx({k: e["mean"] for k, e in computable.items()})
        assert page.locator("#plot-paired-effects g.effect line.error-bar").count() == len(computable)
    else:
        assert drawn == {"empty": True}
    untested = [e["text"] for e in paired if e["mean"] is None]
    assert page.text_content("#paired-effects-note") == "; ".join(untested)
    effects = summary(page, "plot-effects")
    tried = {t["config"].split("TR=")[1][0] for t in complete}  # i, d or o(ff)
    assert sum(effects["TR"].values()) == len(complete) and {c[0] for c in effects["TR"]} == tried
    assert summary(page, "plot-curves")["trials"] >= 1 and summary(page, "plot-curves")["steps"] == 2
    # every completed curve drawn ends at its trial's final score, at the budget's step (6)
    finals = page.eval_on_selector_all("#plot-curves g.curve.complete circle.final", "cs => cs.length")
    assert finals == summary(page, "plot-curves")["finals"] == page.locator("#plot-curves g.curve.complete").count() > 0
    assert summary(page, "plot-pareto")["total"] == len(complete) and summary(page, "plot-pareto")["front"] >= 1
    assert summary(page, "plot-parallel")["axes"][-1] == "score"
    # Parameter importance needs a searched parameter that varied; it is drawn or says why not.
    assert summary(page, "plot-importance") or page.text_content("#importance-note")
    seen.assert_clean()
    screenshot(page, tmp_path / "dashboard-study.png")

    # A Table 1 row opens its trial's page (issue 13, item 8): configuration, seeds, scores, invariance, curve
    # with the final score and the references, and the replay record, as GET /studies/{id}/trials/{n} has them.
    page.locator("#table1 tbody tr").first.click()
    page.wait_for_url(f"**/dashboard/studies/{study_id}/trials/*")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    number = int(page.url.rsplit("/", 1)[1])
    trial = httpx.get(f"{served}/studies/{study_id}/trials/{number}").json()
    assert page.text_content("#trial-title") == f"#{number} {trial['config']}"
    assert page.text_content("#trial-state") == trial["state"]
    seeds = page.eval_on_selector_all("#trial-seeds tbody tr", "rows => rows.map(r => r.cells[1].textContent)")
    assert seeds == [f"{s['values'][0]:.3f}" for s in trial["replay"]["seeds"]] and len(seeds) == 2
    configuration = page.text_content("#trial-configuration")
    assert all(f"{s['choice']} (K = {s['k']})" in configuration for s in trial["replay"]["settings"].values())
    shown = dict(page.eval_on_selector_all("#trial-configuration tr", "rows => rows.map(r => [r.cells[0].textContent,"
                                           " r.cells[1].textContent])"))  # fmt: skip
    optimizer = trial["replay"]["trial_spec"]["train"]["optimizer"]
    assert shown["optimizer"] == optimizer and ("momentum" in shown) == (optimizer == "sgd")  # only SGD reads it
    assert f"{trial['scores']['r_at_1']:.3f}" in page.text_content("#trial-scores")
    invariance = page.eval_on_selector_all("#trial-invariance tbody th", "ths => ths.map(th => th.textContent)")
    assert set(invariance) == set(trial["invariance"])
    curve = summary(page, "plot-trial-curve")
    assert curve["intermediate"] == len(trial["intermediate"]) and curve["final"] == pytest.approx(trial["score"])
    assert (curve["chance"], curve["baseline"]) == (pytest.approx(chance), pytest.approx(baseline["mean"]))
    assert json.loads(page.text_content("#trial-replay")) == trial["replay"]
    seen.assert_clean()
    screenshot(page, tmp_path / "dashboard-trial.png")

    listing = watched(context)
    listing.page.goto(f"{served}/dashboard")
    listing.page.wait_for_selector("body[data-ready='1']")
    row = listing.page.locator(f"tr[data-study-id='{study_id}']")
    assert "completed" in row.text_content() and f"{best:.3f}" in row.text_content()
    row.locator("a").click()
    listing.page.wait_for_url(f"**/dashboard/studies/{study_id}")
    listing.assert_clean()


def test_the_effects_panel_draws_each_paired_effect_with_its_interval(sqlite_url, context, tmp_path):
    """A recorded study with matched pairs (tests/search/test_effects.SAMPLES, 2 seeds each): every computable
    effect is drawn as a point with its 95 % interval as an error bar, and the rest is named in the note."""
    with LiveServer(settings_for(sqlite_url, reaper_in_api=False)) as server, server.client() as client:
        study_id = client.post("/studies", json=tiny_spec("effects-panel", n_trials=20)).json()["id"]
        _, recorder = claim_for(sqlite_url)
        pruning = "pruner 'median' acts at steps 1 (calibrated)"
        recorder.calibration_measured("effects-panel", small_calibration(), pruning)
        for number, config, settings, params, values in SAMPLES:
            record(
                recorder, number, "complete", params=params, config=config, settings=settings, seed_values=values,
                n_classes=4,
            )  # fmt: skip
        effects = client.get(f"/studies/{study_id}/effects").json()["effects"]
        seen = watched(context)
        page = seen.page
        page.goto(f"{server.url}/dashboard/studies/{study_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        drawn = summary(page, "plot-paired-effects")
        computable = {f"{e['factor']} {e['choice']}-{e['reference']}": e for e in effects if e["mean"] is not None}
        assert computable and set(drawn) == set(computable)
        for key, e in computable.items():
            assert drawn[key] == pytest.approx(
                {"mean": e["mean"], "low": e["low"], "high": e["high"], "pairs": e["pairs"]}
            )
        bars = page.eval_on_selector_all("#plot-paired-effects g.effect", "gs => gs.map(g => [Number(g.dataset.low),"
                                         " Number(g.dataset.mean), Number(g.dataset.high)])")  # fmt: skip
        expected = [(e["low"], e["mean"], e["high"]) for e in computable.values()]
        assert [v for bar in bars for v in bar] == pytest.approx([v for bar in expected for v in bar])
        assert page.locator("#plot-paired-effects g.effect line.error-bar").count() == len(computable)
        assert page.text_content("#paired-effects-note") == "; ".join(e["text"] for e in effects if e["mean"] is None)
        assert summary(page, "plot-history")["chance"] == pytest.approx(0.25)
        assert page.locator("#table1 tbody tr.best-set").count() == 1
        assert "best mean 0.900 [" in page.text_content("#study-best-set")
        # the calibration (search.calibration) and where the pruner acts, as recorded
        assert page.text_content("#study-calibration-summary") == (
            "Calibration: 2 steps rank like the 8-step reference (τ ≥ 0.6, p < 0.05)"
        )
        lines = page.eval_on_selector_all("#study-calibration-lines li", "items => items.map(i => i.textContent)")
        assert lines[1].startswith("1 steps: τ −0.40") and lines[2].startswith("2 steps: τ +1.00")
        # five configurations in one order: no interval (every resample agrees); p = 1/5! says how rare that is
        assert lines[3] == "intermediate at step 1: τ +1.00 (no interval), p 0.008 vs the final scores"
        assert lines[-1] == "pruner 'median' acts at steps 1 (calibrated)"
        # A panel with nothing to draw says why, inside the panel: the longest message (no intermediate values
        # were recorded here) wraps rather than running off both sides.
        messages = page.eval_on_selector_all(".plot", """divs => divs
          .filter(d => d.querySelector("p.message")).map(d => {
            const panel = d.getBoundingClientRect(), range = document.createRange();
            range.selectNodeContents(d.querySelector("p.message"));
            const text = range.getBoundingClientRect();
            return [d.id, text.left >= panel.left && text.right <= panel.right && text.bottom <= panel.bottom];
        })""")  # fmt: skip
        assert ["plot-curves", True] in messages and all(inside for _, inside in messages), messages
        assert "only when trial.eval_every is set" in page.text_content("#plot-curves")
        seen.assert_clean()
        screenshot(page, tmp_path / "dashboard-effects.png")


@pytest.fixture(scope="module")
def big_study(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'service.db'}"
    return url, populate(url, 10_000)


def test_a_10000_trial_study_renders_pages_and_sorts(big_study, context, tmp_path):
    url, study_id = big_study
    with LiveServer(settings_for(url, reaper_in_api=False)) as server:
        seen = watched(context)
        page = seen.page
        started = time.monotonic()
        page.goto(f"{server.url}/dashboard/studies/{study_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        assert time.monotonic() - started < 120
        assert "400 of" in page.text_content("#parallel-note")
        assert summary(page, "plot-history")["binned"] and summary(page, "plot-parallel")["shown"] == 400
        assert "sample of 1000" in page.text_content("#importance-note")
        first_ranks = page.eval_on_selector_all("#table1 tbody tr td:first-child", "c => c.map(x => x.textContent)")
        assert first_ranks[0] == "1" and len(first_ranks) == 50

        page.click("#table1-pager button:has-text('next')")
        page.wait_for_function("document.querySelector('#table1 tbody tr td').textContent === '51'")
        assert "51–100 of" in page.text_content("#table1-pager")
        page.click("#table1 th[data-sort='r_at_1']")
        page.wait_for_selector("#table1 th.active[data-sort='r_at_1']")
        r_at_1 = "rows => rows.map(r => r.children[r.children.length - 5].textContent)"
        cells = page.eval_on_selector_all("#table1 tbody tr", r_at_1)
        values = [float(c) for c in cells if c != "–"]
        assert values == sorted(values, reverse=True) and len(values) > 10
        seen.assert_clean()
        screenshot(page, tmp_path / "dashboard-10k.png")


def test_user_text_is_shown_as_text(sqlite_url, context):
    notes = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & "quotes"'
    with LiveServer(settings_for(sqlite_url, reaper_in_api=False)) as server, server.client() as client:
        study_id = client.post("/studies", json={**tiny_spec("escaping"), "notes": notes}).json()["id"]
        seen = watched(context)
        page = seen.page
        page.goto(f"{server.url}/dashboard/studies/{study_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        assert page.text_content("#study-notes") == notes
        assert page.locator("#study-notes img, #study-notes script").count() == 0
        assert page.evaluate("window.__xss") is None
        seen.assert_clean()


def test_a_read_protected_server_asks_for_the_token(sqlite_url, context):
    settings = settings_for(sqlite_url, api_token="s3cret", protect_reads=True, reaper_in_api=False)
    with LiveServer(settings) as server, server.client("s3cret") as client:
        client.post("/studies", json=tiny_spec("protected"))
        seen = watched(context)
        page = seen.page
        page.goto(f"{server.url}/dashboard")
        page.fill("#token-input", "s3cret")
        page.click("#auth button")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert "protected" in page.text_content("#studies tbody")
        # The 401 that prompted the form is the only error the browser logged.
        assert all("401" in e for e in seen.errors) and len(seen.errors) <= 1, seen.errors
        assert not seen.external
