// Gallery: kept works placed by visual likeness (t-SNE); open one with its provenance; travel between two.
"use strict";

const G = { works: [], open: null, picks: [], timer: null };
const byId = (id) => document.getElementById(id);

function renderMap() {
  const map = byId("map");
  map.replaceChildren();
  if (!G.works.length) {
    map.append(el("div", { class: "empty", text: "No kept works yet: keep some on the Curate page." }));
    return;
  }
  const pos = spread(G.works, map.clientWidth, map.clientHeight);
  G.works.forEach((w, i) => {
    const node = el("button", {
      class: "work", "data-hash": w.hash, title: w.name, "aria-label": `open ${w.name}`,
      onclick: (e) => (e.shiftKey ? pick(w) : openWork(w)),
    }, el("img", { src: `/api/image/${w.hash}`, alt: "", loading: "lazy" }));
    node.style.left = `${pos[i][0]}px`;
    node.style.top = `${pos[i][1]}px`;
    node.style.width = node.style.height = `${pos.size}px`;
    node.style.margin = `${-pos.size / 2}px 0 0 ${-pos.size / 2}px`;
    node.classList.toggle("open", G.open && G.open.hash === w.hash);
    node.classList.toggle("picked", G.picks.some((p) => p.hash === w.hash));
    map.append(node);
  });
}

// t-SNE puts look-alikes on top of each other: nudge thumbnails apart until no square covers another
// (squares, not circles: two thumbnails a diagonal apart can still overlap at the corners), keeping
// the layout's neighbourhoods. Thumbnails shrink as the collection grows. The margin leaves room for
// the 1.6× zoom of a thumbnail under the pointer or the keyboard, so none is cut by the map's edge.
const HOVER_ZOOM = 1.6, GAP = 1.08;
function spread(works, width, height) {
  const size = Math.max(36, Math.min(96, Math.sqrt((width * height) / Math.max(1, works.length)) * 0.5));
  const m = (size * HOVER_ZOOM) / 2 + 4;
  const pos = works.map((w) => [m + w.x * (width - 2 * m), m + w.y * (height - 2 * m)]);
  const need = size * GAP;
  for (let iter = 0; iter < 200; iter++) {
    let moved = false;
    for (let i = 0; i < pos.length; i++) {
      for (let j = i + 1; j < pos.length; j++) {
        const dx = pos[j][0] - pos[i][0], dy = pos[j][1] - pos[i][1];
        const ox = need - Math.abs(dx), oy = need - Math.abs(dy);
        if (ox <= 0 || oy <= 0) continue;
        // Push apart along the axis that needs the smaller move; a tie on the same spot splits by index.
        if (ox < oy) {
          const s = (dx === 0 ? ((i + j) % 2 ? 1 : -1) : Math.sign(dx)) * ox / 2;
          pos[i][0] -= s; pos[j][0] += s;
        } else {
          const s = (dy === 0 ? ((i + j) % 2 ? 1 : -1) : Math.sign(dy)) * oy / 2;
          pos[i][1] -= s; pos[j][1] += s;
        }
        moved = true;
      }
    }
    for (const p of pos) { p[0] = Math.min(width - m, Math.max(m, p[0])); p[1] = Math.min(height - m, Math.max(m, p[1])); }
    if (!moved) break;
  }
  pos.size = size;
  return pos;
}

// Provenance as a person reads it: named fields, short hashes (the whole one on hover), no JSON.
const PROV_NAMES = {
  generator: "made with", arch: "architecture", res: "resolution", run: "run", checkpoint: "checkpoint",
  checkpoint_sha256: "checkpoint hash", kimg: "trained", seed: "seed", seeds: "seeds", truncation: "truncation ψ",
  corpus: "corpus", label: "class", distilled_from: "distilled from", signed: "signed", latent_sha256: "latent hash",
  imported_from: "imported from", init: "fine-tuned from", config_sha256: "config hash", design: "network design",
};

