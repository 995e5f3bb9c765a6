// Hand-made SVG charts: nothing vendored, nothing fetched.

import { h, s, num, when } from "./dom.js";

const HOUR = 3_600_000;
export const PERIODS = {
  "24h": { size: HOUR, lookback: 24 * HOUR, label: "last 24 hours" },
  "7d": { size: 6 * HOUR, lookback: 7 * 24 * HOUR, label: "last 7 days" },
  "30d": { size: 24 * HOUR, lookback: 30 * 24 * HOUR, label: "last 30 days" },
};

/** The period's whole, epoch-aligned buckets up to now, the API's sparse buckets filled in with zeros. */
export function slots(buckets, period, nowMs = Date.now()) {
  const { size, lookback } = PERIODS[period] || PERIODS["24h"];
  const byStart = new Map(buckets.map((b) => [Date.parse(b.timestamp), b]));
  const last = Math.floor(nowMs / size) * size;
  const first = Math.floor((nowMs - lookback) / size) * size;
  const out = [];
  for (let t = first; t <= last; t += size) {
    out.push(byStart.get(t) || { timestamp: new Date(t).toISOString(), total: 0, blocked: 0, approved: 0, auto: 0 });
  }
  // a bucket the client clock places outside the range (clock skew) is still shown
  for (const b of buckets) if (!out.includes(b)) out.push(b);
  return out.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
}

/** Stacked bars of a timeline (auto, approved, blocked), with HTML axis labels and a legend. */
export function timelineChart(buckets, period) {
  const data = slots(buckets, period);
  const W = 1000;
  const H = 200;
  const max = Math.max(1, ...data.map((b) => b.total));
  const step = W / data.length;
  const gap = Math.min(2, step * 0.15);
  const svg = s("svg", {
    class: "timeline-svg",
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: "none",
    "aria-hidden": "true",
    focusable: "false",
  });
  for (let i = 0; i < 4; i++) {
    svg.append(s("line", { class: "grid", x1: 0, x2: W, y1: (H * i) / 4, y2: (H * i) / 4 }));
  }
  data.forEach((b, i) => {
    const x = i * step + gap;
    const w = Math.max(1, step - 2 * gap);
    const g = s("g", null, s("title", null, `${when(b.timestamp)} UTC: ${num(b.total)} actions (${num(b.blocked)} blocked, ${num(b.approved)} approved, ${num(b.auto)} auto)`));
    let y = H;
    const other = Math.max(0, b.total - b.blocked - b.approved - b.auto);
    for (const [cls, n] of [["auto", b.auto], ["other", other], ["approved", b.approved], ["blocked", b.blocked]]) {
      if (!n) continue;
      const height = (H * n) / max;
      y -= height;
      g.append(s("rect", { class: `seg-${cls}`, x, y, width: w, height }));
    }
    svg.append(g);
  });
  const ticks = [0, Math.floor(data.length / 2), data.length - 1].map((i) => data[i]);
  const fmt = (b) => (period === "24h" ? when(b.timestamp).slice(11, 16) : when(b.timestamp).slice(5, 10));
  return h(
    "figure",
    { class: "timeline" },
    h(
      "div",
      { class: "timeline-plot" },
      h("div", { class: "timeline-y", "aria-hidden": "true" }, h("span", null, num(max)), h("span", null, "0")),
      svg,
    ),
    h("div", { class: "timeline-x", "aria-hidden": "true" }, ticks.map((b) => h("span", null, fmt(b)))),
    h(
      "figcaption",
      { class: "legend" },
      h("span", { class: "key key-auto" }, "auto"),
      h("span", { class: "key key-approved" }, "approved"),
      h("span", { class: "key key-blocked" }, "blocked"),
      h("span", { class: "muted" }, `one bar per ${period === "24h" ? "hour" : period === "7d" ? "6 hours" : "day"}, UTC`),
    ),
  );
}

/** A score ring (0..100) with the score and grade in the middle. */
export function scoreRing(score, grade, label) {
  const r = 52;
  const c = 2 * Math.PI * r;
  const tone = score >= 80 ? "good" : score >= 60 ? "warn" : "bad";
  return h(
    "figure",
    { class: "ring" },
    s(
      "svg",
      { viewBox: "0 0 120 120", width: 140, height: 140, role: "img", "aria-label": `${label}: ${score} of 100, grade ${grade}` },
      s("circle", { class: "ring-track", cx: 60, cy: 60, r }),
      s("circle", {
        class: `ring-value tone-${tone}`,
        cx: 60,
        cy: 60,
        r,
        "stroke-dasharray": `${(c * Math.max(0, Math.min(100, score))) / 100} ${c}`,
        transform: "rotate(-90 60 60)",
      }),
      s("text", { class: "ring-score", x: 60, y: 60 }, String(score)),
      s("text", { class: "ring-grade", x: 60, y: 82 }, grade),
    ),
    h("figcaption", null, label),
  );
}

/** A sparkline of numbers (newest last). */
export function sparkline(values, label) {
  const W = 300;
  const H = 60;
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(W * i) / Math.max(1, values.length - 1)},${H - (H * v) / max}`).join(" ");
  return s(
    "svg",
    { class: "sparkline", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": label },
    s("polyline", { points: pts || `0,${H} ${W},${H}` }),
  );
}

/** A stacked bar of parts [{label, n, tone}] of a whole, with a text legend. */
export function stackBar(parts, label) {
  const total = parts.reduce((a, p) => a + p.n, 0) || 1;
  const bar = h("div", { class: "stack", role: "img", "aria-label": `${label}: ${parts.map((p) => `${p.label} ${p.n}`).join(", ")}` });
  for (const p of parts) {
    const seg = h("span", { class: `stack-seg tone-${p.tone}` });
    seg.style.width = `${(100 * p.n) / total}%`;
    bar.append(seg);
  }
  return h(
    "div",
    { class: "stack-wrap" },
    bar,
    h("ul", { class: "legend" }, parts.map((p) => h("li", { class: `key key-${p.tone}` }, `${p.label}: ${num(p.n)}`))),
  );
}
