// Shared by the dashboard's pages: authorised JSON requests, DOM helpers that only ever insert text,
// number formatting, and polling while a study is live.

const TOKEN_KEY = "gdt-search-token";

// GET a JSON document; on 401 ask for the API token once (kept for this tab only) and retry.
export async function getJSON(url) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status === 401) {
    await askToken();
    return getJSON(url);
  }
  if (!response.ok) {
    let detail = await response.text();
    try { detail = JSON.stringify(JSON.parse(detail).detail); } catch (_) { /* not JSON: keep the text */ }
    throw new Error(`${url}: HTTP ${response.status} ${detail}`);
  }
  return response.json();
}

let pendingToken = null;

function askToken() {
  if (pendingToken) return pendingToken;
  const box = document.getElementById("auth");
  const input = el("input", { type: "password", placeholder: "API token", id: "token-input" });
  const form = el("form", {}, "This server protects reads: ", input, el("button", { type: "submit" }, "use token"));
  box.replaceChildren(form);
  box.hidden = false;
  input.focus();
  pendingToken = new Promise((resolve) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      box.hidden = true;
      pendingToken = null;
      resolve();
    });
  });
  return pendingToken;
}

// An element with attributes and children; strings become text nodes, so nothing is parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Previous / next buttons and "first–last of total" for a server-paged listing; `go(offset)` loads a page.
export function renderPager(box, { offset, shown, total, limit, what, labels = ["‹ previous", "next ›"] }, go) {
  const last = Math.min(offset + shown, total);
  const prev = el("button", { type: "button" }, labels[0]);
  const next = el("button", { type: "button" }, labels[1]);
  prev.disabled = offset === 0;
  next.disabled = last >= total;
  prev.onclick = () => go(Math.max(0, offset - limit));
  next.onclick = () => go(offset + limit);
  box.replaceChildren(prev, ` ${what}${total ? offset + 1 : 0}–${last} of ${total} `, next);
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits);
}

export function showError(error) {
  const box = document.getElementById("error");
  box.textContent = String(error && error.message ? error.message : error);
  box.hidden = false;
}

export function clearError() {
  document.getElementById("error").hidden = true;
}

export const LIVE_STATUSES = new Set(["queued", "running"]);

// Call `step` now and then every `ms` while it returns true (a live study); errors are shown, not fatal.
export function poll(step, ms) {
  const tick = async () => {
    let again = true;
    try {
      again = await step();
      clearError();
    } catch (error) {
      showError(error);
    }
    if (again) setTimeout(tick, ms);
  };
  return tick();
}

export function stamp(live) {
  const node = document.getElementById("live");
  node.textContent = live ? `live · updated ${new Date().toLocaleTimeString()}` : "";
}
