// The study page's plots, drawn with plotly.js (served by the API from the plotly package). Every
// function takes the server's aggregate for its panel -- never raw trials -- and resolves once drawn.
import { escapeLabel } from "./common.js";

let plotly = null;

// plotly.js is ~4 MB: load it after the page's text is on screen, once.
export function loadPlotly() {
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/dashboard/vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("could not load /dashboard/vendor/plotly.min.js"));
      document.head.append(script);
    });
  }
  return plotly;
}

export const CHOICE_NAMES = { i: "invariant", d: "distinctive", ignore: "ignore", off: "off" };
const CHOICE_COLOURS = { i: "#1f77b4", d: "#ff7f0e", ignore: "#2ca02c", off: "#8c8c8c" };
const LAYOUT = {
  margin: { l: 56, r: 16, t: 12, b: 44 },
  font: { family: "system-ui, sans-serif", size: 12 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  legend: { orientation: "h", y: -0.2 },
};
const CONFIG = { responsive: true, displaylogo: false };

// The references every score is read against, as dashed horizontal lines: chance level (1 / the proxy's
// classes) and the untrained encoder (same seeds, no training). A score near either learnt nothing.
function referenceLines(refs) {
  const lines = [["chance", refs?.chance, "#6a737d"], ["untrained", refs?.baseline, "#b08800"]]
    .filter(([, y]) => y !== null && y !== undefined);
  return {
    shapes: lines.map(([, y, color]) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { color, dash: "dash", width: 1 } })),
    annotations: lines.map(([name, y, color]) => ({ xref: "paper", x: 1, y, xanchor: "right", yanchor: "bottom", showarrow: false,
      text: `${name} ${y.toFixed(3)}`, font: { size: 10, color } })),
  };
}

async function draw(id, traces, layout, summary) {
  const Plotly = await loadPlotly();
  const div = document.getElementById(id);
  const start = performance.now();
  await Plotly.react(div, traces, { ...LAYOUT, ...layout }, CONFIG);
  performance.measure(`draw ${id}`, { start, end: performance.now() }); // per-panel cost, for the benchmark
  div.dataset.rendered = "1";
  div.dataset.summary = JSON.stringify(summary); // what was drawn: read by the browser tests
}

function empty(id, message) {
  return draw(id, [], { annotations: [{ text: escapeLabel(message), showarrow: false, font: { size: 14 } }],
    xaxis: { visible: false }, yaxis: { visible: false } }, { empty: true });
}

export function drawHistory(id, history, refs) {
  if (!history.total) return empty(id, "no completed trial yet");
  const traces = [];
  if (history.points) {
    traces.push({
      type: "scatter", mode: "markers", name: "trial", x: history.points.number, y: history.points.score,
      text: history.points.config.map(escapeLabel), hovertemplate: "#%{x} %{y:.3f}<br>%{text}<extra></extra>",
      marker: { size: 5, opacity: 0.6 },
    });
  } else {
    const b = history.bins;
    traces.push({ type: "scatter", mode: "lines", x: b.number, y: b.max, line: { width: 0 }, showlegend: false, hoverinfo: "skip" });
    traces.push({ type: "scatter", mode: "lines", x: b.number, y: b.min, line: { width: 0 }, fill: "tonexty",
      fillcolor: "rgba(31,119,180,0.25)", name: "min–max per bin", hoverinfo: "skip" });
    traces.push({ type: "scatter", mode: "lines", x: b.number, y: b.median, name: "median per bin", line: { color: "#1f77b4" } });
  }
  traces.push({ type: "scatter", mode: "lines", line: { shape: "hv", color: "#d62728" }, name: "best so far",
    x: [...history.best.number, history.last_number], y: [...history.best.score, history.best.score.at(-1)] });
  const shown = history.points ? history.points.number.length : history.bins.number.length;
  return draw(id, traces, { xaxis: { title: { text: "trial" } }, yaxis: { title: { text: "score" } }, ...referenceLines(refs) },
    { total: history.total, shown, binned: !history.points, best: history.best.score.at(-1), chance: refs?.chance, baseline: refs?.baseline });
}

// Box plots from server-side statistics: one trace per choice, one box per factor.
function choiceBoxes(id, groups, yTitle, refs) {
  if (!groups.length || groups.every((g) => g.choices.every((c) => !c.n))) return empty(id, "no data yet");
  const traces = [];
  for (const choice of Object.keys(CHOICE_NAMES)) {
    const rows = groups.map((g) => ({ factor: g.factor, s: g.choices.find((c) => c.choice === choice) }))
      .filter((r) => r.s && r.s.n);
    if (!rows.length) continue;
    traces.push({
      type: "box", name: CHOICE_NAMES[choice], marker: { color: CHOICE_COLOURS[choice] },
      x: rows.map((r) => r.factor), q1: rows.map((r) => r.s.q1), median: rows.map((r) => r.s.median),
      q3: rows.map((r) => r.s.q3), lowerfence: rows.map((r) => r.s.min), upperfence: rows.map((r) => r.s.max),
      mean: rows.map((r) => r.s.mean), text: rows.map((r) => `n = ${r.s.n}`), hoverinfo: "y+text+name",
    });
  }
  const summary = Object.fromEntries(groups.map((g) => [g.factor, Object.fromEntries(g.choices.map((c) => [c.choice, c.n]))]));
  const xaxis = { categoryorder: "array", categoryarray: groups.map((g) => g.factor) }; // the notation's order
  return draw(id, traces, { boxmode: "group", xaxis, yaxis: { title: { text: yTitle } }, ...referenceLines(refs) }, summary);
}

export const drawEffects = (id, effects, refs) => choiceBoxes(id, effects, "score", refs);
export const drawInvariance = (id, invariance) => choiceBoxes(id, invariance, "measured invariance");

