// Curate page: one candidate at a time. Keep → / reject ← / swipe; Backspace undoes this tab's last decision.
"use strict";

const params = new URLSearchParams(location.search);
const S = {
  set: params.get("set") || "", mode: localStorage.getItem("belamy-mode") || "uncertain",
  queue: [], current: null, decided: new Set(), gen: 0, fetchingGen: -1, chain: Promise.resolve(), fetching: null, exhausted: false,
};
const $ = (id) => document.getElementById(id);
const MAX_ZOOM = 4;
$("card-img").addEventListener("load", fitCard);
window.addEventListener("resize", fitCard);

// Every POST goes through one chain, so an undo never overtakes the decision it takes back.
function enqueue(work) {
  S.chain = S.chain.then(work).catch((err) => toast(failed(err)));
  return S.chain;
}

function setQuery() { return S.set ? `&set=${encodeURIComponent(S.set)}` : ""; }

function showStats(stats) {
  if (!stats) return;
  S.stats = stats;
  $("count-left").textContent = stats.left;
  $("count-kept").textContent = stats.kept;
  $("count-rate").textContent = fmt(stats.rate_per_min, stats.rate_per_min >= 10 ? 0 : 1);
  const m = stats.model;
  const line = $("model-line");
  line.replaceChildren();
  if (m && m.model) {
    line.append("Taste: ", el("b", { id: "accuracy", text: pct(m.model.held_out_accuracy) }),
      ` held-out accuracy · ${m.model.n} decisions · ${m.model.heads.join(" + ")}`, m.training ? " · training…" : "");
  } else {
    line.append(m && m.training ? "learning your taste…" : `no taste learned yet (retrains every ${m ? m.every : 10} decisions)`);
  }
}

async function fetchMore() {
  // One fetch at a time per order/set; a fetch started under an old order or set is discarded.
  if (S.fetching && S.fetchingGen === S.gen) return S.fetching;
  if (S.fetching) await S.fetching;
  const gen = S.gen;
  const exclude = [S.current, ...S.queue].filter(Boolean).map((c) => c.hash).join(",");
  S.fetchingGen = gen;
  S.fetching = (async () => {
    try {
      const data = await api("GET", `/api/next?mode=${S.mode}&limit=8${setQuery()}&exclude=${exclude}`);
      if (gen !== S.gen) return;
      // A fetch may overtake the decision POSTs still in flight: never show again what this tab just decided.
      const known = new Set([S.current, ...S.queue].filter(Boolean).map((c) => c.hash).concat([...S.decided]));
      for (const c of data.candidates) if (!known.has(c.hash)) { S.queue.push(c); new Image().src = `/api/image/${c.hash}`; }
      S.exhausted = data.candidates.length === 0;
      showStats(data.stats);
    } catch (err) {
      toast(failed(err));
    } finally { S.fetching = null; }
  })();
  return S.fetching;
}

function show(candidate) {
  S.current = candidate;
  const card = $("card");
  card.classList.remove("animate");
  card.style.transform = "";
  card.style.opacity = "1";
  document.querySelectorAll(".stamp").forEach((s) => (s.style.opacity = 0));
  // "All decided" only where something was: a root with no candidates says how to get some instead.
  const empty = !candidate && S.exhausted && S.stats && S.stats.total === 0;
  $("done").classList.toggle("hidden", !!candidate || !S.exhausted || empty);
  $("nothing").classList.toggle("hidden", !empty);
  card.classList.toggle("hidden", !candidate);
  $("btn-keep").disabled = $("btn-reject").disabled = !candidate;
  if (!candidate) { card.removeAttribute("data-hash"); card.removeAttribute("data-name"); return; }
  const img = $("card-img");
  img.src = `/api/image/${candidate.hash}`;
  img.alt = `candidate ${candidate.name}`;
  card.dataset.hash = candidate.hash;
  card.dataset.name = candidate.name;
  const prov = candidate.provenance || {};
  S.caption = [candidate.set, prov.seed !== undefined ? `seed ${prov.seed}` : candidate.name].join(" · ");
  $("card-caption").textContent = S.caption;
  if (img.complete && img.naturalWidth) fitCard();
  const p = $("card-p");
  p.classList.toggle("hidden", candidate.p_keep === null || candidate.p_keep === undefined);
  if (candidate.p_keep !== null && candidate.p_keep !== undefined) p.textContent = `model: ${Math.round(candidate.p_keep * 100)}% keep`;
}

// A 64² candidate is shown at a whole-number zoom (at most MAX_ZOOM), smoothly filtered, and the caption
// says its real size: stretched to fill the card, its texture would look worse than it is.
function fitCard() {
  const img = $("card-img");
  const zoom = fitWhole(img, $("card"), MAX_ZOOM);
  if (zoom && S.current) $("card-caption").textContent = `${S.caption} · ${sizeNote(img, zoom)}`;
}

async function advance() {
  // Wait for this tab's decisions in flight before asking again, so the server never offers them back.
  for (let attempt = 0; attempt < 5 && !S.queue.length; attempt++) {
    await S.chain;
    await fetchMore();
    if (S.exhausted) break;
  }
  show(S.queue.shift() || null);
}

