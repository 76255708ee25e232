// One study: summary, the papers' Table 1 view (paged and sorted on the server) and the plots, redrawn
// whenever the study's fingerprint changes while it is queued or running.
import { LIVE_STATUSES, el, fmt, getJSON, poll, renderPager, showError, stamp } from "./common.js";
import {
  CHOICE_NAMES, drawCurves, drawEffects, drawHistory, drawImportance, drawInvariance, drawPairedEffects, drawParallel,
  drawPareto,
} from "./plots.js";

const studyId = Number(location.pathname.split("/").filter(Boolean).at(-1));
const base = `/dashboard/data/studies/${studyId}`;
const table = { sort: "score", descending: true, offset: 0, limit: 50 };
const METRIC_NAMES = { r_at_1: "R@1", r_at_5: "R@5", r_at_20: "R@20", linear_top1: "linear", fewshot_1nn: "1-NN" };
const IMPORTANCE_EVERY_MS = 10000;
let fingerprint = null;
let importanceAt = 0;

document.getElementById("link-json").href = `/studies/${studyId}`;
document.getElementById("link-csv").href = `/studies/${studyId}/export?format=csv`;
performance.mark("dashboard-start");

function renderSummary(study) {
  document.title = `gdt-search · ${study.name}`;
  document.getElementById("study-name").textContent = `#${study.id} ${study.name}`;
  const status = document.getElementById("study-status");
  status.textContent = study.cancel_requested && LIVE_STATUSES.has(study.status) ? `${study.status} (cancelling)` : study.status;
  status.className = `status ${study.status}`;
  const p = study.progress;
  const counts = Object.entries(p.counts).map(([k, v]) => `${k} ${v}`).join(", ");
  // the budget counts trained configurations; duplicates and infeasible proposals are beside it, never in it
  document.getElementById("study-progress").textContent = p.text || `${p.total} trials${counts ? ` (${counts})` : ""}`;
  document.getElementById("progress-bar").style.width = p.n_trials ? `${Math.min(100, (100 * p.trained) / p.n_trials)}%` : "0";
  const objective = study.objective.score || "score";
  // the best trial's score with its interval over seeds and n (a score is never shown bare)
  document.getElementById("study-best").textContent = study.best
    ? `best trial ${objective} ${study.best.interval || fmt(study.best.score)} — #${study.best.number} ${study.best.config}`
    : "no completed trial yet";
  renderBestSet(study.best_set, study.baseline);
  document.getElementById("study-notes").textContent = study.notes || "";
  const error = document.getElementById("study-error");
  error.textContent = study.error || "";
  error.hidden = !study.error;
  renderDataReport(study.data_report);
  renderCalibration(study.calibration, study.pruning);
}

// search.calibration: does the study's trial rank configurations like a longer one, and where may its pruner act?
function renderCalibration(calibration, pruning) {
  const node = document.getElementById("study-calibration");
  node.hidden = !calibration && !pruning;
  if (node.hidden) return;
  // search.calibration.Agreement: tau, its bootstrap interval (none at ±1: every resample agrees) and p of no association
  const tau = (a) => a.tau === null ? "no ranking" : `τ ${signed(a.tau)}${a.low === null ? " (no interval)" : ` [${signed(a.low)}, ${signed(a.high)}]`}`
    + (a.p === null || a.p === undefined ? "" : `, p ${a.p.toFixed(3)}`);
  const lines = [];
  let head = "Calibration: none measured";
  if (calibration) {
    const c = calibration;
    head = c.recommended_steps === null
      ? `Calibration: no budget tried ranks like the ${c.reference_steps}-step reference (τ ≥ ${c.threshold}, p < 0.05)`
      : `Calibration: ${c.recommended_steps} steps rank like the ${c.reference_steps}-step reference (τ ≥ ${c.threshold}, p < 0.05)`;
    lines.push(`${c.configurations.length} configurations × ${c.seeds.length} seed(s)`);
    for (const [steps, a] of Object.entries(c.budgets)) {
      lines.push(`${steps} steps: ${tau(a)} vs the reference${a.icc === null ? "" : `; ICC ${fmt(a.icc)}`}`);
    }
    for (const [step, a] of Object.entries(c.steps)) lines.push(`intermediate at step ${step}: ${tau(a)} vs the final scores`);
  }
  if (pruning) lines.push(pruning);
  document.getElementById("study-calibration-summary").textContent = head;
  document.getElementById("study-calibration-lines").replaceChildren(...lines.map((line) => el("li", {}, line)));
}

function signed(x) {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
}

