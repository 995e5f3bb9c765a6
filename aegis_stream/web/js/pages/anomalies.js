// Anomalies: high-block-rate alerts, every agent's profile, one agent's detail.

import { getAll } from "../api.js";
import { h, num, pct, when, card, table, kpi, bars, facts } from "../dom.js";

export const title = "Anomalies";
export const refreshOnViews = true;

const TOP = 20;

/** Block rates: under 10% fine, under 50% worth a look, from 50% alarming (the alert threshold). */
export function rateTone(rate) {
  return rate >= 0.5 ? "bad" : rate >= 0.1 ? "warn" : "ok";
}

function rateCell(rate) {
  const fill = h("span", { class: `bar-fill tone-${rateTone(rate)}` });
  fill.style.width = `${Math.min(100, rate * 100)}%`;
  return h("span", { class: `rate rate-${rateTone(rate)}` }, h("span", { class: "bar-track", "aria-hidden": "true" }, fill), h("span", { class: "num" }, pct(rate)));
}

function agentHref(agent) {
  return `#/anomalies/${encodeURIComponent(agent)}`;
}

function top(counts) {
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, TOP));
}

function detail(profile) {
  const more = (counts, overflow) => {
    const n = Object.keys(counts).length;
    const hidden = n > TOP ? `${num(n - TOP)} more not shown. ` : "";
    const over = overflow ? `${num(overflow)} events past the per-agent cap.` : "";
    return hidden || over ? h("p", { class: "muted" }, hidden, over) : null;
  };
  return h(
    "div",
    { class: "page-grid", id: "agent-detail" },
    h("p", { class: "span-all" }, h("a", { href: "#/anomalies" }, "← All agents")),
    h(
      "div",
      { class: "kpis span-all" },
      kpi("Actions", num(profile.total_actions), { id: "agent-total" }),
      kpi("Blocked", num(profile.blocked_count), { id: "agent-blocked", tone: "bad" }),
      kpi("Block rate", pct(profile.block_rate), { id: "agent-rate", tone: rateTone(profile.block_rate) }),
    ),
    card(
      "Activity",
      facts([
        ["First seen", when(profile.first_seen)],
        ["Last seen", when(profile.last_seen)],
      ]),
      h("p", null, h("a", { href: `#/audit?agent_id=${encodeURIComponent(profile.agent_id)}` }, "Open this agent's audit log")),
    ),
    card("Action types", bars(top(profile.action_types), { id: "agent-types", label: "Actions by type" }), more(profile.action_types, profile.action_types_overflow)),
    card("Targets", bars(top(profile.targets), { id: "agent-targets", label: "Actions by target" }), more(profile.targets, profile.targets_overflow)),
  );
}

export async function render({ sub, signal }) {
  const data = await getAll({ profiles: ["api/v1/dashboard/anomalies/profiles"], alerts: ["api/v1/dashboard/anomalies/alerts"] }, { signal });
  if (data.profiles.configured === false) {
    return { node: card("Anomalies", h("p", { class: "notice" }, "Anomaly projection is switched off (AEGIS_ANOMALIES=false).")) };
  }
  const profiles = data.profiles.profiles;
  if (sub) {
    const profile = profiles.find((p) => p.agent_id === sub);
    if (!profile) return { node: card(`Agent ${sub}`, h("p", null, "No such agent. "), h("a", { href: "#/anomalies" }, "All agents")), heading: `Agent ${sub}` };
    return { node: detail(profile), heading: `Agent ${sub}` };
  }
  const alerts = data.alerts.alerts;
  const alertList = alerts.length
    ? h(
        "ul",
        { class: "alerts", id: "alert-list" },
        alerts.map((a) =>
          h(
            "li",
            { class: `alert tone-${a.severity >= 0.8 ? "crit" : "bad"}` },
            h("p", { class: "alert-head" }, h("a", { href: agentHref(a.agent_id) }, a.agent_id), h("span", { class: "muted" }, ` · severity ${pct(a.severity, 0)} · ${when(a.timestamp)}`)),
            h("p", null, a.message),
          ),
        ),
      )
    : h("p", { id: "alert-list", class: "empty" }, "No alerts: no agent with 5 or more actions has more than half of them blocked.");
  const columns = [
    { label: "Agent", cell: (p) => h("a", { href: agentHref(p.agent_id) }, p.agent_id) },
    { label: "Actions", numeric: true, cell: (p) => num(p.total_actions) },
    { label: "Blocked", numeric: true, cell: (p) => num(p.blocked_count) },
    { label: "Block rate", cell: (p) => rateCell(p.block_rate) },
    { label: "Action types", numeric: true, cell: (p) => num(Object.keys(p.action_types).length) },
    { label: "First seen (UTC)", cell: (p) => when(p.first_seen) },
    { label: "Last seen (UTC)", cell: (p) => when(p.last_seen) },
  ];
  const node = h(
    "div",
    { class: "stack-page" },
    card(`Alerts (${num(alerts.length)})`, alertList),
    card(
      `Agent profiles (${num(profiles.length)})`,
      h("p", { class: "muted" }, "Block rate: green under 10%, amber under 50%, red from 50% (the alert threshold)."),
      table("Behaviour profile of every agent", columns, profiles, { id: "profiles-table", rowAttrs: (p) => ({ dataset: { agent: p.agent_id } }) }),
    ),
  );
  return { node };
}
