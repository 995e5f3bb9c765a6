// Audit log: every filter the API has, paging, one entry's detail, and a JSON Lines export.

import { get, getAll } from "../api.js";
import { h, num, when, badge, table, card, replace } from "../dom.js";

export const title = "Audit log";
export const refreshOnViews = false; // a table being read is not redrawn; a notice offers a refresh

const FILTERS = ["risk_level", "action_type", "agent_id", "result_status"];
const SIZES = [25, 50, 100];
const EXPORT_PAGE = 1000; // the API's largest page
const EXPORT_MAX = 100_000;
let unseen = 0;

function filtersOf(params) {
  const out = {};
  for (const f of FILTERS) if (params.get(f)) out[f] = params.get(f);
  return out;
}

function hashFor(filters, limit, offset) {
  const q = new URLSearchParams({ ...filters });
  if (limit !== 50) q.set("limit", String(limit));
  if (offset) q.set("offset", String(offset));
  const text = q.toString();
  return `#/audit${text ? `?${text}` : ""}`;
}

function field(label, id, control) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

function datalist(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

function filterForm(filters, limit, stats, overview, navigate) {
  const risk = h(
    "select",
    { id: "f-risk_level", name: "risk_level" },
    h("option", { value: "" }, "Any"),
    ["LOW", "MEDIUM", "HIGH", "CRITICAL"].map((r) => h("option", { value: r, selected: filters.risk_level?.toUpperCase() === r }, r)),
  );
  const text = (name, list) => h("input", { id: `f-${name}`, name, type: "text", value: filters[name] || "", list, autocomplete: "off", spellcheck: "false" });
  const size = h("select", { id: "f-limit", name: "limit" }, SIZES.map((n) => h("option", { value: n, selected: n === limit }, String(n))));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    field("Risk level", "f-risk_level", risk),
    field("Action type", "f-action_type", text("action_type", "dl-action_type")),
    field("Agent", "f-agent_id", text("agent_id", "dl-agent_id")),
    field("Result status", "f-result_status", text("result_status", "dl-result_status")),
    field("Per page", "f-limit", size),
    h("div", { class: "field actions" }, h("button", { type: "submit", id: "f-apply" }, "Apply"), h("button", { type: "reset", class: "secondary", id: "f-clear" }, "Clear")),
    datalist("dl-action_type", Object.keys(stats.by_action_type)),
    datalist("dl-agent_id", Object.keys(stats.by_agent)),
    datalist("dl-result_status", Object.keys(overview.status_distribution)),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const chosen = {};
    for (const f of FILTERS) if (String(data.get(f) || "").trim()) chosen[f] = String(data.get(f)).trim();
    navigate(hashFor(chosen, Number(data.get("limit")) || 50, 0));
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    navigate(hashFor({}, limit, 0));
  });
  return form;
}

function pretty(jsonText) {
  if (jsonText === null || jsonText === undefined) return "—";
  try {
    return JSON.stringify(JSON.parse(jsonText), null, 2);
  } catch {
    return String(jsonText);
  }
}

function detailDialog() {
  const body = h("div", { class: "detail-body" });
  const heading = h("h2", { id: "detail-title" }, "Entry");
  const dialog = h(
    "dialog",
    { id: "audit-detail", "aria-labelledby": "detail-title" },
    h("div", { class: "dialog-head" }, heading, h("button", { type: "button", class: "secondary", id: "detail-close", onclick: () => dialog.close() }, "Close")),
    body,
  );
  const showEntry = (row, navigate) => {
    heading.textContent = `Entry #${row.id}`;
    const rows = Object.entries(row).map(([k, v]) => {
      const value = k === "action_params" || k === "result_data" ? h("pre", null, h("code", null, pretty(v))) : v === null || v === "" ? "—" : String(v);
      return h("div", { dataset: { key: k } }, h("dt", null, k), h("dd", null, value));
    });
    const filterBy = (name, value) => h("button", { type: "button", class: "secondary", onclick: () => { dialog.close(); navigate(hashFor({ [name]: value }, 50, 0)); } }, `All of ${name.replace("_", " ")} ${value}`);
    replace(body, h("dl", { class: "facts detail" }, rows), h("div", { class: "row-actions" }, row.agent_id ? filterBy("agent_id", row.agent_id) : null, filterBy("action_type", row.action_type)));
    dialog.showModal();
    dialog.querySelector("#detail-close").focus();
  };
  return { dialog, showEntry };
}

