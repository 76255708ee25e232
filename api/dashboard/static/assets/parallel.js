// Parallel coordinates drawn as plain SVG. plotly's parcoords trace is WebGL only, and in a browser without a GPU
// (headless, remote desktops, many laptops' fallbacks) WebGL is emulated in software: ~2 s for 400 lines, where
// SVG paths take a few ms. One polyline per trial, coloured by score (viridis), best on top; hovering a line shows
// its values, and dragging along an axis keeps only the lines inside that range (a click on the axis clears it).
// Every label is set as text (textContent), never parsed.
import { niceTicks, node } from "./charts.js";

const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const MARGIN = { l: 70, r: 90, t: 36, b: 24 };

function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }

export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]), f = x - i;
  return `rgb(${a.map((v, j) => Math.round(v + (b[j] - v) * f)).join(",")})`;
}

// An axis per dimension: its value -> pixel mapping, and the ticks (value, label) it shows.
function axisOf(d, top, bottom) {
  const finite = d.values.filter((v) => v !== null && Number.isFinite(v));
  let lo, hi, ticks;
  if (d.tickvals) {
    lo = Math.min(...d.tickvals); hi = Math.max(...d.tickvals);
    ticks = d.tickvals.map((v, i) => [v, d.ticktext[i]]);
  } else {
    lo = finite.length ? Math.min(...finite) : 0; hi = finite.length ? Math.max(...finite) : 1;
    ticks = niceTicks(lo, hi).map((v) => [v, String(v)]);
  }
  const span = hi > lo ? hi - lo : 1;
  const y = (v) => (hi > lo ? bottom - ((v - lo) / span) * (bottom - top) : (top + bottom) / 2);
  return { y, ticks, lo, hi, invert: (py) => lo + ((bottom - py) / (bottom - top)) * span };
}

// Draws into `div` (replacing what it held); returns the number of lines drawn.
export function drawParallelSvg(div, dimensions, colourBy) {
  const width = Math.max(320, div.clientWidth || 800), height = Math.max(200, div.clientHeight || 340);
  const top = MARGIN.t, bottom = height - MARGIN.b;
  const xs = dimensions.map((_, i) => MARGIN.l + (i * (width - MARGIN.l - MARGIN.r)) / Math.max(1, dimensions.length - 1));
  const axes = dimensions.map((d) => axisOf(d, top, bottom));
  const finite = colourBy.filter((v) => v !== null && Number.isFinite(v));
  const cmin = finite.length ? Math.min(...finite) : 0, cmax = finite.length ? Math.max(...finite) : 1;
  const svg = node("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "parcoords", role: "img" });
  svg.append(node("title", {}, `parallel coordinates: ${colourBy.length} trials over ${dimensions.map((d) => d.label).join(", ")}`));

  const lines = node("g", { class: "lines", fill: "none", "stroke-width": 1, "stroke-opacity": 0.55 });
  const order = colourBy.map((_, i) => i).sort((a, b) => (colourBy[a] ?? -Infinity) - (colourBy[b] ?? -Infinity));
  const paths = [];
  for (const i of order) {
    let d = "", pen = false;
    dimensions.forEach((dim, j) => {
      const v = dim.values[i];
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${xs[j].toFixed(1)},${axes[j].y(v).toFixed(1)}`;
      pen = true;
    });
    const colour = viridis(cmax > cmin ? (colourBy[i] - cmin) / (cmax - cmin) : 1);
    const path = node("path", { d, stroke: colour });
    const label = dimensions.map((dim, j) => {
      const v = dim.values[i];
      const tick = dim.ticktext ? axes[j].ticks.find(([t]) => t === v) : null;
      return `${dim.label} ${tick ? tick[1] : v === null ? "–" : Number(v).toPrecision(4)}`;
    }).join(" · ");
    path.append(node("title", {}, label));
    lines.append(path);
    paths.push({ path, index: i });
  }
  svg.append(lines);

  // Axes with their ticks and labels, above the lines; a transparent band along each takes the brush.
  const ranges = dimensions.map(() => null);
  const apply = () => {
    for (const { path, index } of paths) {
      const inside = ranges.every((r, j) => !r || (dimensions[j].values[index] !== null
        && dimensions[j].values[index] >= r[0] && dimensions[j].values[index] <= r[1]));
      path.setAttribute("class", inside ? "" : "dimmed");
    }
  };
  dimensions.forEach((dim, j) => {
    const g = node("g", { class: "axis", transform: `translate(${xs[j].toFixed(1)},0)` });
    g.append(node("line", { x1: 0, x2: 0, y1: top, y2: bottom, stroke: "#444", "stroke-width": 1 }));
    for (const [v, text] of axes[j].ticks) {
      const y = axes[j].y(v).toFixed(1);
      g.append(node("line", { x1: -4, x2: 0, y1: y, y2: y, stroke: "#444" }));
      g.append(node("text", { x: -6, y, "text-anchor": "end", "dominant-baseline": "middle", class: "tick" }, text));
    }
    g.append(node("text", { x: 0, y: top - 14, "text-anchor": "middle", class: "label" }, dim.label));
    const brush = node("rect", { x: -3, y: bottom, width: 6, height: 0, class: "brush" });
    const band = node("rect", { x: -10, y: top, width: 20, height: bottom - top, fill: "transparent", class: "band" });
    band.addEventListener("pointerdown", (event) => {
      const origin = svg.getBoundingClientRect().top;
      const from = event.clientY - origin;
      band.setPointerCapture(event.pointerId);
      const move = (e) => {
        const to = Math.min(bottom, Math.max(top, e.clientY - origin));
        const a = Math.min(from, to), b = Math.max(from, to);
        brush.setAttribute("y", a); brush.setAttribute("height", b - a);
        ranges[j] = b - a < 3 ? null : [axes[j].invert(b), axes[j].invert(a)];
        apply();
      };
      band.addEventListener("pointermove", move);
      band.addEventListener("pointerup", (e) => { move(e); band.removeEventListener("pointermove", move); }, { once: true });
    });
    g.append(brush, band);
    svg.append(g);
  });

  // Colour bar: score, low to high.
  const bar = node("g", { transform: `translate(${width - MARGIN.r + 40},0)` });
  const gradient = node("linearGradient", { id: `${div.id}-viridis`, x1: 0, x2: 0, y1: 1, y2: 0 });
  VIRIDIS.forEach((c, i) => gradient.append(node("stop", { offset: i / (VIRIDIS.length - 1), "stop-color": c })));
  const defs = node("defs");
  defs.append(gradient);
  bar.append(defs, node("rect", { x: 0, y: top, width: 12, height: bottom - top, fill: `url(#${div.id}-viridis)` }));
  bar.append(node("text", { x: 16, y: top, "dominant-baseline": "hanging", class: "tick" }, cmax.toFixed(3)));
  bar.append(node("text", { x: 16, y: bottom, class: "tick" }, cmin.toFixed(3)));
  svg.append(bar);
  div.replaceChildren(svg);
  return paths.length;
}