// search.best: the best by mean over seeds with its interval, the configurations the seeds cannot tell apart from
// it (or why no set can be computed), chance level and the untrained encoder (search.baseline).
function renderBestSet(set, baseline) {
  const node = document.getElementById("study-best-set");
  if (!set || !set.best) { node.textContent = ""; return; }
  const b = set.best;
  const interval = intervalText(b);
  const same = set.note ? `; ${set.note}`
    : `; ${set.indistinguishable.length} indistinguishable (Welch p > ${set.alpha})${set.untestable ? `, ${set.untestable} with 1 seed untested` : ""}`;
  const chance = set.chance === null ? "" : `; chance ${fmt(set.chance)}`;
  const untrained = baseline ? `; untrained encoder ${intervalText(baseline)}` : "";
  node.textContent = `best mean ${interval} — #${b.trials[0]}${same}${chance}${untrained}`;
}

// search.intervals' Estimate as text: "0.412 [0.395, 0.430], 3 seeds" or "0.412 (1 seed, no interval)".
function intervalText(e) {
  if (e.low === null || e.low === undefined) return `${fmt(e.mean)} (${e.n} seed${e.n === 1 ? "" : "s"}, no interval)`;
  return `${fmt(e.mean)} [${fmt(e.low)}, ${fmt(e.high)}], ${e.n} seeds`;
}

// What the study's data left out (skipped files) or kept damaged (truncated files), with the reasons.
function renderDataReport(report) {
  const parts = [];
  const items = [];
  for (const [name, data] of Object.entries(report || {})) {
    if (!data.skipped.length && !data.truncated.length) continue;
    parts.push(`${name}: ${data.videos} videos used, ${data.skipped.length} skipped, ${data.truncated.length} truncated`);
    for (const [what, list] of [["skipped", data.skipped], ["truncated", data.truncated]]) {
      for (const file of list) items.push(el("li", { class: what }, `${name} · ${file.path}: ${file.reason}`));
    }
  }
  document.getElementById("study-data").hidden = !parts.length;
  document.getElementById("study-data-summary").textContent = `Data: ${parts.join("; ")}`;
  document.getElementById("study-data-files").replaceChildren(...items);
}

// -- Table 1 --------------------------------------------------------------------------------------------

function sortHeader(label, key) {
  const active = table.sort === key;
  const th = el("th", { class: `sortable${active ? " active" : ""}`, dataset: { sort: key }, title: `sort by ${label}` },
    label, active ? (table.descending ? " ▾" : " ▴") : "");
  th.onclick = () => {
    table.descending = active ? !table.descending : true;
    table.sort = key;
    table.offset = 0;
    loadTable().catch(showError);
  };
  return th;
}

function choiceCell(cell) {
  if (!cell) return el("td", {}, "");
  const text = cell.choice === "off" ? "off" : `${cell.choice}(${cell.k})`;
  return el("td", { class: `choice choice-${cell.choice}`, title: CHOICE_NAMES[cell.choice] || cell.choice }, text);
}

function scoreText(row) {
  if (row.score === null) return "–";
  return row.ci_low === null ? `${fmt(row.score)} (1 seed, no interval)` : `${fmt(row.score)} [${fmt(row.ci_low)}, ${fmt(row.ci_high)}]`;
}

