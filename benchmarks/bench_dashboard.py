"""Dashboard time to first render and to interactive, measured in a real headless Chromium.

A study of 1,000 and of 10,000 trials (benchmarks/synthetic_study.py: real configurations, synthetic
scores) is written to SQLite and to PostgreSQL; the API runs under uvicorn in a subprocess and Chromium
(Debian's, driven by Playwright) opens the study page in a fresh browser context (empty cache) each
time. Read from the page's Performance API:

- first contentful paint (the browser's),
- first render: the summary and the Table 1 view are on screen (`dashboard-first-render`),
- interactive: every panel is drawn (`dashboard-interactive`, marked once the summary, Table 1 and all eight
  plots -- history, per-factor boxes, paired effects, importance, invariance, parallel coordinates, learning
  curves, Pareto front -- have been drawn; no panel is lazy, so nothing waits for scrolling),
- bytes of aggregates the page downloaded, and the slowest panel draw.

`all_panels_s_10k` (the figure the README quotes) is the median of "interactive" over every page load of the
10,000-trial study, cold and warm, on both databases; the cold and warm medians are beside it.

"cold" is the first page load after the server started (the study's table is read and decoded from the
database); "warm" loads follow it (the server answers from its per-study cache). Results go to
benchmarks/results/dashboard.json and dashboard.md with the machine they came from.

    python benchmarks/bench_dashboard.py [--sizes 1000 10000] [--repeats 3] [--databases sqlite postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_api import Server, drop_pg, machine, pg_database  # noqa: E402
from benchmarks.synthetic_study import populate  # noqa: E402
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MEASURE = """() => {
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  const fcp = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
  const data = performance.getEntriesByType("resource").filter((r) => r.name.includes("/dashboard/data/"));
  const draws = performance.getEntriesByType("measure").filter((m) => m.name.startsWith("draw "));
  return {
    fcp_ms: fcp ? fcp.startTime : null,
    first_render_ms: mark("dashboard-first-render"),
    interactive_ms: mark("dashboard-interactive"),
    data_kb: data.reduce((sum, r) => sum + r.encodedBodySize, 0) / 1024,
    slowest_draw_ms: Math.max(...draws.map((m) => m.duration)),
  };
}"""


def load_page(browser, base: str, study_id: int) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{base}/dashboard/studies/{study_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=300_000)
        return page.evaluate(MEASURE)
    finally:
        context.close()


def summarise(samples: list[dict]) -> dict:
    medians = {key: round(statistics.median(s[key] for s in samples), 1) for key in samples[0]}
    return medians | {"n": len(samples), "interactive_ms_all": [round(s["interactive_ms"], 1) for s in samples]}


def measure(browser, url: str, study_id: int, repeats: int) -> dict:
    cold, warm = [], []
    for _ in range(repeats):
        server = Server(url)
        try:
            cold.append(load_page(browser, server.base, study_id))
            warm.extend(load_page(browser, server.base, study_id) for _ in range(2))
        finally:
            server.close()
    return {"cold": summarise(cold), "warm": summarise(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {"machine": machine(), "chromium": chromium_path(), "cases": []}
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        results["chromium_version"] = browser.version
        for database in args.databases:
            for size in args.sizes:
                if database == "sqlite":
                    url, cleanup = f"sqlite:///{tmp}/dashboard-{size}.db", None
                else:
                    url, _ = pg_database()
                    cleanup = url
                try:
                    study_id = populate(url, size)
                    case = {"database": database, "trials": size, **measure(browser, url, study_id, args.repeats)}
                finally:
                    if cleanup:
                        drop_pg(cleanup)
                print(json.dumps(case), flush=True)
                results["cases"].append(case)
        browser.close()
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    big = [case for case in results["cases"] if case["trials"] == 10_000]
    loads = {load: [ms for case in big for ms in case[load]["interactive_ms_all"]] for load in ("cold", "warm")}
    if big:
        results["all_panels_s_10k"] = round(statistics.median(loads["cold"] + loads["warm"]) / 1000, 2)
        results["all_panels_s_10k_by_load"] = {k: round(statistics.median(v) / 1000, 2) for k, v in loads.items()}
        results["all_panels_s_10k_max"] = round(max(loads["cold"] + loads["warm"]) / 1000, 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "dashboard.md").write_text(render(results))
    print(render(results))


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Dashboard: time to first render and to interactive (headless Chromium)",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, load average {m['load_average']}"
        f" before / {m.get('load_average_after')} after (a machine shared with other jobs);"
        f" Chromium {results['chromium_version']} ({results['chromium']}), headless, software rendering.",
        "Medians over fresh browser contexts (empty cache); cold = first load after the server started (it reads"
        " the study and computes every aggregate, fANOVA importance and the best set included), warm = later loads.",
        "Times are from navigation start. First render = summary + Table 1 on screen; interactive = every panel"
        " drawn: Table 1 and all eight plots, importance and parallel coordinates included. No panel is lazy: the"
        " page draws them all at once, so nothing waits for scrolling. The plots are SVG drawn by the page's own"
        " scripts (no plotly.js, no WebGL).",
        "",
        f"**Every panel drawn, 10,000 trials: median {results.get('all_panels_s_10k')} s over all"
        f" {sum(c['cold']['n'] + c['warm']['n'] for c in results['cases'] if c['trials'] == 10_000)} loads"
        f" (cold and warm, both databases); by load {results.get('all_panels_s_10k_by_load')};"
        f" slowest single load {results.get('all_panels_s_10k_max')} s.**",
        "",
        "| database | trials | load | first contentful paint ms | first render ms | interactive ms |"
        " aggregates KB | slowest panel draw ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for case in results["cases"]:
        for load in ("cold", "warm"):
            r = case[load]
            lines.append(
                f"| {case['database']} | {case['trials']:,} | {load} | {r['fcp_ms']} | {r['first_render_ms']} |"
                f" {r['interactive_ms']} | {r['data_kb']} | {r['slowest_draw_ms']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
