// Runs page: every run under the root, live. Polls the run's metrics and sample grids every few seconds.
"use strict";

const state = { runs: [], selected: null, metrics: [], gridIndex: null, followLatest: true, job: null };

function lossChart(metrics) {
  const W = 640, H = 260, L = 44, R = 12, T = 12, B = 28;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Generator and discriminator loss over training");
  const pts = metrics.filter((m) => Number.isFinite(m.loss_G) || Number.isFinite(m.loss_D));
  const add = (tag, attrs) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    svg.append(node);
    return node;
  };
  if (pts.length === 0) {
    add("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }).textContent = "waiting for the first tick…";
    return svg;
  }
  const xs = pts.map((m) => m.kimg);
  const ys = pts.flatMap((m) => [m.loss_G, m.loss_D]).filter(Number.isFinite);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1e-9);
  let y0 = Math.min(...ys, 0), y1 = Math.max(...ys, 1e-9);
  y1 += (y1 - y0) * 0.05;
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    add("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" }).textContent = y.toFixed(2);
    const x = x0 + ((x1 - x0) * i) / 4;
    add("text", { x: sx(x), y: H - 8, "text-anchor": "middle" }).textContent = `${x.toFixed(x1 < 10 ? 2 : 0)}`;
  }
  add("text", { x: W - R, y: H - B - 6, "text-anchor": "end" }).textContent = "kimg";
  for (const [key, cls] of [["loss_G", "g"], ["loss_D", "d"]]) {
    const line = pts.filter((m) => Number.isFinite(m[key])).map((m) => `${sx(m.kimg).toFixed(1)},${sy(m[key]).toFixed(1)}`);
    if (line.length) add("polyline", { points: line.join(" "), class: cls });
  }
  return svg;
}

// A run trains to a number of images, for a number of minutes, or both (it stops at the first).
function runTarget(run) {
  const parts = [run.target_kimg != null ? `${fmt(run.kimg, 2)} / ${run.target_kimg} kimg` : `${fmt(run.kimg, 2)} kimg`];
  if (run.target_minutes != null) parts.push(`${fmt((run.time_s || 0) / 60, 1)} / ${run.target_minutes} min`);
  return parts.join(" · ");
}

function renderList() {
  const list = document.getElementById("run-list");
  list.replaceChildren();
  document.getElementById("no-runs").classList.toggle("hidden", state.runs.length > 0);
  for (const run of state.runs) {
    const live = Date.now() / 1000 - run.updated < 60;
    const frac = run.progress ?? 0;
    const bar = el("div", { class: "progress" }, el("div"));
    bar.firstChild.style.width = `${(frac * 100).toFixed(1)}%`;
    const card = el("button", {
      class: "run-card", role: "option", "aria-selected": String(run.name === state.selected), "data-run": run.name,
      onclick: () => select(run.name),
    },
      el("span", { class: "name" }, live ? el("span", { class: "live", title: "updated in the last minute" }) : null, run.name),
      el("span", { class: "meta", text: `${run.arch || "?"} ${run.model.res || ""}² · ${runTarget(run)}` }),
      bar);
    list.append(card);
  }
}

function currentRun() { return state.runs.find((r) => r.name === state.selected); }

function renderRun() {
  const run = currentRun();
  const view = document.getElementById("run-view");
  if (!run) return;
  // The view is rebuilt on each poll: carry over what the user typed into the form.
  const typed = ["gen-n", "gen-trunc", "gen-checkpoint"].map((id) => [id, document.getElementById(id)?.value]);
  const last = state.metrics[state.metrics.length - 1] || {};
  const grids = run.grids;
  if (state.followLatest || state.gridIndex === null || state.gridIndex >= grids.length) state.gridIndex = grids.length - 1;
  const grid = grids[state.gridIndex];
  const figure = (k, v) => el("div", { class: "figure" }, el("div", { class: "v", text: v }), el("div", { class: "k", text: k }));
  const scrub = el("input", {
    type: "range", min: 0, max: Math.max(0, grids.length - 1), value: Math.max(0, state.gridIndex), id: "scrubber",
    "aria-label": "Sample grids over training",
    oninput: (e) => { state.gridIndex = Number(e.target.value); state.followLatest = state.gridIndex === grids.length - 1; renderGrid(); },
  });
  const select = el("select", { id: "gen-checkpoint" },
    ...run.checkpoints.slice().reverse().map((c) => el("option", { value: c.name, text: `${c.name} · ${c.kimg} kimg` })));
  view.replaceChildren(
    el("h2", { text: run.name }),
    el("div", { class: "figures" },
      figure("kimg", fmt(run.kimg, 2)), figure("img / s", fmt(last.img_per_s ?? run.img_per_s, 1)),
      figure("loss G · D", `${fmt(last.loss_G, 2)} · ${fmt(last.loss_D, 2)}`), figure("ticks", String(run.ticks))),
    el("div", { class: "run-detail" },
      el("div", { class: "panel grid-view" },
        grid ? el("img", { id: "grid-img", src: grid.url, alt: `sample grid at ${grid.kimg} kimg` }) : el("div", { class: "empty", text: "no sample grid yet" }),
        el("div", { class: "scrubber" }, scrub, el("span", { id: "grid-label", class: "muted", text: grid ? `${grid.kimg} kimg` : "" }))),
      el("div", {},
        el("div", { class: "panel" }, el("h3", { text: "Losses" }), lossChart(state.metrics),
          el("div", { class: "legend" }, el("span", {}, el("i", { class: "lg" }), "generator"), el("span", {}, el("i", { class: "ld" }), "discriminator"))),
        el("div", { class: "panel gen-form" },
          el("label", {}, "Checkpoint", run.checkpoints.length ? select : el("span", { text: "none yet" })),
          el("label", {}, "Candidates", el("input", { type: "number", id: "gen-n", min: 1, max: 4096, value: 64 })),
          el("label", {}, "Truncation", el("input", { type: "number", id: "gen-trunc", min: 0.1, max: 2, step: 0.05, value: 1 })),
          el("button", { class: "btn primary", id: "gen-go", disabled: !run.checkpoints.length, onclick: startGeneration, text: "Generate candidates" }),
          el("span", { id: "gen-status", class: "muted" })))));
  for (const [id, value] of typed) {
    const node = document.getElementById(id);
    if (node && value !== undefined && (node.tagName !== "SELECT" || [...node.options].some((o) => o.value === value))) node.value = value;
  }
  document.querySelectorAll(".legend .lg").forEach((n) => n.style.background = "var(--gold)");
  document.querySelectorAll(".legend .ld").forEach((n) => n.style.background = "var(--cool)");
  renderJob();
}

