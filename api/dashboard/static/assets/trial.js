// One trial: its configuration and hyper-parameters, each seed's score, the proxy's metrics, the measured
// invariance, its curve (intermediate scores and the final score, with chance and the untrained encoder),
// why it failed or was pruned, and the replay record. Redrawn while the trial runs.
import { el, fmt, getJSON, poll, showError } from "./common.js";
import { chart, extent, legend, linePath, node, referenceLines, tip } from "./charts.js";

const parts = location.pathname.split("/").filter(Boolean);
const studyId = Number(parts.at(-3));
const number = Number(parts.at(-1));
const METRICS = { r_at_1: "R@1", r_at_5: "R@5", r_at_20: "R@20", linear_top1: "linear probe", fewshot_1nn: "1-NN few-shot" };
const LIVE = new Set(["running"]);

document.getElementById("link-study").href = `/dashboard/studies/${studyId}`;
document.getElementById("link-json").href = `/studies/${studyId}/trials/${number}`;

const rows = (id, pairs) => document.querySelector(`#${id} tbody`).replaceChildren(
  ...pairs.map(([key, value]) => el("tr", {}, el("th", {}, key), el("td", { class: "num" }, value))));

function renderSummary(trial, study) {
  document.title = `gdt-search · #${trial.number} ${trial.config}`;
  document.getElementById("trial-title").textContent = `#${trial.number} ${trial.config}`;
  document.getElementById("link-study").textContent = `study #${study.id} ${study.name}`;
  const state = document.getElementById("trial-state");
  state.textContent = trial.state;
  state.className = `status ${trial.state}`;
  const objective = study.objective?.score || "score";
  document.getElementById("trial-score").textContent = trial.interval ? `${objective} ${trial.interval}` : "no score";
  document.getElementById("trial-timing").textContent = trial.duration_s === null ? ""
    : `${fmt(trial.duration_s, 1)} s on ${trial.worker_id || "a worker"}`;
  const reason = document.getElementById("trial-reason");
  reason.textContent = trial.reason || "";
  reason.hidden = !trial.reason;
  const progress = document.getElementById("trial-progress");
  progress.textContent = trial.progress ? trial.progress.text : "";
  progress.hidden = !trial.progress;
}

function renderConfiguration(trial) {
  const replay = trial.replay || {};
  const pairs = Object.entries(replay.settings || {}).map(([factor, s]) => [factor, `${s.choice} (K = ${s.k})`]);
  const optimizer = replay.trial_spec?.train?.optimizer;
  if (optimizer) pairs.push(["optimizer", optimizer]);
  for (const [name, value] of Object.entries(replay.hyper || {})) {
    if (name === "momentum" && optimizer && optimizer !== "sgd") continue; // SGD's; AdamW does not read it
    pairs.push([name, String(value)]);
  }
  for (const key of ["clip_budget", "k_videos", "batch_size"]) if (replay[key] !== undefined) pairs.push([key, String(replay[key])]);
  if (!pairs.length) for (const [name, value] of Object.entries(trial.params)) pairs.push([name, String(value)]);
  document.getElementById("configuration-note").textContent = replay.settings ? "" : "searched parameters (not trained)";
  rows("trial-configuration", pairs);
}

function renderSeeds(trial) {
  const seeds = trial.replay?.seeds || [];
  document.querySelector("#trial-seeds thead").replaceChildren(
    el("tr", {}, ...["seed", "score", "steps", "final loss", "device s"].map((h) => el("th", {}, h))));
  document.querySelector("#trial-seeds tbody").replaceChildren(...seeds.map((s) => el("tr", {},
    el("td", { class: "num" }, String(s.seed)), el("td", { class: "num" }, fmt(s.values?.[0])),
    el("td", { class: "num" }, String(s.train_steps)), el("td", { class: "num" }, fmt(s.final_loss, 4)),
    el("td", { class: "num" }, fmt(s.device_seconds, 1)))));
}

function renderScores(trial) {
  const s = trial.scores || {};
  const pairs = Object.entries(METRICS).filter(([key]) => key in s).map(([key, label]) => [label, fmt(s[key])]);
  if (s.n_test !== undefined) pairs.push(["test / train videos", `${s.n_test} / ${s.n_train}`]);
  if (s.n_classes) pairs.push(["chance (1 / classes)", fmt(1 / s.n_classes)]);
  rows("trial-scores", pairs);
  rows("trial-invariance", Object.entries(trial.invariance || {}).map(([factor, v]) => [factor, fmt(v)]));
}

// The first seed's intermediate scores (what a pruner saw) and the final mean score at the last step.
function drawCurve(trial, refs) {
  const div = document.getElementById("plot-trial-curve");
  const steps = trial.intermediate.map((p) => p.step);
  const values = trial.intermediate.map((p) => p.value);
  const finalStep = trial.replay?.train_steps ?? (steps.length ? steps.at(-1) : 0);
  const all = [...values, trial.score, refs.chance, refs.baseline];
  const c = chart(div, { x: { domain: extent([0, ...steps, finalStep]) }, y: { domain: extent(all) }, xTitle: "step", yTitle: "score" });
  c.plot.append(tip(node("path", { d: linePath(steps, values, c.x, c.y), fill: "none", stroke: "#0366d6", "stroke-width": 2 }),
    steps.map((s, i) => `step ${s}: ${fmt(values[i])}`).join(", ") || "no intermediate score"));
  steps.forEach((s, i) => c.plot.append(node("circle", { cx: c.x(s), cy: c.y(values[i]), r: 3, fill: "#0366d6", class: "intermediate" })));
  if (trial.score !== null && trial.score !== undefined) {
    c.plot.append(tip(node("circle", { cx: c.x(finalStep), cy: c.y(trial.score), r: 5, fill: "#d73a49", class: "final" }),
      `final score at step ${finalStep}: ${trial.interval}`));
  }
  referenceLines(c, refs);
  legend(c, [["intermediate (first seed)", "#0366d6"], ["final (mean over seeds)", "#d73a49", "marker"]]);
  div.dataset.summary = JSON.stringify({ intermediate: steps.length, final: trial.score, final_step: finalStep, ...refs });
}

async function refresh() {
  const [trial, study] = await Promise.all([getJSON(`/studies/${studyId}/trials/${number}`), getJSON(`/studies/${studyId}`)]);
  const n = trial.scores?.n_classes;
  const refs = { chance: n ? 1 / n : null, baseline: study.baseline?.mean ?? null };
  renderSummary(trial, study);
  renderConfiguration(trial);
  renderSeeds(trial);
  renderScores(trial);
  drawCurve(trial, refs);
  document.getElementById("trial-replay").textContent = JSON.stringify(trial.replay, null, 2);
  document.body.dataset.ready = "1";
  return LIVE.has(trial.state);
}

poll(refresh, 2000).catch(showError);
