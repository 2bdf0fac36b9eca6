// Shared by every studio page: the API helper (CSRF header, per-tab client id), small DOM helpers.
"use strict";

const CSRF = document.querySelector('meta[name="belamy-csrf"]').content;

// One id per browser tab: undo takes back this tab's last decision, never another tab's.
const CLIENT = (() => {
  let id = sessionStorage.getItem("belamy-client");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("belamy-client", id);
  }
  return id;
})();

// What the server said no to, or a server out of reach: shown to the user, not a bug in the page.
class ApiError extends Error {}

async function api(method, path, body) {
  const headers = { "X-Belamy-Client": CLIENT };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    headers["X-Belamy-CSRF"] = CSRF;
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  let response;
  try { response = await fetch(path, init); } catch (err) { throw new ApiError(`server unreachable (${err.message})`); }
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail;
    const message = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
    throw new ApiError(message);
  }
  return data;
}

// A caught error is shown; one that is not the server's answer is a bug in the page, and is logged as one
// (the browser tests fail on any console error).
function failed(err) {
  if (!(err instanceof ApiError)) console.error(err);
  return err.message;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

let toastTimer = null;
function toast(message) {
  let node = document.getElementById("toast");
  if (!node) { node = el("div", { id: "toast", class: "toast", role: "status" }); document.body.append(node); }
  node.textContent = message;
  node.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => node.classList.remove("show"), 2600);
}

function fmt(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : Number(value).toFixed(digits);
}

function pct(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
}

// Show ``img`` inside ``box`` at a whole-number zoom of its real size (at most ``maxZoom``), smoothly
// filtered; one larger than the box is fitted down. Returns the zoom, or 0 before the image has loaded.
function fitWhole(img, box, maxZoom = 4) {
  const w = img.naturalWidth, h = img.naturalHeight;
  if (!w || !h || !box.clientWidth || !box.clientHeight) return 0;
  const room = Math.min(box.clientWidth / w, box.clientHeight / h);
  const zoom = room >= 1 ? Math.max(1, Math.min(maxZoom, Math.floor(room))) : room;
  img.style.width = `${Math.round(w * zoom)}px`;
  img.style.height = `${Math.round(h * zoom)}px`;
  img.dataset.zoom = String(zoom);
  return zoom;
}

function sizeNote(img, zoom) {
  const shown = zoom >= 1 ? `${zoom}×` : `${Math.round(zoom * 100)}%`;
  return `${img.naturalWidth} × ${img.naturalHeight} px, shown at ${shown}`;
}
