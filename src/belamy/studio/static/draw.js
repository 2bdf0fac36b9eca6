// Draw: sketch with a mouse, pen or finger (line-drawing runs) or drag a figure's joints (pose and face runs);
// the painting follows as fast as the model answers: up to two requests in flight (two cores paint at once), each
// with the newest drawing, and an answer older than the one on screen is dropped.
"use strict";

const D = {
  runs: [], run: null, mode: "lines", strokes: [], stroke: null, points: [], drag: -1, undo: [],
  inFlight: 0, dirty: false, sent: 0, shown: 0, paints: 0, times: [], url: null,
};
const byId = (id) => document.getElementById(id);
const canvas = byId("canvas");
const ctx = canvas.getContext("2d");

function penWidth() { return Math.max(1, Math.round(Math.max(canvas.width, canvas.height) / 128)); }

function toCanvas(event) {
  const box = canvas.getBoundingClientRect();
  return { x: ((event.clientX - box.left) / box.width) * canvas.width, y: ((event.clientY - box.top) / box.height) * canvas.height };
}

// ------------------------------------------------------------------ drawing lines

function drawStroke(points) {
  ctx.beginPath();
  ctx.moveTo(points[0].x, points[0].y);
  if (points.length === 1) ctx.lineTo(points[0].x + 0.01, points[0].y);
  for (const p of points.slice(1)) ctx.lineTo(p.x, p.y);
  ctx.stroke();
}

function redraw() {
  if (D.mode === "figure") { drawFigure(); return; }
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#000";
  ctx.lineWidth = penWidth();
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of D.strokes) drawStroke(s);
}

// ------------------------------------------------------------------ dragging a figure

function drawFigure() {
  const w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, w, h);
  const stick = Math.max(1, Math.round(Math.max(w, h) / 128));
  ctx.lineCap = "round";
  for (const [a, b, color] of D.run.lines) {
    const p = D.points[a], q = D.points[b];
    ctx.strokeStyle = color;
    ctx.globalAlpha = D.run.condition === "pose" ? 0.6 : 1;
    ctx.lineWidth = D.run.condition === "pose" ? stick * 2 : Math.max(1, stick / 2);
    ctx.beginPath(); ctx.moveTo(p[0] * w, p[1] * h); ctx.lineTo(q[0] * w, q[1] * h); ctx.stroke();
  }
  ctx.globalAlpha = 1;
  for (let i = 0; i < D.points.length; i++) {
    const [x, y] = D.points[i];
    ctx.fillStyle = i === D.drag ? "#fff" : "#c9a45c";
    ctx.beginPath(); ctx.arc(x * w, y * h, Math.max(2, stick + 1), 0, Math.PI * 2); ctx.fill();
  }
}

function nearestPoint(pos) {
  const box = canvas.getBoundingClientRect();
  const reach = (14 * canvas.width) / box.width;  // 14 screen pixels, whatever the canvas is scaled to
  let best = -1, bestD = reach;
  D.points.forEach(([x, y], i) => {
    const d = Math.hypot(x * canvas.width - pos.x, y * canvas.height - pos.y);
    if (d < bestD) { best = i; bestD = d; }
  });
  return best;
}

// ------------------------------------------------------------------ pointer input (mouse, pen, touch)

canvas.addEventListener("pointerdown", (event) => {
  if (!D.run) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  const pos = toCanvas(event);
  if (D.mode === "figure") {
    const i = nearestPoint(pos);
    if (i < 0) return;
    D.undo.push(D.points.map((p) => p.slice()));
    D.drag = i;
    canvas.classList.add("dragging");
  } else {
    D.undo.push(D.strokes.slice());
    D.stroke = [pos];
    D.strokes = [...D.strokes, D.stroke];
  }
  redraw();
  schedule();
});

canvas.addEventListener("pointermove", (event) => {
  const pos = toCanvas(event);
  if (D.mode === "figure") {
    if (D.drag < 0) return;
    D.points[D.drag] = [pos.x / canvas.width, pos.y / canvas.height];
    redraw();
    schedule();
  } else if (D.stroke) {
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events) D.stroke.push(toCanvas(e));
    redraw();
    schedule();
  }
});

function endPointer() {
  if (D.stroke || D.drag >= 0) schedule();
  D.stroke = null;
  D.drag = -1;
  canvas.classList.remove("dragging");
  if (D.mode === "figure" && D.run) drawFigure();
}
canvas.addEventListener("pointerup", endPointer);
canvas.addEventListener("pointercancel", endPointer);

// ------------------------------------------------------------------ talking to the model

