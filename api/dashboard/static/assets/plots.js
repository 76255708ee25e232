// The study page's plots, drawn as SVG (charts.js, parallel.js). Every function takes the server's aggregate for
// its panel -- never raw trials -- draws it, and records what it drew in the panel's data-summary (read by the
// browser tests) and how long the draw took (a `draw <id>` performance measure, read by the benchmark).
import { bandPath, chart, extent, legend, linePath, message, node, referenceLines, tip } from "./charts.js";
import { drawParallelSvg } from "./parallel.js";

export const CHOICE_NAMES = { i: "invariant", d: "distinctive", ignore: "ignore", off: "off" };
const CHOICE_COLOURS = { i: "#1f77b4", d: "#ff7f0e", ignore: "#2ca02c", off: "#8c8c8c" };
const BLUE = "#1f77b4", RED = "#d62728";

// Each panel's latest drawing, redrawn at the new size when the window is resized.
const painters = new Map();
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { for (const [id, paint] of painters) paint(document.getElementById(id)); }, 150);
});

function draw(id, paint, summary) {
  const div = document.getElementById(id);
  const start = performance.now();
  paint(div);
  painters.set(id, paint);
  performance.measure(`draw ${id}`, { start, end: performance.now() }); // per-panel cost, for the benchmark
  div.dataset.rendered = "1";
  div.dataset.summary = JSON.stringify(summary); // what was drawn: read by the browser tests
  return Promise.resolve();
}

const empty = (id, text) => draw(id, (div) => message(div, text), { empty: true });
const withRefs = (values, refs) => [...values, refs?.chance, refs?.baseline];
const f3 = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3));

export function drawHistory(id, history, refs) {
  if (!history.total) return empty(id, "no completed trial yet");
  const p = history.points, b = history.bins;
  const xs = p ? p.number : b.number;
  const best = { x: [...history.best.number, history.last_number], y: [...history.best.score, history.best.score.at(-1)] };
  const ys = p ? p.score : [...b.min, ...b.max];
  const shown = p ? p.number.length : b.number.length;
  return draw(id, (div) => {
    const c = chart(div, { x: { domain: extent([...xs, history.last_number]) }, y: { domain: extent(withRefs(ys, refs)) },
      xTitle: "trial", yTitle: "score" });
    if (p) {
      const dots = node("g", { fill: BLUE, "fill-opacity": 0.6 });
      p.number.forEach((n, i) => {
        if (p.score[i] === null) return;
        dots.append(tip(node("circle", { cx: c.x(n).toFixed(1), cy: c.y(p.score[i]).toFixed(1), r: 2.5 }), `#${n} ${f3(p.score[i])}\n${p.config[i]}`));
      });
      c.plot.append(dots);
    } else {
      c.plot.append(tip(node("path", { d: bandPath(b.number, b.min, b.max, c.x, c.y), fill: BLUE, "fill-opacity": 0.25 }), "min–max per bin"));
      c.plot.append(node("path", { d: linePath(b.number, b.median, c.x, c.y), fill: "none", stroke: BLUE, "stroke-width": 1.5 }));
    }
    c.plot.append(tip(node("path", { d: linePath(best.x, best.y, c.x, c.y, true), fill: "none", stroke: RED, "stroke-width": 2 }),
      `best so far ${f3(best.y.at(-1))}`));
    referenceLines(c, refs);
    legend(c, p ? [["trial", BLUE, "marker"], ["best so far", RED]] : [["min–max per bin", BLUE, "band"], ["median per bin", BLUE], ["best so far", RED]]);
  }, { total: history.total, shown, binned: !p, best: history.best.score.at(-1), chance: refs?.chance, baseline: refs?.baseline });
}

