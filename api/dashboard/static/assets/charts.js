// A small SVG chart layer for the study page: axes with nice ticks, categorical bands, dashed reference lines,
// a legend, and hover texts as native tooltips (<title>). It replaces plotly.js there: evaluating plotly's 4.8 MB
// bundle alone took 2-4 s of main thread in a headless Chromium on a busy 2-core machine, while every panel here
// is a few hundred SVG elements built in milliseconds. Every text is set with textContent, never parsed.

// The SVG namespace as the HTML parser assigns it (so no URL is written out in the page's assets).
const SVG = (() => { const probe = document.createElement("div"); probe.innerHTML = "<svg></svg>"; return probe.firstChild.namespaceURI; })();
export const MARGIN = { l: 56, r: 16, t: 28, b: 44 };

export function node(tag, attrs = {}, text = null) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) n.setAttribute(k, String(v));
  if (text !== null) n.textContent = text;
  return n;
}

export function tip(element, text) {
  element.append(node("title", {}, text));
  return element;
}

export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickText(v) {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(6)));
}

const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);

// [lo, hi] over the finite values, padded by 5 % (a single value gets +-0.5).
export function extent(values, pad = 0.05) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (finite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

function linear([d0, d1], [r0, r1]) {
  const f = (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
  f.domain = [d0, d1];
  return f;
}

// A categorical scale: the centre of each category's band, and the band's width.
function bands(categories, [r0, r1]) {
  const step = (r1 - r0) / Math.max(1, categories.length);
  const index = new Map(categories.map((c, i) => [c, i]));
  const f = (c) => r0 + step * (index.get(c) + 0.5);
  f.step = step;
  f.categories = categories;
  return f;
}

// A chart in `div`: an SVG with its plot area, x and y scales (numeric domain [lo, hi] or a list of categories)
// and axes. Returns { svg, plot, x, y, width, height, area } -- draw into `plot` (clipped to the plot area).
export function chart(div, { x, y, xTitle, yTitle, margin = {}, yReversed = false }) {
  const width = Math.max(280, div.clientWidth || 600), height = Math.max(160, div.clientHeight || 340);
  const m = { ...MARGIN, ...margin };
  const area = { left: m.l, right: width - m.r, top: m.t, bottom: height - m.b };
  const svg = node("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart" });
  const xs = Array.isArray(x) ? bands(x, [area.left, area.right]) : linear(x.domain, [area.left, area.right]);
  const yRange = yReversed ? [area.top, area.bottom] : [area.bottom, area.top];
  const ys = Array.isArray(y) ? bands(y, yRange) : linear(y.domain, yRange);
  const axes = node("g", { class: "axes" });
  // y axis: grid lines and ticks
  if (Array.isArray(y)) {
    for (const c of y) axes.append(node("text", { x: area.left - 6, y: ys(c), class: "tick", "text-anchor": "end", "dominant-baseline": "middle" }, c));
  } else {
    for (const t of niceTicks(...y.domain)) {
      const py = ys(t);
      axes.append(node("line", { x1: area.left, x2: area.right, y1: py, y2: py, class: "grid" }));
      axes.append(node("text", { x: area.left - 6, y: py, class: "tick", "text-anchor": "end", "dominant-baseline": "middle" }, tickText(t)));
    }
  }
  if (Array.isArray(x)) {
    for (const c of x) axes.append(node("text", { x: xs(c), y: area.bottom + 16, class: "tick", "text-anchor": "middle" }, c));
  } else {
    for (const t of niceTicks(...x.domain, Math.max(2, Math.round((area.right - area.left) / 90)))) {
      const px = xs(t);
      axes.append(node("line", { x1: px, x2: px, y1: area.top, y2: area.bottom, class: "grid" }));
      axes.append(node("text", { x: px, y: area.bottom + 16, class: "tick", "text-anchor": "middle" }, tickText(t)));
    }
  }
  axes.append(node("line", { x1: area.left, x2: area.right, y1: area.bottom, y2: area.bottom, class: "axis" }));
  axes.append(node("line", { x1: area.left, x2: area.left, y1: area.top, y2: area.bottom, class: "axis" }));
  if (xTitle) axes.append(node("text", { x: (area.left + area.right) / 2, y: height - 8, class: "title", "text-anchor": "middle" }, xTitle));
  if (yTitle) {
    axes.append(node("text", { x: 0, y: 0, class: "title", "text-anchor": "middle",
      transform: `translate(14,${(area.top + area.bottom) / 2}) rotate(-90)` }, yTitle));
  }
  const clip = `${div.id}-clip`;
  const defs = node("defs");
  const clipPath = node("clipPath", { id: clip });
  clipPath.append(node("rect", { x: area.left, y: area.top - 4, width: area.right - area.left, height: area.bottom - area.top + 8 }));
  defs.append(clipPath);
  const plot = node("g", { "clip-path": `url(#${clip})` });
  svg.append(defs, axes, plot);
  div.replaceChildren(svg);
  return { svg, plot, x: xs, y: ys, width, height, area };
}

// A path through the points (x, y) with finite y; gaps break the line. `step`: horizontal then vertical.
export function linePath(xs, ys, sx, sy, step = false) {
  let d = "", pen = false, last = null;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(ys[i]) || !finite(xs[i])) { pen = false; continue; }
    const px = sx(xs[i]).toFixed(1), py = sy(ys[i]).toFixed(1);
    if (pen && step) d += `H${px}`;
    d += `${pen ? "L" : "M"}${px},${py}`;
    pen = true;
    last = py;
  }
  return last === null ? "" : d;
}

