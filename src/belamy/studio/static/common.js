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

async function api(method, path, body) {
  const headers = { "X-Belamy-Client": CLIENT };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    headers["X-Belamy-CSRF"] = CSRF;
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail;
    const message = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
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
