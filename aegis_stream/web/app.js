// The dashboard's entry point: the token gate, hash routing, and live updates.
//
// Fail closed: nothing but the sign-in form is shown until the API accepts a
// call, and any 401 later (a changed token) puts the form back and forgets
// every rendered page.

import * as api from "./js/api.js";
import { Live } from "./js/live.js";
import { h, replace } from "./js/dom.js";
import * as overview from "./js/pages/overview.js";
import * as audit from "./js/pages/audit.js";
import * as anomalies from "./js/pages/anomalies.js";
import * as policy from "./js/pages/policy.js";
import * as compliance from "./js/pages/compliance.js";
import * as regulatory from "./js/pages/regulatory.js";
import * as system from "./js/pages/system.js";

const PAGES = { overview, audit, anomalies, policy, compliance, regulatory, system };
const STATUS_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline, retrying" };
const REFRESH_MIN_MS = 1000;

const $ = (id) => document.getElementById(id);
const el = {
  app: $("app"),
  main: $("main"),
  gate: $("gate"),
  loading: $("loading"),
  form: $("token-form"),
  input: $("token-input"),
  error: $("token-error"),
  status: $("live-status"),
  signOut: $("sign-out"),
  version: $("version"),
};

let authorized = false;
let live = null;
let current = null; // {page, controller, result, timer}
let nextOptions = null; // options of the navigation that changes the hash
let refreshTimer = null;
let lastRefresh = 0;

/** A percent-decoded route part; a malformed one (a stray "%") is taken as written. */
function decodeOr(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [name, ...rest] = path.split("/");
  return {
    name: PAGES[name] ? name : "overview",
    sub: rest.length ? decodeOr(rest.join("/")) : "",
    params: new URLSearchParams(query),
  };
}

/** Go to a hash route; options: keepFocus (tabs), force (re-render the same route). */
function navigate(hash, options = {}) {
  if (location.hash === hash) {
    if (options.force) show({ ...options, focusHeading: false });
    return;
  }
  nextOptions = options;
  location.hash = hash;
}

function markNav(name) {
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function show({ refresh = false, keepFocus = false, focusHeading = false } = {}) {
  if (!authorized) return;
  const hash = location.hash;
  const route = parseHash();
  const page = PAGES[route.name];
  if (current) {
    current.controller.abort();
    clearTimeout(current.timer);
  }
  const mine = { page, controller: new AbortController(), result: null, timer: null };
  current = mine;
  markNav(route.name);
  if (!refresh) el.main.setAttribute("aria-busy", "true");
  try {
    const result = await page.render({ ...route, navigate, signal: mine.controller.signal });
    if (current !== mine) return;
    const focused = refresh && document.activeElement && el.main.contains(document.activeElement) ? document.activeElement.id : "";
    const name = result.heading || page.title;
    const heading = h("h1", { id: "page-title", tabindex: "-1" }, name);
    replace(el.main, heading, result.node);
    el.main.dataset.route = hash; // which route the content shows (tests wait on it)
    document.title = `${name} · aegis-stream`;
    mine.result = result;
    if (keepFocus) el.main.querySelector('[role="tab"][aria-selected="true"]')?.focus();
    else if (focused) $(focused)?.focus();
    else if (focusHeading) heading.focus();
    if (page.pollMs) mine.timer = setTimeout(() => current === mine && show({ refresh: true }), page.pollMs);
  } catch (e) {
    if (e.name === "AbortError" || current !== mine) return;
    if (e instanceof api.AuthError) {
      lockOut(e);
      return;
    }
    replace(
      el.main,
      h("h1", { id: "page-title", tabindex: "-1" }, page.title),
      h("div", { class: "card notice", role: "alert" }, `This page could not be loaded: ${e.message} `, h("button", { type: "button", onclick: () => show() }, "Try again")),
    );
    if (page.pollMs) mine.timer = setTimeout(() => current === mine && show({ refresh: true }), page.pollMs * 2);
  } finally {
    if (current === mine) el.main.removeAttribute("aria-busy");
  }
}

/** The views changed: redraw the page (at most once a second), unless the user is reading a detail. */
function scheduleRefresh() {
  if (!current || !current.page.refreshOnViews || refreshTimer) return;
  const wait = Math.max(200, REFRESH_MIN_MS - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (!authorized || el.main.querySelector("dialog[open]")) return;
    lastRefresh = Date.now();
    show({ refresh: true });
  }, wait);
}

function setStatus(state) {
  el.status.dataset.state = state;
  el.status.textContent = STATUS_TEXT[state] || state;
}

function lockOut(error) {
  authorized = false;
  if (live) live.stop();
  live = null;
  if (current) {
    current.controller.abort();
    clearTimeout(current.timer);
  }
  current = null;
  api.setToken("");
  el.main.replaceChildren(); // nothing rendered stays behind the gate
  el.app.hidden = true;
  el.status.hidden = true;
  el.signOut.hidden = true;
  el.loading.hidden = true;
  el.gate.hidden = false;
  el.error.textContent = error && error.hadToken ? "That token was not accepted. Check it and try again." : "";
  el.input.value = "";
  document.title = "Sign in · aegis-stream";
  el.input.focus();
}

async function boot() {
  let health;
  try {
    // the open liveness probe says whether a token is needed and whether ours is the one,
    // so signing in (or a wrong token) never costs a refused call
    const probe = await api.get("health");
    if (probe.auth_required && !probe.authorized) {
      lockOut(api.token() ? { hadToken: true } : null);
      return;
    }
    health = await api.get("api/v1/dashboard/system/health");
  } catch (e) {
    if (e instanceof api.AuthError) {
      lockOut(e);
      return;
    }
    el.loading.hidden = false;
    replace(el.loading, h("p", { role: "alert" }, `The API cannot be reached (${e.message}). `, h("button", { type: "button", onclick: () => boot() }, "Try again")));
    return;
  }
  authorized = true;
  el.version.textContent = `aegis-stream ${health.version}`;
  el.loading.hidden = true;
  el.gate.hidden = true;
  el.app.hidden = false;
  el.status.hidden = false;
  el.signOut.hidden = !api.token();
  live = new Live({
    onStatus: setStatus,
    onEvents: (data) => {
      overview.liveEvents(data);
      current?.result?.onEvents?.(data);
    },
    onViews: scheduleRefresh,
    onUnauthorized: () => lockOut({ hadToken: true }),
  });
  live.start();
  await show();
}

el.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const value = el.input.value.trim();
  if (!value) {
    el.error.textContent = "Enter the dashboard token.";
    el.input.focus();
    return;
  }
  api.setToken(value);
  el.error.textContent = "";
  boot();
});

el.signOut.addEventListener("click", () => lockOut(null));

$("skip").addEventListener("click", (e) => {
  e.preventDefault(); // the hash is the router's: move focus instead
  (el.app.hidden ? el.gate : el.main).focus();
});

window.addEventListener("hashchange", () => {
  const options = nextOptions || {};
  nextOptions = null;
  show({ keepFocus: Boolean(options.keepFocus), focusHeading: !options.keepFocus });
});

boot();
