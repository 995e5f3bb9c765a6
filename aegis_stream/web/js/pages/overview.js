// Overview: KPIs, the timeline, distributions, the policy in brief, and the live feed.

import { getAll, get } from "../api.js";
import { h, num, card, kpi, bars, badge, when, facts, replace } from "../dom.js";
import { timelineChart, PERIODS } from "../charts.js";

export const title = "Overview";
export const refreshOnViews = true;

const FEED_SIZE = 25;
const feed = []; // newest first; kept across renders so the feed survives a refresh
let feedLoaded = false;

const RISK_TONE = { LOW: "ok", MEDIUM: "warn", HIGH: "bad", CRITICAL: "crit" };

function feedItem(row, fresh) {
  return h(
    "li",
    { class: ["feed-item", fresh && "fresh"] },
    h("time", { datetime: row.timestamp }, when(row.timestamp)),
    h("span", { class: "feed-agent" }, row.agent_id || "default"),
    h("span", { class: "feed-action" }, row.action_type),
    badge(row.risk_level, "risk"),
    badge(row.approval, "approval"),
    h("span", { class: "feed-target", title: row.action_target }, row.action_target),
  );
}

function feedList() {
  const list = h("ol", { id: "live-feed", class: "feed", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Newest events" });
  if (!feed.length) list.append(h("li", { class: "empty" }, "No events yet."));
  for (const { row, fresh } of feed) list.append(feedItem(row, fresh));
  return list;
}

/** Events pushed by the live stream go to the top of the feed (whichever page is shown). */
export function liveEvents(data) {
  const list = document.getElementById("live-feed");
  const rows = [...(data.events || [])].reverse(); // newest first
  if (!rows.length) return;
  for (const item of feed) item.fresh = false;
  feed.unshift(...rows.map((row) => ({ row, fresh: true })));
  feed.length = Math.min(feed.length, FEED_SIZE);
  if (list) {
    list.querySelector(".empty")?.remove();
    for (const row of [...rows].reverse()) list.prepend(feedItem(row, true));
    while (list.children.length > FEED_SIZE) list.lastElementChild.remove();
  }
}

function timelineCard(initial, period, signal) {
  const summary = h("p", { id: "timeline-summary", class: "muted", "aria-live": "polite" });
  const holder = h("div", { class: "timeline-holder" });
  const buttons = Object.keys(PERIODS).map((p) =>
    h("button", { type: "button", class: "seg-button", "aria-pressed": p === period ? "true" : "false", dataset: { period: p }, onclick: () => show(p) }, p),
  );
  let asked = 0; // the newest request wins, whatever order the answers come in
  function draw(body) {
    const total = body.buckets.reduce((a, b) => a + b.total, 0);
    const blocked = body.buckets.reduce((a, b) => a + b.blocked, 0);
    summary.textContent = `${num(total)} actions, ${num(blocked)} blocked, in the ${PERIODS[body.period]?.label || body.period}`;
    summary.dataset.total = String(total);
    summary.dataset.period = body.period;
    replace(holder, timelineChart(body.buckets, body.period));
  }
  async function show(p) {
    for (const b of buttons) b.setAttribute("aria-pressed", b.dataset.period === p ? "true" : "false");
    sessionStorage.setItem("aegis-stream.period", p);
    const mine = ++asked;
    try {
      const body = await get("api/v1/dashboard/stats/timeline", { period: p }, { signal });
      if (mine === asked) draw(body);
    } catch (e) {
      if (e.name !== "AbortError" && mine === asked) summary.textContent = `The timeline could not be loaded: ${e.message}`;
    }
  }
  draw(initial);
  return card("Timeline", h("div", { class: "seg", role: "group", "aria-label": "Period" }, buttons), summary, holder);
}

export async function render({ signal }) {
  const period = sessionStorage.getItem("aegis-stream.period") || "24h";
  const data = await getAll(
    {
      overview: ["api/v1/dashboard/overview"],
      timeline: ["api/v1/dashboard/stats/timeline", { period }],
      policy: ["api/v1/dashboard/policy/summary"],
      recent: ["api/v1/dashboard/audit/recent", { limit: 10 }],
    },
    { signal },
  );
  if (!feedLoaded) {
    feed.push(...data.recent.entries.map((row) => ({ row, fresh: false })));
    feedLoaded = true;
  }
  const o = data.overview;
  const p = data.policy;
  const node = h(
    "div",
    { class: "page-grid" },
    h(
      "div",
      { class: "kpis span-all" },
      kpi("Total actions", num(o.total_actions), { id: "kpi-total" }),
      kpi("Blocked", num(o.approval_distribution.block), { id: "kpi-blocked", tone: "bad" }),
      kpi("Compliance", `${o.compliance_grade} · ${o.compliance_score}`, { id: "kpi-compliance", hint: "grade · score of 100" }),
      kpi("Active agents", num(o.active_agents), { id: "kpi-agents" }),
    ),
    h("div", { class: "span-2" }, timelineCard(data.timeline, period, signal)),
    card("Live feed", h("p", { class: "muted" }, "Newest events, as they arrive."), feedList()),
    card("Risk levels", bars(o.risk_distribution, { id: "risk-bars", label: "Actions by risk level", tone: (k) => RISK_TONE[k] || "none" })),
    card("Approvals", bars(o.approval_distribution, { id: "approval-bars", label: "Actions by approval", tone: (k) => ({ auto: "ok", approve: "warn", block: "bad" })[k] || "none" })),
    card(
      "Policy",
      facts(
        [
          ["Rules", num(p.rule_count)],
          ["Default risk", badge(p.default_risk_level, "risk")],
          ["Default approval", badge(p.default_approval, "approval")],
          ["Blocks destructive actions", p.has_destructive_blocks ? "yes" : "no"],
          ["Approval gates", p.has_approval_gates ? "yes" : "no"],
        ],
        { id: "policy-facts" },
      ),
      h("p", null, h("a", { href: "#/policy" }, "Policy details")),
    ),
    card("Result status", bars(o.status_distribution, { id: "status-bars", label: "Actions by result status" })),
  );
  return { node };
}
