// Compliance: governance, SOC 2 and GDPR reports, one tab each, with their findings.

import { get } from "../api.js";
import { h, num, when, card, kpi, badge, tabs, tabPanel } from "../dom.js";
import { scoreRing } from "../charts.js";

export const title = "Compliance";
export const refreshOnViews = true;

export const REPORTS = [
  { id: "governance", label: "Governance" },
  { id: "soc2", label: "SOC 2" },
  { id: "gdpr", label: "GDPR" },
];

const ORDER = { critical: 0, warning: 1, info: 2 };

function findings(list) {
  if (!list.length) return h("p", { class: "empty", id: "findings" }, "No findings.");
  const sorted = [...list].sort((a, b) => (ORDER[a.severity] ?? 3) - (ORDER[b.severity] ?? 3));
  return h(
    "ol",
    { class: "findings", id: "findings" },
    sorted.map((f) =>
      h(
        "li",
        { class: `finding sev-${f.severity}` },
        h("p", { class: "finding-head" }, badge(f.severity, "sev"), " ", h("strong", null, f.title), h("span", { class: "muted" }, ` · ${f.category}`)),
        h("p", null, f.description),
        f.recommendation ? h("p", { class: "recommendation" }, h("span", { class: "muted" }, "Recommendation: "), f.recommendation) : null,
      ),
    ),
  );
}

export async function render({ sub, navigate, signal }) {
  const kind = REPORTS.some((r) => r.id === sub) ? sub : "governance";
  const r = await get("api/v1/dashboard/compliance/report", { type: kind }, { signal });
  const panel = tabPanel(
    kind,
    h(
      "div",
      { class: "page-grid" },
      card(
        "Score",
        h("div", { class: "score-row" }, scoreRing(r.score, r.grade, `${REPORTS.find((x) => x.id === kind).label} score`), h("div", null, h("p", { id: "report-score", class: "big" }, `${r.score} / 100`), h("p", { id: "report-grade" }, `Grade ${r.grade}`))),
      ),
      h("div", { class: "span-2" }, card("Summary", h("p", { id: "report-summary" }, r.summary), h("p", { class: "muted" }, `Events from ${when(r.period_start)} to ${when(r.period_end)} UTC; generated ${when(r.generated_at)} UTC.`))),
      h(
        "div",
        { class: "kpis span-all" },
        kpi("Actions", num(r.total_actions), { id: "report-total" }),
        kpi("Blocked", num(r.blocked_actions), { id: "report-blocked", tone: "bad" }),
        kpi("Approved", num(r.approved_actions), { id: "report-approved", tone: "warn" }),
        kpi("Auto-approved", num(r.auto_approved), { id: "report-auto", tone: "ok" }),
      ),
      h("div", { class: "span-all" }, card(`Findings (${num(r.findings.length)})`, findings(r.findings))),
    ),
  );
  const node = h("div", { class: "stack-page" }, tabs("Report type", REPORTS, kind, (id) => navigate(`#/compliance/${id}`, { keepFocus: true })), panel);
  return { node };
}