function provenanceValue(key, value) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "string" && /^[0-9a-f]{64}$/.test(value)) {
    return el("code", { title: value, text: `${value.slice(0, 12)}…` });
  }
  if (key === "res" && typeof value === "number") return `${value} × ${value} px`;
  if (key === "kimg" && typeof value === "number") return `${fmt(value, value < 10 ? 2 : 1)} kimg (${Math.round(value * 1000).toLocaleString("en")} images)`;
  if ((key === "run" || key === "distilled_from") && typeof value === "string") return el("span", { title: value, text: value.split("/").filter(Boolean).slice(-2).join("/") });
  if (key === "corpus" && typeof value === "object" && !Array.isArray(value)) {
    const name = value.path ? String(value.path).split("/").filter(Boolean).pop() : "corpus";
    return el("span", { title: value.path || "", text: value.count ? `${name} · ${value.count} images` : name });
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k.replace(/_/g, " ")}: ${typeof v === "object" && v !== null ? "…" : v}`).join(" · ");
  }
  return String(value);
}

// A provenance record (belamy-provenance, version 2: model, corpus, code, generation, steps) as the
// flat fields a person reads; older flat records pass through.
function provenanceFields(prov) {
  if (!prov || prov.schema !== "belamy-provenance") return prov || {};
  const model = { ...(prov.model || {}) };
  const parents = model.parents || {};
  delete model.parents;
  delete model.run_name;
  const flat = { ...model, ...(prov.generation || {}) };
  for (const [kind, parent] of Object.entries(parents)) {
    flat[kind] = typeof parent === "object" && parent !== null ? (parent.run || parent.file || parent.path || parent) : parent;
  }
  if (prov.corpus && Object.keys(prov.corpus).length) flat.corpus = prov.corpus;
  if (prov.code && prov.code.design) flat.design = prov.code.design;
  if (Array.isArray(prov.steps) && prov.steps.length) flat.steps = prov.steps.map((step) => step.stage).join(" → ");
  Object.assign(flat, prov.work || {});
  return flat;
}

function provenanceRows(prov) {
  const rows = [];
  for (const [key, value] of Object.entries(provenanceFields(prov))) {
    const name = PROV_NAMES[key] || key.replace(/_/g, " ");
    rows.push(el("tr", {}, el("th", { scope: "row", text: name }), el("td", {}, provenanceValue(key, value))));
  }
  return rows.length ? rows : [el("tr", {}, el("th", { scope: "row", text: "provenance" }), el("td", { text: "none recorded" }))];
}

function openWork(w) {
  G.open = w;
  const img = el("img", { class: "large", src: `/api/image/${w.hash}`, alt: w.name });
  const note = el("p", { class: "muted size-note" });
  const frame = el("div", { class: "large-frame" }, img);
  const fit = () => { const zoom = fitWhole(img, frame, 6); if (zoom) note.textContent = sizeNote(img, zoom); };
  img.addEventListener("load", fit);
  byId("detail").replaceChildren(
    frame, note,
    el("h3", { text: w.name }),
    el("p", { class: "muted credit", text: w.credit || "" }),
    el("button", { class: "btn", id: "pick-btn", onclick: () => pick(w), text: G.picks.some((p) => p.hash === w.hash) ? "Picked" : "Pick for travel" }),
    el("table", { class: "prov" }, el("tbody", {},
      el("tr", {}, el("th", { scope: "row", text: "image hash" }), el("td", {}, provenanceValue("sha256", w.hash))),
      ...provenanceRows(w.provenance))));
  renderMap();
}

function pick(w) {
  if (G.picks.some((p) => p.hash === w.hash)) G.picks = G.picks.filter((p) => p.hash !== w.hash);
  else G.picks = [...G.picks, w].slice(-2);
  byId("picks").replaceChildren(...G.picks.map((p) => el("img", { src: `/api/image/${p.hash}`, alt: p.name, title: p.name })));
  byId("travel-go").disabled = G.picks.length !== 2;
  const btn = byId("pick-btn");
  if (btn && G.open) btn.textContent = G.picks.some((p) => p.hash === G.open.hash) ? "Picked" : "Pick for travel";
  renderMap();
}

async function travel() {
  const [a, b] = G.picks;
  const view = byId("travel-view");
  view.replaceChildren(el("p", { class: "muted", text: "rendering the path…" }));
  try {
    const data = await api("POST", "/api/travel", { a: a.hash, b: b.hash, frames: Number(byId("frames").value) });
    const frames = data.frames;
    frames.forEach((src) => { new Image().src = src; });
    const img = el("img", { class: "frame", id: "travel-frame", src: frames[0], alt: "a step on the path" });
    const range = el("input", { type: "range", min: 0, max: frames.length - 1, value: 0, "aria-label": "position on the path" });
    let playing = true, i = 0;
    const play = el("button", { class: "btn", text: "Pause" });
    const showFrame = (k) => { i = k; img.src = frames[k]; range.value = k; };
    range.addEventListener("input", () => { playing = false; play.textContent = "Play"; showFrame(Number(range.value)); });
    play.addEventListener("click", () => { playing = !playing; play.textContent = playing ? "Pause" : "Play"; });
    clearInterval(G.timer);
    let dir = 1;
    G.timer = setInterval(() => {
      if (!playing) return;
      if (i + dir < 0 || i + dir >= frames.length) dir = -dir;  // there and back, forever
      showFrame(i + dir);
    }, 1000 / 12);
    view.replaceChildren(img, el("div", { class: "scrubber" }, play, range), el("p", { class: "muted", text: `${frames.length} frames, slerp between seeds ${a.seed} and ${b.seed}` }));
  } catch (err) {
    view.replaceChildren(el("p", { class: "muted", text: failed(err) }));
  }
}

byId("travel-go").addEventListener("click", travel);
window.addEventListener("resize", () => { clearTimeout(G.resize); G.resize = setTimeout(renderMap, 150); });

(async () => {
  try {
    const data = await api("GET", "/api/map");
    G.works = data.works;
    byId("status").textContent = `${G.works.length} kept work${G.works.length === 1 ? "" : "s"}`;
    renderMap();
    document.body.dataset.ready = "1";
  } catch (err) { byId("status").textContent = failed(err); }
})();