function flyOut(decision, fromTransform) {
  // A copy of the card flies away while the real card already shows the next candidate.
  const card = $("card");
  const ghost = card.cloneNode(true);
  ghost.removeAttribute("id");
  ghost.querySelectorAll("[id]").forEach((n) => n.removeAttribute("id"));  // ids stay the real card's alone
  ghost.removeAttribute("data-hash");
  ghost.removeAttribute("data-name");
  ghost.setAttribute("aria-hidden", "true");
  Object.assign(ghost.style, { position: "absolute", left: `${card.offsetLeft}px`, top: `${card.offsetTop}px`,
    width: `${card.offsetWidth}px`, height: `${card.offsetHeight}px`, transform: fromTransform || "", zIndex: 3, pointerEvents: "none" });
  ghost.querySelector(`.stamp.${decision}`).style.opacity = 1;
  card.parentNode.append(ghost);
  requestAnimationFrame(() => {
    ghost.classList.add("animate");
    ghost.style.transform = `translateX(${decision === "keep" ? 110 : -110}vw) rotate(${decision === "keep" ? 24 : -24}deg)`;
    ghost.style.opacity = "0";
  });
  setTimeout(() => ghost.remove(), 300);
}

function decide(decision, fromTransform) {
  const c = S.current;
  if (!c) return;
  flyOut(decision, fromTransform);
  S.current = null;
  S.decided.add(c.hash);
  enqueue(async () => {
    const data = await api("POST", `/api/decide?${setQuery().slice(1)}`, { hash: c.hash, decision });
    showStats(data.stats);
  });
  if (S.queue.length) { show(S.queue.shift()); if (S.queue.length < 4) fetchMore(); }
  else { show(null); advance(); }
}

function undo() {
  enqueue(async () => {
    const data = await api("POST", `/api/undo?${setQuery().slice(1)}`, {});
    showStats(data.stats);
    if (!data.undone) { toast("nothing to undo"); return; }
    if (!data.candidate) { toast("another tab has decided that one since: its decision stands"); return; }
    if (S.current) S.queue.unshift(S.current);
    S.queue = S.queue.filter((q) => q.hash !== data.candidate.hash);
    S.decided.delete(data.candidate.hash);
    show(data.candidate);
    toast(`undone: ${data.candidate.name}`);
  });
}

// ------------------------------------------------------------------ swipe (pointer events: mouse, pen, touch)
(function swipe() {
  const card = $("card");
  let start = null;
  card.addEventListener("pointerdown", (e) => {
    if (!S.current) return;
    start = { x: e.clientX, y: e.clientY, t: performance.now() };
    card.setPointerCapture(e.pointerId);
    card.classList.add("dragging");
    card.classList.remove("animate");
  });
  card.addEventListener("pointermove", (e) => {
    if (!start) return;
    const dx = e.clientX - start.x;
    card.style.transform = `translateX(${dx}px) rotate(${dx / 24}deg)`;
    document.querySelector(".stamp.keep").style.opacity = Math.max(0, Math.min(1, dx / 120));
    document.querySelector(".stamp.reject").style.opacity = Math.max(0, Math.min(1, -dx / 120));
  });
  const end = (e) => {
    if (!start) return;
    const dx = e.clientX - start.x;
    const speed = Math.abs(dx) / Math.max(1, performance.now() - start.t);
    start = null;
    card.classList.remove("dragging");
    if (Math.abs(dx) > Math.min(140, card.clientWidth * 0.25) || (Math.abs(dx) > 40 && speed > 0.6)) {
      decide(dx > 0 ? "keep" : "reject", card.style.transform);
    } else {
      card.classList.add("animate");
      card.style.transform = "";
      document.querySelectorAll(".stamp").forEach((s) => (s.style.opacity = 0));
    }
  };
  card.addEventListener("pointerup", end);
  card.addEventListener("pointercancel", end);
})();

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT" || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.key === "ArrowRight") { e.preventDefault(); decide("keep"); }
  else if (e.key === "ArrowLeft") { e.preventDefault(); decide("reject"); }
  else if (e.key === "Backspace") { e.preventDefault(); undo(); }
});
$("btn-keep").addEventListener("click", () => decide("keep"));
$("btn-reject").addEventListener("click", () => decide("reject"));
$("btn-undo").addEventListener("click", undo);
$("retrain").addEventListener("click", () => enqueue(async () => { await api("POST", "/api/retrain", {}); toast("retraining the taste…"); }));

function setMode(mode) {
  S.mode = mode;
  localStorage.setItem("belamy-mode", mode);
  document.querySelectorAll(".toggle button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
}
document.querySelectorAll(".toggle button").forEach((b) => b.addEventListener("click", async () => {
  // The card on screen stays; what comes after it follows the new order.
  setMode(b.dataset.mode);
  S.gen += 1;
  S.queue = [];
  await fetchMore();
  if (!S.current) show(S.queue.shift() || null);
}));

async function loadSets() {
  const data = await api("GET", "/api/sets");
  const select = $("set-select");
  select.replaceChildren(el("option", { value: "", text: "All sets" }),
    ...data.sets.map((s) => el("option", { value: s.name, text: `${s.name} (${s.left} left)` })));
  if (S.set && !data.sets.some((s) => s.name === S.set)) S.set = "";
  select.value = S.set;
}
$("set-select").addEventListener("change", async (e) => {
  S.set = e.target.value;
  history.replaceState(null, "", S.set ? `?set=${encodeURIComponent(S.set)}` : location.pathname);
  S.gen += 1;
  S.queue = [];
  S.exhausted = false;
  show(null);
  await fetchMore();
  show(S.queue.shift() || null);
});

async function pollStats() {
  try { showStats(await api("GET", `/api/stats?${setQuery().slice(1)}`)); } catch (err) { failed(err); /* offline: try again later */ }
}

(async () => {
  setMode(S.mode);
  try {
    await loadSets();
    await fetchMore();
    show(S.queue.shift() || null);
    document.body.dataset.ready = "1";
  } catch (err) { toast(failed(err)); }
  setInterval(pollStats, 4000);
})();