// The band between `lower` and `upper` over x (a filled polygon).
export function bandPath(xs, lower, upper, sx, sy) {
  const idx = xs.map((_, i) => i).filter((i) => finite(lower[i]) && finite(upper[i]));
  if (!idx.length) return "";
  const top = idx.map((i) => `${sx(xs[i]).toFixed(1)},${sy(upper[i]).toFixed(1)}`);
  const bottom = idx.reverse().map((i) => `${sx(xs[i]).toFixed(1)},${sy(lower[i]).toFixed(1)}`);
  return `M${top.join("L")}L${bottom.join("L")}Z`;
}

// Dashed horizontal lines at chance level and the untrained encoder's score, labelled; each line carries its
// value (data-value) and what it is (data-reference).
export function referenceLines(c, refs) {
  const lines = [["chance", refs?.chance, "#6a737d"], ["untrained", refs?.baseline, "#b08800"]].filter(([, v]) => finite(v));
  for (const [name, value, colour] of lines) {
    const py = c.y(value);
    c.plot.append(node("line", { x1: c.area.left, x2: c.area.right, y1: py, y2: py, stroke: colour, "stroke-dasharray": "5 4",
      class: "reference", "data-reference": name, "data-value": value }));
    c.plot.append(node("text", { x: c.area.right - 2, y: py - 3, "text-anchor": "end", class: "reference-label", fill: colour },
      `${name} ${value.toFixed(3)}`));
  }
  return lines.map(([, v]) => v);
}

// A legend above the plot area: [label, colour, kind ("line" | "dash" | "dot" | "box" | "marker")].
export function legend(c, entries) {
  const g = node("g", { class: "legend" });
  let x = c.area.left;
  for (const [label, colour, kind = "line"] of entries) {
    const y = 12;
    if (kind === "box" || kind === "band") g.append(node("rect", { x, y: y - 5, width: 14, height: 10, fill: colour, "fill-opacity": kind === "band" ? 0.3 : 0.5, stroke: colour }));
    else if (kind === "marker") g.append(node("circle", { cx: x + 7, cy: y, r: 3.5, fill: colour }));
    else g.append(node("line", { x1: x, x2: x + 14, y1: y, y2: y, stroke: colour, "stroke-width": 2, "stroke-dasharray": kind === "dash" ? "4 3" : kind === "dot" ? "1 3" : null }));
    const text = node("text", { x: x + 18, y, "dominant-baseline": "middle", class: "tick" }, label);
    g.append(text);
    x += 26 + label.length * 6.5;
  }
  c.svg.append(g);
}

// A message in the middle of an empty panel: HTML rather than SVG text, so that a long one wraps inside the
// panel instead of running off both its sides.
export function message(div, text) {
  const p = document.createElement("p");
  p.className = "message";
  p.textContent = text;
  div.replaceChildren(p);
}
