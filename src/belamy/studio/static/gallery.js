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

// t-SNE puts look-alikes on top of each other: nudge thumbnails apart until none hides another,
// keeping the layout's neighbourhoods. Thumbnails shrink as the collection grows.
function spread(works, width, height) {
  const size = Math.max(36, Math.min(96, Math.sqrt((width * height) / Math.max(1, works.length)) * 0.55));
  const m = size / 2 + 6;
  const pos = works.map((w) => [m + w.x * (width - 2 * m), m + w.y * (height - 2 * m)]);
  for (let iter = 0; iter < 60; iter++) {
    let moved = false;
    for (let i = 0; i < pos.length; i++) {
      for (let j = i + 1; j < pos.length; j++) {
        let dx = pos[j][0] - pos[i][0], dy = pos[j][1] - pos[i][1];
        let d = Math.hypot(dx, dy);
        if (d >= size * 1.05) continue;
        if (d < 1e-3) { dx = Math.cos(i + j); dy = Math.sin(i + j); d = 1; }
        const push = (size * 1.05 - d) / 2;
        pos[i][0] -= (dx / d) * push; pos[i][1] -= (dy / d) * push;
        pos[j][0] += (dx / d) * push; pos[j][1] += (dy / d) * push;
        moved = true;
      }
    }
    for (const p of pos) { p[0] = Math.min(width - m, Math.max(m, p[0])); p[1] = Math.min(height - m, Math.max(m, p[1])); }
    if (!moved) break;
  }
  pos.size = size;
  return pos;
}

function provenanceRows(prov) {
  const rows = [];
  for (const [key, value] of Object.entries(prov || {})) {
    rows.push(el("tr", {}, el("td", { text: key }), el("td", { text: typeof value === "object" ? JSON.stringify(value) : String(value) })));
  }
  return rows.length ? rows : [el("tr", {}, el("td", { text: "provenance" }), el("td", { text: "none recorded" }))];
}

function openWork(w) {
  G.open = w;
  byId("detail").replaceChildren(
    el("img", { class: "large", src: `/api/image/${w.hash}`, alt: w.name }),
    el("h3", { text: w.name }),
    el("p", { class: "muted credit", text: w.credit || "" }),
    el("button", { class: "btn", id: "pick-btn", onclick: () => pick(w), text: G.picks.some((p) => p.hash === w.hash) ? "Picked" : "Pick for travel" }),
    el("table", { class: "prov" }, el("tbody", {}, el("tr", {}, el("td", { text: "sha256" }), el("td", { text: w.hash })), ...provenanceRows(w.provenance))));
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
    view.replaceChildren(el("p", { class: "muted", text: err.message }));
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
  } catch (err) { byId("status").textContent = err.message; }
})();