function renderGrid() {
  const run = currentRun();
  const grid = run && run.grids[state.gridIndex];
  const img = document.getElementById("grid-img");
  if (grid && img) { img.src = grid.url; img.alt = `sample grid at ${grid.kimg} kimg`; }
  const label = document.getElementById("grid-label");
  if (label && grid) label.textContent = `${grid.kimg} kimg · ${state.gridIndex + 1}/${run.grids.length}`;
}

function renderJob() {
  const node = document.getElementById("gen-status");
  if (!node || !state.job) return;
  const j = state.job;
  node.replaceChildren();
  if (j.status === "done") node.append(`${j.message} → `, el("a", { href: `/curate?set=${encodeURIComponent(j.out.split("/").pop())}`, text: "curate them" }));
  else node.textContent = j.status === "error" ? `failed: ${j.message}` : `${j.status}…`;
}

async function startGeneration() {
  const run = currentRun();
  const body = {
    run: run.name, checkpoint: document.getElementById("gen-checkpoint").value,
    n: Number(document.getElementById("gen-n").value), truncation: Number(document.getElementById("gen-trunc").value),
  };
  try {
    state.job = await api("POST", "/api/generate", body);
    renderJob();
    pollJob(state.job.id);
  } catch (err) { toast(failed(err)); }
}

async function pollJob(id) {
  while (state.job && state.job.id === id && (state.job.status === "queued" || state.job.status === "running")) {
    await new Promise((r) => setTimeout(r, 1000));
    try { state.job = await api("GET", `/api/jobs/${id}`); } catch (err) { toast(failed(err)); return; }
    renderJob();
  }
}

async function select(name) {
  state.selected = name;
  state.metrics = [];
  state.followLatest = true;
  history.replaceState(null, "", `?run=${encodeURIComponent(name)}`);
  renderList();
  await refreshRun(true);
}

async function refreshRun(full) {
  if (!state.selected) return;
  const data = await api("GET", `/api/run?run=${encodeURIComponent(state.selected)}&since=${full ? 0 : state.metrics.length}`);
  state.metrics = full ? data.metrics : state.metrics.concat(data.metrics);
  const i = state.runs.findIndex((r) => r.name === state.selected);
  if (i >= 0) state.runs[i] = data.run; else state.runs.push(data.run);
  const focused = document.activeElement && document.activeElement.id;
  renderRun();
  if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
}

async function refreshAll() {
  const data = await api("GET", "/api/runs");
  state.runs = data.runs;
  if (!state.selected && state.runs.length) {
    const wanted = new URLSearchParams(location.search).get("run");
    state.selected = state.runs.some((r) => r.name === wanted) ? wanted : state.runs[0].name;
  }
  renderList();
  document.getElementById("status").textContent = `${state.runs.length} run${state.runs.length === 1 ? "" : "s"}`;
}

async function tick() {
  try {
    const editing = document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
    await refreshAll();
    if (!editing) await refreshRun(state.metrics.length === 0);
  } catch (err) {
    document.getElementById("status").textContent = `offline: ${failed(err)}`;
  }
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
  const run = currentRun();
  if (!run || !run.grids.length || e.target.id === "scrubber") return;
  if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
    state.gridIndex = Math.max(0, Math.min(run.grids.length - 1, state.gridIndex + (e.key === "ArrowRight" ? 1 : -1)));
    state.followLatest = state.gridIndex === run.grids.length - 1;
    const s = document.getElementById("scrubber"); if (s) s.value = state.gridIndex;
    renderGrid();
  }
});

tick().then(() => setInterval(tick, 3000));