// search.effects: per factor and pair of choices, the mean paired difference with its 95 % interval as an error
// bar; a pair with fewer than 2 matched configurations has no interval and is listed in the note instead.
export function drawPairedEffects(id, effects) {
  const shown = effects.filter((e) => e.mean !== null);
  if (!shown.length) {
    return empty(id, effects.length ? "fewer than 2 matched pairs for every factor" : "no factor took two choices yet");
  }
  const labels = shown.map((e) => escapeLabel(`${e.factor} ${e.choice} − ${e.reference}`));
  const trace = {
    type: "scatter", mode: "markers", x: shown.map((e) => e.mean), y: labels, marker: { size: 8, color: "#0b62c4" },
    error_x: { type: "data", symmetric: false, array: shown.map((e) => e.high - e.mean),
      arrayminus: shown.map((e) => e.mean - e.low), visible: true },
    text: shown.map((e) => escapeLabel(e.text)), hovertemplate: "%{text}<extra></extra>",
  };
  const zero = { type: "line", yref: "paper", y0: 0, y1: 1, x0: 0, x1: 0, line: { color: "#6a737d", dash: "dot", width: 1 } };
  const summary = Object.fromEntries(shown.map((e) => [`${e.factor} ${e.choice}-${e.reference}`,
    { mean: e.mean, low: e.low, high: e.high, pairs: e.pairs }]));
  return draw(id, [trace], { margin: { ...LAYOUT.margin, l: 170 }, shapes: [zero], showlegend: false,
    xaxis: { title: { text: "paired difference of the score (95 % CI)" } }, yaxis: { autorange: "reversed" } }, summary);
}

export function drawImportance(id, importance) {
  const entries = Object.entries(importance.importances).sort((a, b) => a[1] - b[1]);
  if (!entries.length) return empty(id, importance.note || "no importances");
  const sd = entries.map((e) => (importance.sd || {})[e[0]] || 0);  // spread over the forest seeds
  return draw(id, [{ type: "bar", orientation: "h", x: entries.map((e) => e[1]), y: entries.map((e) => escapeLabel(e[0])),
    error_x: { type: "data", array: sd, visible: true }, customdata: sd,
    hovertemplate: "%{y}: %{x:.3f} ± %{customdata:.3f}<extra></extra>" }], { margin: { ...LAYOUT.margin, l: 110 },
    xaxis: { title: { text: "importance (fANOVA)" }, range: [0, 1] } }, Object.fromEntries(entries));
}

export function drawParallel(id, parallel) {
  if (!parallel.shown || parallel.dimensions.length < 2) return empty(id, "needs completed trials and a searched parameter");
  const score = parallel.dimensions.at(-1).values;
  const dimensions = parallel.dimensions.map((d) => ({
    label: escapeLabel(d.label), values: d.values, ...(d.ticktext ? { tickvals: d.tickvals, ticktext: d.ticktext.map(escapeLabel) } : {}),
  }));
  return draw(id, [{ type: "parcoords", dimensions, line: { color: score, colorscale: "Viridis", showscale: true } }],
    { margin: { l: 70, r: 70, t: 36, b: 24 } }, { shown: parallel.shown, total: parallel.total, axes: parallel.dimensions.map((d) => d.label) });
}

export function drawCurves(id, curves, refs) {
  if (!curves.steps.length) return empty(id, "no intermediate value reported yet");
  const traces = [
    { type: "scatter", mode: "lines", x: curves.steps, y: curves.p90, line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { type: "scatter", mode: "lines", x: curves.steps, y: curves.p10, line: { width: 0 }, fill: "tonexty",
      fillcolor: "rgba(140,140,140,0.25)", name: "10–90% of trials" },
    { type: "scatter", mode: "lines", x: curves.steps, y: curves.p50, name: "median", line: { color: "#444", width: 2 } },
  ];
  let first = { complete: true, pruned: true };
  for (const c of curves.curves) {
    traces.push({ type: "scatter", mode: "lines+markers", x: c.step, y: c.value, name: c.state === "pruned" ? "pruned" : "best trials",
      legendgroup: c.state, showlegend: first[c.state], hovertemplate: `#${c.number} step %{x}: %{y:.3f}<extra></extra>`,
      line: { width: 1, dash: c.state === "pruned" ? "dot" : "solid", color: c.state === "pruned" ? "#d62728" : "#1f77b4" },
      marker: { size: 3 } });
    first[c.state] = false;
  }
  return draw(id, traces, { xaxis: { title: { text: "step" } }, yaxis: { title: { text: "intermediate score" } }, ...referenceLines(refs) },
    { steps: curves.steps.length, curves: curves.curves.length, trials: curves.total, chance: refs?.chance, baseline: refs?.baseline });
}

export function drawPareto(id, pareto, refs) {
  const hover = (p) => p.config.map((c, i) => `#${p.number[i]} ${escapeLabel(c)}`);
  const traces = [
    { type: "scatter", mode: "markers", name: "trials", x: pareto.others.cost, y: pareto.others.score, text: hover(pareto.others),
      hovertemplate: "%{text}<br>cost %{x:.2f}, score %{y:.3f}<extra></extra>", marker: { color: "#bbb", size: 5 } },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", x: pareto.front.cost, y: pareto.front.score, text: hover(pareto.front),
      hovertemplate: "%{text}<br>cost %{x:.2f}, score %{y:.3f}<extra></extra>", line: { shape: "hv", color: "#d62728" } },
  ];
  return draw(id, traces, { xaxis: { title: { text: "cost (device seconds)" } }, yaxis: { title: { text: "score" } }, ...referenceLines(refs) },
    { front: pareto.front.number.length, total: pareto.total, chance: refs?.chance, baseline: refs?.baseline });
}
