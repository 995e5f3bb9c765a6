// Regulatory: gap analysis against all five frameworks (OWASP agentic included), one tab each.

import { getAll } from "../api.js";
import { h, num, card, kpi, table, tabs, tabPanel } from "../dom.js";
import { stackBar } from "../charts.js";

export const title = "Regulatory";
export const refreshOnViews = false; // static: every feature is built in

export const FRAMEWORKS = [
  { id: "eu_ai_act", label: "EU AI Act" },
  { id: "nist_ai_rmf", label: "NIST AI RMF" },
  { id: "soc2", label: "SOC 2" },
  { id: "iso_42001", label: "ISO/IEC 42001" },
  { id: "owasp_agentic", label: "OWASP Agentic" },
];

export async function render({ sub, navigate, signal }) {
  const chosen = FRAMEWORKS.some((f) => f.id === sub) ? sub : "eu_ai_act";
  const spec = Object.fromEntries(FRAMEWORKS.map((f) => [f.id, ["api/v1/dashboard/compliance/regulatory", { framework: f.id }]]));
  const all = await getAll(spec, { signal });
  const r = all[chosen];
  const overviewList = h(
    "ul",
    { class: "framework-scores", id: "framework-scores" },
    FRAMEWORKS.map((f) => {
      const fill = h("span", { class: "bar-fill tone-ok" });
      fill.style.width = `${all[f.id].coverage_score}%`;
      return h(
        "li",
        { dataset: { framework: f.id } },
        h("a", { href: `#/regulatory/${f.id}`, class: "bar-label" }, f.label),
        h("span", { class: "bar-track", "aria-hidden": "true" }, fill),
        h("span", { class: "bar-value num" }, `${all[f.id].coverage_score}%`),
      );
    }),
  );
  const gapColumns = [
    { label: "Requirement", cell: (g) => h("code", null, g.requirement_id) },
    { label: "Title", cell: (g) => g.title },
    { label: "Category", cell: (g) => g.category },
    { label: "Mandatory", cell: (g) => (g.mandatory ? "yes" : "no") },
    { label: "Deadline", cell: (g) => g.deadline || "—" },
    { label: "Penalty", cell: (g) => g.penalty || "—" },
    { label: "Description", cell: (g) => g.description },
  ];
  const panel = tabPanel(
    chosen,
    h(
      "div",
      { class: "page-grid" },
      h(
        "div",
        { class: "kpis span-all" },
        kpi("Coverage", `${r.coverage_score}%`, { id: "reg-coverage" }),
        kpi("Requirements", num(r.total_requirements), { id: "reg-total" }),
        kpi("Fully covered", num(r.fully_covered), { id: "reg-full", tone: "ok" }),
        kpi("Partly covered", num(r.partially_covered), { id: "reg-partial", tone: "warn" }),
        kpi("Not covered", num(r.not_covered), { id: "reg-none", tone: "bad" }),
      ),
      h(
        "div",
        { class: "span-all" },
        card(
          "Coverage",
          stackBar(
            [
              { label: "Fully covered", n: r.fully_covered, tone: "ok" },
              { label: "Partly covered", n: r.partially_covered, tone: "warn" },
              { label: "Not covered", n: r.not_covered, tone: "bad" },
            ],
            "Requirements by coverage",
          ),
        ),
      ),
      h("div", { class: "span-all" }, card(`Gaps (${num(r.gaps.length)})`, r.gaps.length ? table("Requirements not fully covered", gapColumns, r.gaps, { id: "gaps-table" }) : h("p", { class: "empty", id: "gaps-table" }, "No gaps."))),
      h("div", { class: "span-all" }, card("Recommendations", h("ul", { id: "reg-recommendations" }, r.recommendations.map((t) => h("li", null, t))))),
    ),
  );
  const node = h(
    "div",
    { class: "stack-page" },
    card("All frameworks", overviewList),
    tabs("Framework", FRAMEWORKS, chosen, (id) => navigate(`#/regulatory/${id}`, { keepFocus: true })),
    panel,
  );
  return { node };
}
