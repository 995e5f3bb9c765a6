// Policy: the score ring and its eight checks, the rules, the YAML.

import { getAll } from "../api.js";
import { h, num, card, table, badge, facts } from "../dom.js";
import { scoreRing } from "../charts.js";

export const title = "Policy";
export const refreshOnViews = true;

function conditions(value) {
  if (!value || !Object.keys(value).length) return "—";
  return h("code", null, JSON.stringify(value));
}

export async function render({ signal }) {
  const data = await getAll(
    {
      score: ["api/v1/dashboard/policy/score"],
      summary: ["api/v1/dashboard/policy/summary"],
      yaml: ["api/v1/dashboard/policy/yaml"],
    },
    { signal },
  );
  const { score, summary, yaml } = data;
  const checks = h(
    "ul",
    { class: "checks", id: "policy-checks" },
    score.checks.map((c) =>
      h(
        "li",
        { class: c.passed ? "pass" : "fail", dataset: { passed: String(c.passed) } },
        h("span", { class: "check-mark", "aria-hidden": "true" }, c.passed ? "✓" : "✗"),
        h("span", { class: "check-name" }, c.name),
        h("span", { class: "visually-hidden" }, c.passed ? " passed" : " not passed"),
        h("span", { class: "check-points num" }, `${c.passed ? c.points : 0} / ${c.points} pts`),
      ),
    ),
  );
  const columns = [
    { label: "#", numeric: true, cell: (_, i) => String(i + 1) },
    { label: "Name", cell: (r) => r.name || h("span", { class: "muted" }, "(unnamed)") },
    { label: "Action type", cell: (r) => h("code", null, r.match_type) },
    { label: "Target", cell: (r) => h("code", null, r.match_target) },
    { label: "Risk", cell: (r) => badge(r.risk_level, "risk") },
    { label: "Approval", cell: (r) => badge(r.approval, "approval") },
    { label: "Conditions", cell: (r) => conditions(r.conditions) },
  ];
  const node = h(
    "div",
    { class: "page-grid" },
    card(
      "Policy score",
      h("div", { class: "score-row" }, scoreRing(score.score, score.grade, "Policy score"), h("div", null, h("p", { id: "policy-score", class: "big" }, `${score.score} / 100`), h("p", { id: "policy-grade" }, `Grade ${score.grade}`))),
    ),
    h("div", { class: "span-2" }, card("Checks", checks)),
    card(
      "Defaults",
      facts([
        ["Rules", h("span", { id: "policy-rule-count" }, num(summary.rule_count))],
        ["Default risk", badge(summary.default_risk_level, "risk")],
        ["Default approval", badge(summary.default_approval, "approval")],
        ["Blocks destructive actions", summary.has_destructive_blocks ? "yes" : "no"],
        ["Approval gates", summary.has_approval_gates ? "yes" : "no"],
      ]),
    ),
    h("div", { class: "span-all" }, card(`Rules (${num(summary.rule_count)})`, summary.rules.length ? table("Policy rules, in evaluation order", columns, summary.rules, { id: "rules-table" }) : h("p", { class: "empty" }, "No rules: every action gets the defaults."))),
    h("div", { class: "span-all" }, card("YAML", h("pre", { class: "yaml", id: "policy-yaml", tabindex: "0", "aria-label": "The policy as YAML" }, h("code", null, yaml.yaml)))),
  );
  return { node };
}