async function exportJsonl(filters, total, status, signal) {
  const wanted = Math.min(total, EXPORT_MAX);
  const seen = new Set();
  const lines = [];
  for (let offset = 0; lines.length < wanted; offset += EXPORT_PAGE) {
    status.textContent = `Exporting: ${num(lines.length)} of ${num(wanted)} entries…`;
    const page = await get("api/v1/dashboard/audit/recent", { ...filters, limit: EXPORT_PAGE, offset }, { signal });
    if (!page.entries.length) break;
    for (const row of page.entries) {
      if (seen.has(row.id) || lines.length >= wanted) continue; // new events shift pages: skip repeats
      seen.add(row.id);
      lines.push(JSON.stringify(row));
    }
  }
  const blob = new Blob(lines.length ? [lines.join("\n"), "\n"] : [], { type: "application/x-ndjson" });
  const a = h("a", { href: URL.createObjectURL(blob), download: `aegis-audit-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.jsonl` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  const capped = total > EXPORT_MAX ? ` (the newest ${num(EXPORT_MAX)}; narrow the filter for the rest)` : "";
  status.textContent = `Exported ${num(lines.length)} entries${capped}.`;
}

export async function render({ params, navigate, signal }) {
  unseen = 0;
  const filters = filtersOf(params);
  const limit = SIZES.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : 50;
  const offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  const data = await getAll(
    {
      page: ["api/v1/dashboard/audit/recent", { ...filters, limit, offset }],
      stats: ["api/v1/dashboard/audit/stats"],
      overview: ["api/v1/dashboard/overview"],
    },
    { signal },
  );
  const page = data.page;
  const { dialog, showEntry } = detailDialog();
  const first = page.entries.length ? offset + 1 : 0;
  const last = offset + page.entries.length;
  const columns = [
    { label: "ID", numeric: true, cell: (r) => h("button", { type: "button", class: "link", "aria-label": `Details of entry ${r.id}`, onclick: () => showEntry(r, navigate) }, `#${r.id}`) },
    { label: "Time (UTC)", cell: (r) => h("time", { datetime: r.timestamp }, when(r.timestamp)) },
    { label: "Agent", cell: (r) => r.agent_id || "default" },
    { label: "Action", cell: (r) => r.action_type },
    { label: "Target", cell: (r) => h("span", { class: "truncate", title: r.action_target }, r.action_target) },
    { label: "Risk", cell: (r) => badge(r.risk_level, "risk") },
    { label: "Approval", cell: (r) => badge(r.approval, "approval") },
    { label: "Status", cell: (r) => r.result_status || "—" },
  ];
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", id: "page-prev", disabled: offset <= 0, onclick: () => navigate(hashFor(filters, limit, Math.max(0, offset - limit))) }, "Previous"),
    h("span", null, `Page ${num(Math.floor(offset / limit) + 1)} of ${num(Math.max(1, Math.ceil(page.total / limit)))}`),
    h("button", { type: "button", id: "page-next", disabled: last >= page.total, onclick: () => navigate(hashFor(filters, limit, offset + limit)) }, "Next"),
  );
  const exportStatus = h("p", { id: "export-status", class: "muted", role: "status" });
  const exportButton = h("button", { type: "button", id: "export", class: "secondary", disabled: !page.total }, "Export JSON Lines");
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      await exportJsonl(filters, page.total, exportStatus, signal);
    } catch (e) {
      if (e.name !== "AbortError") exportStatus.textContent = `Export failed: ${e.message}`;
    } finally {
      exportButton.disabled = false;
    }
  });
  const notice = h("div", { id: "audit-notice", class: "notice", role: "status", hidden: true });
  const off = page.configured === false ? h("p", { class: "notice" }, "The audit log is switched off (AEGIS_AUDIT_LOG=false).") : null;
  const node = h(
    "div",
    { class: "stack-page" },
    card("Filters", filterForm(filters, limit, data.stats, data.overview, navigate)),
    h(
      "section",
      { class: "card", "aria-labelledby": "h-entries" },
      h("div", { class: "card-head" }, h("h2", { id: "h-entries" }, "Entries"), exportButton),
      off,
      notice,
      h("p", { id: "audit-count", dataset: { total: String(page.total) } }, page.total ? `Showing ${num(first)}–${num(last)} of ${num(page.total)} entries` : "No entries match."),
      exportStatus,
      table("Audit log entries, newest first", columns, page.entries, { id: "audit-table" }),
      pager,
    ),
    dialog,
  );
  function onEvents(d) {
    unseen += d.count || 0;
    if (!unseen) return;
    replace(notice, `${num(unseen)} new event${unseen === 1 ? "" : "s"} since this page was loaded. `, h("button", { type: "button", class: "link", onclick: () => navigate(location.hash, { force: true }) }, "Refresh"));
    notice.hidden = false;
  }
  return { node, onEvents };
}
