// System: service health and the pipeline (lag, pending, dead letters, throughput, partitions).

import { get } from "../api.js";
import { h, num, when, duration, card, kpi, table, facts } from "../dom.js";
import { sparkline } from "../charts.js";

export const title = "System";
export const refreshOnViews = true;
export const pollMs = 2000; // throughput is measured in the page from successive samples

const SAMPLES = 60;
const samples = []; // {t, applied}; kept across renders

function applied(health) {
  return health.pipeline.partitions.reduce((a, p) => a + p.applied_events, 0);
}

function throughput() {
  if (samples.length < 2) return null;
  const a = samples[samples.length - 2];
  const b = samples[samples.length - 1];
  return b.t > a.t ? Math.max(0, ((b.applied - a.applied) * 1000) / (b.t - a.t)) : null;
}

function rates() {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t;
    out.push(dt > 0 ? Math.max(0, ((samples[i].applied - samples[i - 1].applied) * 1000) / dt) : 0);
  }
  return out;
}

function ago(iso) {
  if (!iso) return "never";
  const ms = Date.now() - Date.parse(iso);
  return `${when(iso)} UTC (${ms >= 0 ? `${duration(ms)} ago` : "just now"})`;
}

export async function render({ signal }) {
  const health = await get("api/v1/dashboard/system/health", null, { signal });
  samples.push({ t: performance.now(), applied: applied(health) });
  if (samples.length > SAMPLES) samples.shift();
  const p = health.pipeline;
  const rate = throughput();
  const columns = [
    { label: "Partition", numeric: true, cell: (x) => String(x.partition) },
    { label: "Stream length", numeric: true, cell: (x) => num(x.length) },
    { label: "Pending", numeric: true, cell: (x) => num(x.pending) },
    { label: "Lag", numeric: true, cell: (x) => (x.lag === null ? "unknown" : num(x.lag)) },
    { label: "Oldest pending", cell: (x) => duration(x.oldest_pending_age_ms) },
    { label: "Applied events", numeric: true, cell: (x) => num(x.applied_events) },
    { label: "Last applied (UTC)", cell: (x) => (x.last_applied_ms ? when(new Date(x.last_applied_ms).toISOString()) : "never") },
    { label: "Checkpoint", cell: (x) => h("code", null, x.checkpoint || "—") },
    { label: "Dead letters", numeric: true, cell: (x) => num(x.dead_letters) },
    { label: "Late", numeric: true, cell: (x) => num(x.late_events) },
    { label: "Duplicates", numeric: true, cell: (x) => num(x.duplicates) },
  ];
  const node = h(
    "div",
    { class: "page-grid" },
    h(
      "div",
      { class: "kpis span-all" },
      kpi("Lag", num(p.lag), { id: "sys-lag", hint: "entries not yet delivered", tone: p.lag ? "warn" : "ok" }),
      kpi("Pending", num(p.pending), { id: "sys-pending", hint: "delivered, not yet applied", tone: p.pending ? "warn" : "ok" }),
      kpi("Dead letters", num(p.dead_letters), { id: "sys-dead", tone: p.dead_letters ? "bad" : "ok" }),
      kpi("Throughput", rate === null ? "—" : `${num(Math.round(rate))}/s`, { id: "sys-throughput", hint: rate === null ? "measuring…" : "events applied per second" }),
    ),
    card(
      "Service",
      facts(
        [
          ["Status", h("span", { id: "sys-status" }, health.status)],
          ["Version", health.version],
          ["Audit entries", h("span", { id: "sys-audit-entries" }, num(health.audit_entries))],
          ["Policy rules", num(health.policy_rules)],
          ["Anomaly detector", health.anomaly_detector ? "on" : "off"],
        ],
        { id: "sys-service" },
      ),
    ),
    card(
      "Pipeline",
      facts(
        [
          ["Stream length", h("span", { id: "sys-length" }, num(p.stream_length))],
          ["Oldest pending", duration(p.oldest_pending_age_ms)],
          ["Late events", num(p.late_events)],
          ["Duplicates", num(p.duplicates)],
          ["Last applied", ago(p.last_applied)],
        ],
        { id: "sys-pipeline" },
      ),
    ),
    card("Throughput", sparkline(rates(), "Events applied per second, last two minutes"), h("p", { class: "muted" }, "Measured in this page every 2 s from the applied-events counters; Prometheus scrapes the same counters at /metrics.")),
    h("div", { class: "span-all" }, card("Partitions", table("Pipeline health of every partition", columns, p.partitions, { id: "partitions-table" }))),
  );
  return { node };
}