function payload() {
  const body = { run: D.run.name };
  if (D.mode === "figure") body.points = D.points;
  else body.drawing = canvas.toDataURL("image/png");
  return body;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Belamy-CSRF": CSRF, "X-Belamy-Client": CLIENT },
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { const data = await response.json(); if (typeof data.detail === "string") detail = data.detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

const MAX_IN_FLIGHT = 2;

function schedule() {
  D.dirty = true;
  if (D.inFlight < MAX_IN_FLIGHT) paint();
}

async function paint() {
  if (!D.run) return;
  D.dirty = false;
  D.inFlight += 1;
  const seq = ++D.sent;
  try {
    const response = await post("/api/draw/paint", payload());
    const blob = await response.blob();
    if (seq > D.shown) show(seq, blob, response.headers.get("X-Belamy-Render-Ms"));
  } catch (err) {
    byId("status").textContent = err.message;
  } finally {
    D.inFlight -= 1;
  }
  if (D.dirty && D.inFlight < MAX_IN_FLIGHT) paint();
}

function show(seq, blob, modelMs) {
  D.shown = seq;
  const url = URL.createObjectURL(blob);
  const old = D.url;
  D.url = url;
  byId("painting").src = url;
  if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
  byId("download").setAttribute("aria-disabled", "false");
  byId("keep").disabled = false;
  D.paints += 1;
  const now = performance.now();
  D.times = [...D.times.filter((t) => now - t < 2000), now];
  const rate = D.times.length > 1 ? ((D.times.length - 1) * 1000) / (now - D.times[0]) : 0;
  byId("rate").textContent = rate ? `· ${rate.toFixed(1)} paintings/s · ${modelMs} ms in the model` : "";
  document.body.dataset.paints = String(D.paints);
  document.body.dataset.rate = rate.toFixed(2);
  document.body.dataset.ready = "1";
  byId("status").textContent = `${D.run.name} · ${D.run.width}×${D.run.height}`;
}

// The download is the lossless PNG, with its provenance (run, checkpoint, drawing hashes).
async function download(event) {
  event.preventDefault();
  try {
    const response = await post("/api/draw/paint", { ...payload(), format: "png" });
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: "belamy-painting.png" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  } catch (err) { toast(err.message); }
}

async function keep() {
  const button = byId("keep");
  button.disabled = true;
  try {
    const response = await post("/api/draw/keep", payload());
    const data = await response.json();
    document.body.dataset.kept = data.candidate ? data.candidate.hash : "";
    toast("Kept: the drawing and its painting are in the gallery");
  } catch (err) {
    toast(err.message);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ tools

function undo() {
  if (!D.undo.length) return;
  const last = D.undo.pop();
  if (D.mode === "figure") D.points = last; else D.strokes = last;
  redraw();
  schedule();
}

function clear() {
  if (D.mode === "figure") {
    D.undo.push(D.points.map((p) => p.slice()));
    D.points = D.run.template.map((p) => p.slice());
  } else {
    if (D.strokes.length) D.undo.push(D.strokes.slice());
    D.strokes = [];
  }
  redraw();
  schedule();
}

function chooseRun(name) {
  D.run = D.runs.find((r) => r.name === name) || D.runs[0];
  D.mode = D.run.condition === "pose" || D.run.condition === "landmarks" ? "figure" : "lines";
  canvas.width = D.run.width;
  canvas.height = D.run.height;
  const ratio = `${D.run.width} / ${D.run.height}`;
  canvas.style.aspectRatio = ratio;
  byId("painting").style.aspectRatio = ratio;
  canvas.classList.toggle("figure", D.mode === "figure");
  D.strokes = [];
  D.undo = [];
  D.points = D.mode === "figure" ? D.run.template.map((p) => p.slice()) : [];
  byId("canvas-title").textContent = D.mode === "figure" ? "Drag the joints" : "Your drawing";
  byId("hint").textContent = D.mode === "figure"
    ? `a ${D.run.condition === "pose" ? "stick figure" : "face"}: drag any point`
    : "draw with a mouse, pen or finger";
  redraw();
  schedule();
}

byId("undo").addEventListener("click", undo);
byId("clear").addEventListener("click", clear);
byId("keep").addEventListener("click", keep);
byId("download").addEventListener("click", download);
byId("run").addEventListener("change", (e) => chooseRun(e.target.value));
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
});

(async () => {
  try {
    const data = await api("GET", "/api/draw/runs");
    D.runs = data.runs;
    if (!D.runs.length) {
      byId("no-runs").classList.remove("hidden");
      document.querySelector(".draw-layout").classList.add("hidden");
      byId("status").textContent = "no pix2pix runs";
      return;
    }
    const select = byId("run");
    select.replaceChildren(...D.runs.map((r) => el("option", { value: r.name, text: `${r.name} (${r.condition}, ${r.kimg} kimg)` })));
    const wanted = new URLSearchParams(location.search).get("run");
    if (wanted) select.value = wanted;
    chooseRun(select.value);
  } catch (err) { byId("status").textContent = err.message; }
})();
