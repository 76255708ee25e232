// The studies list: status, progress and best score of each study, one page at a time, refreshed while
// any study on the page is queued or running.
import { LIVE_STATUSES, el, fmt, getJSON, poll, renderPager, stamp } from "./common.js";

const PAGE = 50;
const state = { offset: 0, status: "" };

function progressCell(progress) {
  const done = progress.total;
  const budget = progress.n_trials;
  const label = budget ? `${done} / ${budget} trials` : `${done} trials`;
  const bar = el("div", { class: "bar small" }, el("div", { style: `width:${budget ? Math.min(100, (100 * done) / budget) : 0}%` }));
  const states = Object.entries(progress.counts).map(([k, v]) => `${k} ${v}`).join(", ");
  return el("td", { title: states }, label, bar);
}

function row(study) {
  const link = el("a", { href: `/dashboard/studies/${study.id}`, class: "study-link" }, study.name);
  return el(
    "tr",
    { dataset: { studyId: study.id } },
    el("td", {}, String(study.id)),
    el("td", {}, link),
    el("td", {}, el("span", { class: `status ${study.status}` }, study.status)),
    el("td", {}, study.backend),
    progressCell(study.progress),
    el("td", { class: "num" }, study.best_interval || fmt(study.best_score)),
    el("td", {}, new Date(study.created_at).toLocaleString()),
  );
}

function pager(page) {
  const where = { offset: page.offset, shown: page.items.length, total: page.total, limit: PAGE, what: "",
    labels: ["‹ newer", "older ›"] };
  renderPager(document.getElementById("pager"), where, (offset) => { state.offset = offset; refresh(); });
}

async function load() {
  const query = new URLSearchParams({ limit: PAGE, offset: state.offset });
  if (state.status) query.set("status", state.status);
  const page = await getJSON(`/studies?${query}`);
  document.querySelector("#studies tbody").replaceChildren(...page.items.map(row));
  pager(page);
  const live = page.items.some((s) => LIVE_STATUSES.has(s.status));
  stamp(live);
  document.body.dataset.ready = "1";
  return live;
}

let generation = 0;
function refresh() {
  const mine = ++generation; // a newer refresh (filter, page) replaces the running poll
  poll(async () => mine === generation && (await load()) && mine === generation, 3000);
}

document.getElementById("status-filter").addEventListener("change", (event) => {
  state.status = event.target.value;
  state.offset = 0;
  refresh();
});
refresh();
