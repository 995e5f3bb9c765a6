// DOM helpers. Text always goes in as text nodes (never HTML), so nothing
// an event carries can become markup; the page's CSP also locks HTML sinks.

const SVG_NS = "http://www.w3.org/2000/svg"; // an XML namespace name, not a resource

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  return el;
}

/** An HTML element: h("p", {class: "x"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Remove every child of el, then append children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const NUMBER = new Intl.NumberFormat("en-US");

/** 1234 -> "1,234"; missing -> "—". */
export function num(n) {
  return n === null || n === undefined ? "—" : NUMBER.format(n);
}

/** 0.1234 -> "12.3%". */
export function pct(ratio, digits = 1) {
  return ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(digits)}%`;
}

/** An ISO timestamp as "YYYY-MM-DD HH:MM:SS" (UTC). */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").slice(0, 19);
}

/** Milliseconds as a short duration: "850 ms", "12 s", "3 min", "2 h". */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A section with a heading: the page's unit of layout. */
export function card(title, ...children) {
  const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** A KPI tile. */
export function kpi(label, value, { id, hint, tone } = {}) {
  return h(
    "div",
    { class: ["kpi", tone && `tone-${tone}`] },
    h("p", { class: "kpi-label" }, label),
    h("p", { class: "kpi-value", id }, value),
    hint ? h("p", { class: "kpi-hint" }, hint) : null,
  );
}

/** A table in a keyboard-scrollable region; columns: [{label, cell(row) -> node|text, numeric}]. */
export function table(caption, columns, rows, { id, rowAttrs } = {}) {
  const head = h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.numeric && "num" }, c.label)));
  const body = rows.map((row, i) =>
    h("tr", rowAttrs ? rowAttrs(row, i) : null, columns.map((c) => h("td", { class: c.numeric && "num" }, c.cell(row, i)))),
  );
  const tbl = h("table", { id }, h("caption", null, caption), h("thead", null, head), h("tbody", null, body));
  return h("div", { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" }, tbl);
}

/** A badge for a risk level, approval or severity. */
export function badge(value, kind = "") {
  const text = value === null || value === undefined ? "—" : String(value);
  return h("span", { class: ["badge", kind && `badge-${kind}-${text.toLowerCase()}`] }, text);
}

/** Definition list from [label, value] pairs. */
export function facts(pairs, attrs) {
  return h("dl", { class: "facts", ...attrs }, pairs.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))));
}

/**
 * Accessible tabs: [{id, label}], the selected id, and onSelect(id).
 * Arrow keys, Home and End move between tabs (roving tabindex).
 */
export function tabs(label, items, selected, onSelect) {
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
  const buttons = items.map((item) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${item.id}`,
        "aria-selected": item.id === selected ? "true" : "false",
        "aria-controls": item.id === selected ? `panel-${item.id}` : null, // only the shown panel exists
        tabindex: item.id === selected ? "0" : "-1",
        onclick: () => onSelect(item.id),
      },
      item.label,
    ),
  );
  list.addEventListener("keydown", (e) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const next = buttons[(moves[e.key] + buttons.length) % buttons.length];
    next.focus();
    next.click();
  });
  append(list, buttons);
  return list;
}

/** The tab panel for a tabs() item. */
export function tabPanel(id, ...children) {
  return h("div", { class: "tab-panel", role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`, tabindex: "0" }, ...children);
}

/** Horizontal bars of {label: count}, largest first; an accessible list. */
export function bars(counts, { id, label, tone } = {}) {
  const entries = Object.entries(counts || {});
  const max = Math.max(1, ...entries.map(([, n]) => n));
  if (!entries.length) return h("p", { class: "empty" }, "Nothing yet.");
  return h(
    "ul",
    { class: "bars", id, "aria-label": label },
    entries.map(([name, n]) => {
      const fill = h("span", { class: ["bar-fill", tone && `tone-${tone(name)}`] });
      fill.style.width = `${(100 * n) / max}%`; // CSSOM, allowed by the CSP (no inline style attribute)
      return h(
        "li",
        { dataset: { key: name } },
        h("span", { class: "bar-label", title: name }, name),
        h("span", { class: "bar-track", "aria-hidden": "true" }, fill),
        h("span", { class: "bar-value num" }, num(n)),
      );
    }),
  );
}