// Box plots from server-side statistics: one box per factor and choice, grouped by factor.
function choiceBoxes(id, groups, yTitle, refs) {
  if (!groups.length || groups.every((g) => g.choices.every((c) => !c.n))) return empty(id, "no data yet");
  const choices = Object.keys(CHOICE_NAMES).filter((choice) => groups.some((g) => g.choices.some((c) => c.choice === choice && c.n)));
  const summary = Object.fromEntries(groups.map((g) => [g.factor, Object.fromEntries(g.choices.map((c) => [c.choice, c.n]))]));
  const values = groups.flatMap((g) => g.choices.filter((c) => c.n).flatMap((c) => [c.min, c.max]));
  return draw(id, (div) => {
    const c = chart(div, { x: groups.map((g) => g.factor), y: { domain: extent(withRefs(values, refs)) }, yTitle }); // the notation's order
    const width = (c.x.step * 0.8) / Math.max(1, choices.length);
    for (const g of groups) {
      choices.forEach((choice, k) => {
        const s = g.choices.find((x) => x.choice === choice);
        if (!s || !s.n) return;
        const cx = c.x(g.factor) - c.x.step * 0.4 + width * (k + 0.5), colour = CHOICE_COLOURS[choice];
        const box = node("g", { class: "box", stroke: colour, "data-factor": g.factor, "data-choice": choice });
        box.append(node("line", { x1: cx, x2: cx, y1: c.y(s.min), y2: c.y(s.q1) }), node("line", { x1: cx, x2: cx, y1: c.y(s.q3), y2: c.y(s.max) }));
        for (const v of [s.min, s.max]) box.append(node("line", { x1: cx - width * 0.2, x2: cx + width * 0.2, y1: c.y(v), y2: c.y(v) }));
        box.append(node("rect", { x: cx - width * 0.35, width: width * 0.7, y: c.y(s.q3), height: Math.max(1, c.y(s.q1) - c.y(s.q3)),
          fill: colour, "fill-opacity": 0.35 }));
        box.append(node("line", { x1: cx - width * 0.35, x2: cx + width * 0.35, y1: c.y(s.median), y2: c.y(s.median), "stroke-width": 2 }));
        box.append(node("line", { x1: cx - width * 0.35, x2: cx + width * 0.35, y1: c.y(s.mean), y2: c.y(s.mean), "stroke-dasharray": "3 2" }));
        tip(box, `${g.factor} ${CHOICE_NAMES[choice]}: n = ${s.n}\nmedian ${f3(s.median)}, mean ${f3(s.mean)}\nq1 ${f3(s.q1)}, q3 ${f3(s.q3)}\nmin ${f3(s.min)}, max ${f3(s.max)}`);
        c.plot.append(box);
      });
    }
    referenceLines(c, refs);
    legend(c, choices.map((choice) => [CHOICE_NAMES[choice], CHOICE_COLOURS[choice], "box"]));
  }, summary);
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
  const labels = shown.map((e) => `${e.factor} ${e.choice} − ${e.reference}`);
  const summary = Object.fromEntries(shown.map((e) => [`${e.factor} ${e.choice}-${e.reference}`,
    { mean: e.mean, low: e.low, high: e.high, pairs: e.pairs }]));
  return draw(id, (div) => {
    const c = chart(div, { x: { domain: extent([0, ...shown.flatMap((e) => [e.low ?? e.mean, e.high ?? e.mean])]) }, y: labels,
      yReversed: true, margin: { l: 170, t: 12 }, xTitle: "paired difference of the score (95 % CI)" });
    c.plot.append(node("line", { x1: c.x(0), x2: c.x(0), y1: c.area.top, y2: c.area.bottom, stroke: "#6a737d", "stroke-dasharray": "1 3" }));
    shown.forEach((e, i) => {
      const y = c.y(labels[i]);
      const g = node("g", { class: "effect", stroke: "#0b62c4", fill: "#0b62c4", "data-mean": e.mean, "data-low": e.low, "data-high": e.high });
      if (e.low !== null && e.high !== null) {
        g.append(node("line", { x1: c.x(e.low), x2: c.x(e.high), y1: y, y2: y, class: "error-bar" }));
        for (const v of [e.low, e.high]) g.append(node("line", { x1: c.x(v), x2: c.x(v), y1: y - 4, y2: y + 4 }));
      }
      g.append(node("circle", { cx: c.x(e.mean), cy: y, r: 4 }));
      c.plot.append(tip(g, e.text));
    });
  }, summary);
}

export function drawImportance(id, importance) {
  const entries = Object.entries(importance.importances).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return empty(id, importance.note || "no importances");
  const sd = Object.fromEntries(entries.map(([k]) => [k, (importance.sd || {})[k] || 0])); // spread over the forest seeds
  return draw(id, (div) => {
    const c = chart(div, { x: { domain: [0, 1] }, y: entries.map((e) => e[0]), yReversed: true, margin: { l: 110, t: 12 },
      xTitle: "importance (fANOVA)" });
    for (const [name, value] of entries) {
      const y = c.y(name), h = c.y.step * 0.7;
      const g = node("g", { class: "bar" });
      g.append(node("rect", { x: c.x(0), y: y - h / 2, width: Math.max(0, c.x(value) - c.x(0)), height: h, fill: BLUE, "fill-opacity": 0.8 }));
      const lo = Math.max(0, value - sd[name]), hi = Math.min(1, value + sd[name]);
      g.append(node("line", { x1: c.x(lo), x2: c.x(hi), y1: y, y2: y, stroke: "#333" }));
      c.plot.append(tip(g, `${name}: ${f3(value)} ± ${f3(sd[name])}`));
    }
  }, Object.fromEntries(entries));
}