async function loadTable() {
  const query = new URLSearchParams({ sort: table.sort, descending: table.descending, limit: table.limit, offset: table.offset });
  const page = await getJSON(`${base}/table1?${query}`);
  // Searched hyper-parameters are columns of their own: a row is one configuration with one set of them, and its
  // interval is over that row's seeds only (never a spread across hyper-parameters).
  const head = el("tr", {}, el("th", {}, "rank"), ...page.factors.map((f) => el("th", { class: "factor" }, f)),
    ...page.hyper.map((h) => el("th", { class: "hyper" }, h)),
    sortHeader("trials", "n"), el("th", {}, "states"), sortHeader("seeds", "n_seeds"),
    sortHeader("score (mean [95 % CI])", "score"), sortHeader("best", "best"),
    ...page.metrics.map((m) => sortHeader(METRIC_NAMES[m] || m, m)));
  // A row opens its (first) trial's page: configuration, seeds, curve, scores, invariance, replay record.
  const trialPage = (row) => `/dashboard/studies/${studyId}/trials/${row.first_trial}`;
  const rows = page.rows.map((row, i) => el("tr", {
    class: `linked${row.in_best_set ? " best-set" : ""}`,
    title: `${row.in_best_set ? "the best, or statistically indistinguishable from it; " : ""}open trial #${row.first_trial}`,
    dataset: { config: row.config, hyper: JSON.stringify(row.hyper), trial: row.first_trial } },
    el("td", { class: "num" }, el("a", { href: trialPage(row) }, String(page.offset + i + 1))),
    ...page.factors.map((f) => choiceCell(row.factors[f])),
    ...page.hyper.map((h) => el("td", { class: "num" }, row.hyper[h] === undefined ? "" : String(row.hyper[h]))),
    el("td", { class: "num" }, String(row.n)),
    el("td", { class: "states" }, Object.entries(row.states).map(([k, v]) => `${k} ${v}`).join(", ")),
    el("td", { class: "num seeds" }, String(row.n_seeds)),
    el("td", { class: "num score" }, scoreText(row)),
    el("td", { class: "num" }, fmt(row.best)),
    ...page.metrics.map((m) => el("td", { class: "num" }, fmt(row.metrics[m]))),
  ));
  document.querySelector("#table1 thead").replaceChildren(head);
  rows.forEach((tr, i) => { tr.onclick = (event) => { if (!event.target.closest("a")) location.href = trialPage(page.rows[i]); }; });
  document.querySelector("#table1 tbody").replaceChildren(...rows);
  const where = { offset: page.offset, shown: page.rows.length, total: page.total, limit: table.limit, what: "configurations " };
  renderPager(document.getElementById("table1-pager"), where, (offset) => { table.offset = offset; loadTable().catch(showError); });
  document.getElementById("table1").dataset.rendered = "1";
}

// -- plots -----------------------------------------------------------------------------------------------

async function loadParallel() {
  const parallel = await getJSON(`${base}/parallel`);
  document.getElementById("parallel-note").textContent = parallel.sampled
    ? `the best ${Math.floor(parallel.shown / 2)} and a sample of the rest: ${parallel.shown} of ${parallel.total} trials`
    : `${parallel.total} trials`;
  await drawParallel("plot-parallel", parallel);
}

async function loadImportance() {
  importanceAt = Date.now();
  const importance = await getJSON(`${base}/importance`);
  document.getElementById("importance-note").textContent = importance.note && !Object.keys(importance.importances).length
    ? importance.note
    : `fANOVA, mean ± sd over ${importance.seeds} seeds, on ${importance.trained} trained configurations${importance.note ? `; ${importance.note}` : ""}`;
  await drawImportance("plot-importance", importance);
}

function drawOverview(overview) {
  const c = overview.curves;
  const refs = { chance: overview.chance, baseline: overview.baseline }; // the lines every score plot shows
  document.getElementById("curves-note").textContent = c.total ? `${c.total} trials reported` : "";
  const pareto = document.getElementById("panel-pareto");
  pareto.hidden = !overview.pareto;
  const untested = overview.paired_effects.filter((e) => e.mean === null).map((e) => e.text);
  document.getElementById("paired-effects-note").textContent = untested.join("; ");
  return [
    drawHistory("plot-history", overview.history, refs),
    drawEffects("plot-effects", overview.factor_effects, refs),
    drawPairedEffects("plot-paired-effects", overview.paired_effects),
    drawInvariance("plot-invariance", overview.invariance),
    drawCurves("plot-curves", c, refs, overview.study.trial_steps ?? null),
    overview.pareto ? drawPareto("plot-pareto", overview.pareto, refs) : Promise.resolve(),
  ];
}

// One round: fetch the overview (small if nothing changed), then redraw what depends on it.
async function refresh(first) {
  const firstTable = first ? loadTable() : null; // needs nothing from the overview: fetch both at once
  const query = fingerprint ? `?since=${encodeURIComponent(fingerprint)}` : "";
  const overview = await getJSON(`${base}/overview${query}`);
  renderSummary(overview.study);
  const live = LIVE_STATUSES.has(overview.study.status);
  stamp(live);
  if (!overview.changed) return live;
  fingerprint = overview.fingerprint;
  const work = [firstTable || loadTable()];
  if (first) {
    await work[0];
    performance.mark("dashboard-first-render"); // the summary and Table 1 are on screen
  }
  work.push(...drawOverview(overview), loadParallel());
  if (first || Date.now() - importanceAt > IMPORTANCE_EVERY_MS || !live) work.push(loadImportance());
  await Promise.all(work);
  if (first) {
    performance.mark("dashboard-interactive"); // every panel drawn
    document.body.dataset.ready = "1";
  }
  return live;
}

let first = true;
poll(async () => {
  const live = await refresh(first);
  first = false;
  return live;
}, 2000);