export function drawParallel(id, parallel) {
  if (!parallel.shown || parallel.dimensions.length < 2) return empty(id, "needs completed trials and a searched parameter");
  return draw(id, (div) => { drawParallelSvg(div, parallel.dimensions, parallel.dimensions.at(-1).values); },
    { shown: parallel.shown, total: parallel.total, axes: parallel.dimensions.map((d) => d.label) });
}

// `finalStep`: the trials' budget, where each completed curve ends at its final score (a marker).
export function drawCurves(id, curves, refs, finalStep = null) {
  if (!curves.steps.length) return empty(id, "no intermediate values: trials report them during training only when trial.eval_every is set");
  const finals = finalStep === null ? [] : curves.curves.filter((t) => t.final !== null && t.final !== undefined);
  const values = [...curves.p10, ...curves.p90, ...curves.curves.flatMap((c) => c.value), ...finals.map((t) => t.final)];
  return draw(id, (div) => {
    const steps = finals.length ? [...curves.steps, finalStep] : curves.steps;
    const c = chart(div, { x: { domain: extent(steps) }, y: { domain: extent(withRefs(values, refs)) },
      xTitle: "step", yTitle: "intermediate score (marker: final)" });
    c.plot.append(tip(node("path", { d: bandPath(curves.steps, curves.p10, curves.p90, c.x, c.y), fill: "#8c8c8c", "fill-opacity": 0.25 }),
      "10–90% of trials"));
    c.plot.append(tip(node("path", { d: linePath(curves.steps, curves.p50, c.x, c.y), fill: "none", stroke: "#444", "stroke-width": 2 }), "median"));
    for (const t of curves.curves) {
      const colour = t.state === "pruned" ? RED : BLUE;
      const g = node("g", { class: `curve ${t.state}`, stroke: colour, fill: colour });
      const ended = finals.includes(t);
      const xs = ended ? [...t.step, finalStep] : t.step, ys = ended ? [...t.value, t.final] : t.value;
      g.append(node("path", { d: linePath(xs, ys, c.x, c.y), fill: "none", "stroke-dasharray": t.state === "pruned" ? "2 3" : null }));
      t.step.forEach((s, i) => { if (t.value[i] !== null) g.append(node("circle", { cx: c.x(s), cy: c.y(t.value[i]), r: 2, stroke: "none" })); });
      if (ended) g.append(node("circle", { cx: c.x(finalStep), cy: c.y(t.final), r: 4, stroke: "none", class: "final" }));
      const text = t.step.map((s, i) => `step ${s} ${f3(t.value[i])}`).join(", ") + (ended ? `, final ${f3(t.final)}` : "");
      c.plot.append(tip(g, `#${t.number} (${t.state}): ${text}`));
    }
    referenceLines(c, refs);
    legend(c, [["10–90% of trials", "#8c8c8c", "band"], ["median", "#444"], ["best trials", BLUE], ["pruned", RED, "dot"]]);
  }, { steps: curves.steps.length, curves: curves.curves.length, finals: finals.length, trials: curves.total, chance: refs?.chance,
    baseline: refs?.baseline });
}

export function drawPareto(id, pareto, refs) {
  const all = [pareto.others, pareto.front];
  return draw(id, (div) => {
    const c = chart(div, { x: { domain: extent(all.flatMap((p) => p.cost)) }, y: { domain: extent(withRefs(all.flatMap((p) => p.score), refs)) },
      xTitle: "cost (device seconds)", yTitle: "score" });
    const dots = (p, colour, r) => {
      const g = node("g", { fill: colour });
      p.number.forEach((n, i) => {
        if (p.cost[i] === null || p.score[i] === null) return;
        g.append(tip(node("circle", { cx: c.x(p.cost[i]).toFixed(1), cy: c.y(p.score[i]).toFixed(1), r }),
          `#${n} ${p.config[i]}\ncost ${p.cost[i].toFixed(2)}, score ${f3(p.score[i])}`));
      });
      c.plot.append(g);
    };
    dots(pareto.others, "#bbb", 2.5);
    c.plot.append(node("path", { d: linePath(pareto.front.cost, pareto.front.score, c.x, c.y, true), fill: "none", stroke: RED, "stroke-width": 2 }));
    dots(pareto.front, RED, 3.5);
    referenceLines(c, refs);
    legend(c, [["trials", "#bbb", "marker"], ["Pareto front", RED]]);
  }, { front: pareto.front.number.length, total: pareto.total, chance: refs?.chance, baseline: refs?.baseline });
}
