/* evalkit view: draws the numbers evalkit computed (reports/view.py embeds them); computes none of its own.
   Every text from a run (prompts, completions, answers, details) is set with textContent, never parsed as HTML. */
"use strict";

const RUN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const STATUS_COLORS = { correct: "#2e9d5b", wrong: "#d64541", no_answer: "#f0a830", truncated: "#8e6cc0", timeout: "#3a8fd1", error: "#4b5563", oom: "#a0522d", syntax_error: "#e377c2" };
const SVGNS = "http://www.w3.org/2000/svg";
let D = null;
const state = { query: "", quick: "all", status: "", statusRun: "any", meta: {}, onlyA: "", onlyB: "", sort: { key: "id", asc: true }, open: null, sample: null };

// -- small DOM helpers --------------------------------------------------------------------------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "style") e.setAttribute("style", v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
  return e;
}
function sv(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) { if (k === "text") e.textContent = v; else e.setAttribute(k, v); }
  for (const kid of kids.flat()) if (kid) e.append(kid);
  return e;
}
const pct = (x, d = 1) => (x === null || x === undefined ? "–" : (100 * x).toFixed(d));
const signed = (x, d = 1) => (x === null || x === undefined ? "–" : (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(100 * x).toFixed(d));
const fmtP = p => (p < 0.001 ? "<0.001" : p.toFixed(3));
const num = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const runColor = j => RUN_COLORS[j % RUN_COLORS.length];
const statusColor = s => STATUS_COLORS[s] || "#999";
const cmp = () => D.compare;

// -- data ---------------------------------------------------------------------------------------
async function loadData() {
  const raw = document.getElementById("evalkit-data").textContent.trim();
  if (typeof DecompressionStream === "undefined") throw new Error("this browser cannot decompress the report (needs DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+)");
  const bin = atob(raw);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const text = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  return JSON.parse(text);
}

function prepare() {
  D.rows = D.problems;
  D.byId = new Map(D.rows.map(r => [r.id, r]));
  for (const row of D.rows) {
    const parts = [row.id, row.gold || "", row.question || ""];
    for (const pi of row.prompt || []) if (pi !== null && pi !== undefined) parts.push(D.prompts[pi]);
    row.runs.forEach((r, j) => {
      if (!r) return;
      for (const a of r.answers) if (a[0]) parts.push(a[0]);
      for (const i of r.samples) {
        const s = D.samples[j][row.id + "#" + i];
        if (s) parts.push(s.text, s.answer || "");
      }
    });
    row.hay = parts.join("\n").toLowerCase();
  }
}

// -- header, cards, tables ----------------------------------------------------------------------
function header() {
  const c = cmp(), r0 = c.runs[0];
  const ns = new Set(c.runs.map(r => r.n));
  const sub = el("div", { class: "sub" },
    el("b", { text: D.benchmark }), ` · ${D.data_version || c.data_hash} · `,
    el("b", { text: String(D.rows.length) }), " problems · n = ", el("b", { text: [...ns].join(", ") }),
    ` · baseline `, el("b", { text: c.baseline }), ` · ${D.mode === "serve" ? "live (evalkit view --serve)" : "static report"} · generated ${D.generated}`);
  const notes = [];
  if (!D.meta_keys.length && D.data_note && !D.data_note.startsWith("problems from")) notes.push(el("div", { class: "note", text: D.data_note }));
  c.runs.forEach((r, j) => {
    const v = r.vs_baseline;
    if (v && v.settings_differ.length) notes.push(el("div", { class: "note" }, el("b", { text: r.label }), " differs from the baseline in: " + v.settings_differ.join("; ")));
  });
  if (r0.num_problems_total && r0.num_problems < r0.num_problems_total) notes.push(el("div", { class: "note", text: `Partial: ${r0.num_problems} of the benchmark's ${r0.num_problems_total} problems were graded.` }));
  return el("div", {}, el("h1", { text: D.title }), sub, notes);
}

function cards() {
  const c = cmp(), ks = c.ks, kmax = ks[ks.length - 1];
  return el("div", { class: "cards" }, c.runs.map((r, j) => {
    const p1 = r.pass_at_k["1"], pk = r.pass_at_k[String(kmax)];
    const v = r.vs_baseline, d1 = v ? v.diff["1"] : null;
    const badge = d1 ? el("span", { class: "badge " + (d1.p_value < 0.05 ? (d1.diff > 0 ? "up" : "down") : "flat"), title: `paired difference of pass@1 vs ${c.baseline}: 95% CI [${signed(d1.ci95[0])}, ${signed(d1.ci95[1])}], p = ${fmtP(d1.p_value)}` },
      `${signed(d1.diff)} pts, p ${d1.p_value < 0.001 ? "<0.001" : "= " + d1.p_value.toFixed(3)}`) : el("span", { class: "badge flat", text: "baseline" });
    return el("div", { class: "panel card", "data-run": j },
      el("span", { class: "swatch", style: `background:${runColor(j)}` }),
      el("div", { class: "name", title: r.label, text: r.label }),
      el("div", { class: "path", title: r.run_dir, text: r.run_dir }),
      el("div", { class: "big" }, el("span", { "data-fig": "pass", "data-run": j, "data-k": 1, "data-value": p1.value, text: pct(p1.value) }),
        el("small", { text: ` pass@1  [${pct(p1.ci95[0])}, ${pct(p1.ci95[1])}]` })),
      el("div", { class: "row" },
        el("span", {}, `pass@${kmax} `, el("b", { "data-fig": "pass", "data-run": j, "data-k": kmax, "data-value": pk.value, text: pct(pk.value) })),
        r.maj_at_k ? el("span", {}, `maj@${kmax} `, el("b", { text: pct(r.maj_at_k[String(kmax)]) })) : null,
        el("span", {}, "n ", el("b", { text: r.n + (r.n_max ? ".." + r.n_max : "") }))),
      el("div", { class: "row", style: "margin-top:2px" }, samplingText(D.runs[j])),
      el("div", { style: "margin-top:8px" }, badge));
  }));
}

function samplingText(run) {
  const s = run.sampling;
  if (!s) return el("span", { text: "scored from a file" });
  const bits = [`T ${s.temperature}`, s.top_p !== 1 ? `top-p ${s.top_p}` : null, s.top_k > 0 ? `top-k ${s.top_k}` : null, s.min_p ? `min-p ${s.min_p}` : null, `max ${s.max_tokens} tokens`, run.seed !== null && run.seed !== undefined ? `seed ${run.seed}` : null];
  return el("span", { text: bits.filter(Boolean).join(" · ") });
}

function passTable() {
  const c = cmp(), maj = c.runs.some(r => r.maj_at_k);
  const head = el("tr", {}, el("th", { text: "checkpoint" }), el("th", { text: "k" }), el("th", { text: "pass@k" }), el("th", { text: "95% CI" }),
    maj ? el("th", { text: "maj@k" }) : null, el("th", { text: "pass^k" }), el("th", { text: "Δ vs baseline" }), el("th", { text: "95% CI of Δ" }), el("th", { text: "p" }));
  const body = [];
  c.runs.forEach((r, j) => c.ks.forEach((k, i) => {
    const key = String(k), p = r.pass_at_k[key], d = r.vs_baseline ? r.vs_baseline.diff[key] : null;
    const sig = d && d.p_value < 0.05;
    body.push(el("tr", { "data-run": j, "data-k": k },
      el("td", {}, i === 0 ? el("span", {}, el("i", { style: `display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;background:${runColor(j)}` }), r.label) : ""),
      el("td", { text: key }),
      el("td", { "data-fig": "pass-table", "data-run": j, "data-k": k, "data-value": p.value, text: pct(p.value, 2) }),
      el("td", { class: "ci", text: `[${pct(p.ci95[0], 2)}, ${pct(p.ci95[1], 2)}]` }),
      maj ? el("td", { text: r.maj_at_k ? pct(r.maj_at_k[key], 2) : "–" }) : null,
      el("td", { text: pct(r.pass_hat_k[key], 2) }),
      el("td", { class: d ? (sig ? "sig " : "") + (d.diff > 0 ? "pos" : d.diff < 0 ? "neg" : "") : "", "data-fig": d ? "diff" : null, "data-run": j, "data-k": k, "data-value": d ? d.diff : null, text: d ? signed(d.diff, 2) : "" }),
      el("td", { class: "ci", text: d ? `[${signed(d.ci95[0], 2)}, ${signed(d.ci95[1], 2)}]` : "" }),
      el("td", { "data-fig": d ? "p" : null, "data-run": j, "data-k": k, "data-value": d ? d.p_value : null, class: sig ? "sig" : "", text: d ? fmtP(d.p_value) : "" })));
  }));
  const test = c.runs.find(r => r.vs_baseline);
  return el("div", { class: "panel" }, el("h2", { text: "pass@k, maj@k and pass^k, with paired differences against the baseline" }),
    el("table", { class: "tbl", id: "pass-table" }, el("thead", {}, head), el("tbody", {}, body)),
    el("div", { class: "caption muted", style: "margin-top:6px;font-size:12px" },
      "Unbiased estimators over all n samples; 95% intervals by the bootstrap over problems" + (test ? `; Δ and p: ${test.vs_baseline.test}, on the ${test.vs_baseline.num_shared_problems} shared problems.` : ".")));
}

// -- charts -------------------------------------------------------------------------------------
function frame(w, h, m) { return { w, h, m, iw: w - m.l - m.r, ih: h - m.t - m.b }; }
function niceTicks(lo, hi, count) {
  const span = hi - lo, raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(s => s * mag).find(s => span / s <= count) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}
const tip = () => document.getElementById("tip");
function showTip(ev, nodes) { const t = tip(); t.replaceChildren(...nodes); t.style.display = "block"; t.style.left = (ev.clientX + 14) + "px"; t.style.top = (ev.clientY + 12) + "px"; }
function hideTip() { tip().style.display = "none"; }

function yAxis(g, f, ticks, y, label, fmt) {
  for (const t of ticks) {
    g.append(sv("line", { x1: 0, x2: f.iw, y1: y(t), y2: y(t), stroke: "#eef0f3" }));
    g.append(sv("text", { x: -6, y: y(t) + 3.5, "text-anchor": "end", text: fmt ? fmt(t) : String(t) }));
  }
  g.append(sv("text", { transform: `translate(${-f.m.l + 12},${f.ih / 2}) rotate(-90)`, "text-anchor": "middle", text: label }));
}

function curveChart() {
  const c = cmp(), f = frame(600, 330, { l: 50, r: 16, t: 14, b: 40 });
  const kmax = Math.max(...D.curves.map(cv => cv.ks[cv.ks.length - 1]));
  const lx = Math.log2(Math.max(2, kmax));
  const x = k => (Math.log2(k) / lx) * f.iw;
  let lo = Math.min(...D.curves.flatMap(cv => cv.lo)), hi = Math.max(...D.curves.flatMap(cv => cv.hi));
  lo = Math.max(0, Math.floor((100 * lo - 3) / 10) * 10); hi = Math.min(100, Math.ceil((100 * hi + 3) / 10) * 10);
  if (hi - lo < 10) { lo = Math.max(0, lo - 5); hi = Math.min(100, hi + 5); }
  const y = v => f.ih - ((100 * v - lo) / (hi - lo)) * f.ih;
  const svg = sv("svg", { viewBox: `0 0 ${f.w} ${f.h}`, id: "curve-chart", role: "img", "aria-label": "pass@k curves" });
  const g = sv("g", { transform: `translate(${f.m.l},${f.m.t})` });
  svg.append(g);
  yAxis(g, f, niceTicks(lo, hi, 6), v => y(v / 100), "pass@k (%)");
  const xt = []; for (let k = 1; k <= kmax; k *= 2) xt.push(k);
  const stepT = xt.length > 9 ? 2 : 1;
  xt.forEach((k, i) => { if (i % stepT) return; g.append(sv("line", { x1: x(k), x2: x(k), y1: 0, y2: f.ih, stroke: "#f3f4f6" })); g.append(sv("text", { x: x(k), y: f.ih + 15, "text-anchor": "middle", text: String(k) })); });
  if (xt[xt.length - 1] !== kmax) g.append(sv("text", { x: x(kmax), y: f.ih + 15, "text-anchor": "middle", text: String(kmax) }));
  g.append(sv("text", { x: f.iw / 2, y: f.ih + 33, "text-anchor": "middle", text: "k (log scale)" }));
  g.append(sv("line", { x1: 0, x2: f.iw, y1: f.ih, y2: f.ih, stroke: "#c9ced6" }));
  D.curves.forEach((cv, j) => {
    const col = runColor(j);
    const up = cv.ks.map((k, i) => `${x(k)},${y(cv.hi[i])}`), down = cv.ks.map((k, i) => `${x(k)},${y(cv.lo[i])}`).reverse();
    g.append(sv("polygon", { points: up.concat(down).join(" "), fill: col, "fill-opacity": 0.14 }));
    g.append(sv("polyline", { points: cv.ks.map((k, i) => `${x(k)},${y(cv.mean[i])}`).join(" "), fill: "none", stroke: col, "stroke-width": 2, "data-curve": j }));
  });
  c.runs.forEach((r, j) => c.ks.forEach(k => {
    const p = r.pass_at_k[String(k)];
    g.append(sv("line", { x1: x(k), x2: x(k), y1: y(p.ci95[0]), y2: y(p.ci95[1]), stroke: runColor(j), "stroke-width": 1.5 }));
    g.append(sv("circle", { cx: x(k), cy: y(p.value), r: 3.6, fill: "#fff", stroke: runColor(j), "stroke-width": 2, "data-fig": "curve-point", "data-run": j, "data-k": k, "data-value": p.value }));
  }));
  const guide = sv("line", { y1: 0, y2: f.ih, stroke: "#98a2b3", "stroke-dasharray": "3 3", visibility: "hidden" });
  g.append(guide);
  const hit = sv("rect", { x: 0, y: 0, width: f.iw, height: f.ih, fill: "transparent" });
  hit.addEventListener("mousemove", ev => {
    const box = hit.getBoundingClientRect(), kx = Math.pow(2, ((ev.clientX - box.left) / box.width) * lx);
    const lines = D.curves.map((cv, j) => {
      let best = 0; cv.ks.forEach((k, i) => { if (Math.abs(Math.log2(k) - Math.log2(kx)) < Math.abs(Math.log2(cv.ks[best]) - Math.log2(kx))) best = i; });
      return { j, k: cv.ks[best], m: cv.mean[best], lo: cv.lo[best], hi: cv.hi[best] };
    });
    guide.setAttribute("x1", x(lines[0].k)); guide.setAttribute("x2", x(lines[0].k)); guide.setAttribute("visibility", "visible");
    showTip(ev, [el("div", { text: `k = ${lines[0].k}` }), ...lines.map(l => el("div", {}, el("i", { style: `background:${runColor(l.j)}` }), `${c.runs[l.j].label}: ${pct(l.m)}  [${pct(l.lo)}, ${pct(l.hi)}]`))]);
  });
  hit.addEventListener("mouseleave", () => { hideTip(); guide.setAttribute("visibility", "hidden"); });
  g.append(hit);
  const legend = el("div", { class: "legend" }, c.runs.map((r, j) => el("span", {}, el("i", { style: `background:${runColor(j)}` }), r.label)));
  return el("div", { class: "panel fig" }, el("h2", { text: "pass@k with 95% bands" }), svg, legend,
    el("div", { class: "caption", text: "Lines and bands: mean pass@k over problems at every drawn k, with the bootstrap 95% band (the curve of compare --plot). Circles with bars: the k of the table." }));
}

function diffChart() {
  const c = cmp(), others = c.runs.map((r, j) => [r, j]).filter(([r]) => r.vs_baseline);
  const box = el("div", { class: "panel fig" }, el("h2", { text: `Paired difference against ${c.baseline}, per k` }));
  if (!others.length) return box.appendChild(el("p", { class: "muted", text: "One checkpoint: give two or more run directories to see paired differences." })) && box;
  const f = frame(600, 300, { l: 50, r: 16, t: 14, b: 40 });
  const all = others.flatMap(([r]) => c.ks.flatMap(k => { const d = r.vs_baseline.diff[String(k)]; return [d.ci95[0], d.ci95[1], d.diff]; }));
  let lim = Math.max(0.01, ...all.map(Math.abs)) * 100 * 1.08;
  const rough = niceTicks(-lim, lim, 6), step = rough.length > 1 ? rough[1] - rough[0] : lim;
  lim = step * Math.ceil(lim / step - 1e-9);
  const ticks = niceTicks(-lim, lim, 6);
  const y = v => f.ih / 2 - (100 * v / lim) * (f.ih / 2);
  const slot = f.iw / c.ks.length, off = i => (others.length > 1 ? (i - (others.length - 1) / 2) * Math.min(16, slot / (others.length + 1)) : 0);
  const svg = sv("svg", { viewBox: `0 0 ${f.w} ${f.h}`, id: "diff-chart" }), g = sv("g", { transform: `translate(${f.m.l},${f.m.t})` });
  svg.append(g);
  yAxis(g, f, ticks, v => y(v / 100), "Δ pass@k (points)", t => (t > 0 ? "+" : "") + t);
  g.append(sv("line", { x1: 0, x2: f.iw, y1: y(0), y2: y(0), stroke: "#667085", "stroke-width": 1 }));
  c.ks.forEach((k, i) => g.append(sv("text", { x: slot * (i + 0.5), y: f.ih + 15, "text-anchor": "middle", text: String(k) })));
  g.append(sv("text", { x: f.iw / 2, y: f.ih + 33, "text-anchor": "middle", text: "k" }));
  others.forEach(([r, j], oi) => c.ks.forEach((k, i) => {
    const d = r.vs_baseline.diff[String(k)], cx = slot * (i + 0.5) + off(oi), sig = d.p_value < 0.05;
    g.append(sv("line", { x1: cx, x2: cx, y1: y(d.ci95[0]), y2: y(d.ci95[1]), stroke: runColor(j), "stroke-width": 2 }));
    for (const e of d.ci95) g.append(sv("line", { x1: cx - 4, x2: cx + 4, y1: y(e), y2: y(e), stroke: runColor(j), "stroke-width": 2 }));
    const dot = sv("circle", { cx, cy: y(d.diff), r: 4.5, fill: sig ? runColor(j) : "#fff", stroke: runColor(j), "stroke-width": 2, "data-fig": "diff-point", "data-run": j, "data-k": k, "data-value": d.diff });
    dot.addEventListener("mousemove", ev => showTip(ev, [el("div", { text: `${r.label} − ${c.baseline}, k = ${k}` }), el("div", { text: `Δ ${signed(d.diff, 2)} pts  [${signed(d.ci95[0], 2)}, ${signed(d.ci95[1], 2)}]  p = ${fmtP(d.p_value)}` })]));
    dot.addEventListener("mouseleave", hideTip);
    g.append(dot);
  }));
  const cross = others.map(([r, j]) => {
    const xs = r.vs_baseline.crossover_k;
    return el("div", { "data-fig": "crossover", "data-run": j }, el("b", { text: r.label }), ": ",
      xs.length ? "curves cross at " + xs.map(x => `k = ${x.k} (${x.ahead} ahead from there)`).join(", ") : `no crossover up to k = ${Math.min(r.n, c.runs[0].n)}`,
      ` · solved at least once only here: ${r.vs_baseline.solved_only.this.length}, only by the baseline: ${r.vs_baseline.solved_only.baseline.length}`);
  });
  box.append(svg, el("div", { class: "legend" }, others.map(([r, j]) => el("span", {}, el("i", { style: `background:${runColor(j)}` }), `${r.label} − ${c.baseline}`)),
    el("span", { class: "muted", text: "filled: p < 0.05" })), el("div", { class: "caption" }, cross));
  return box;
}

function statusChart() {
  const c = cmp(), used = D.statuses.filter(s => c.runs.some(r => r.status_counts[s] > 0));
  const f = frame(600, 46 + 30 * c.runs.length, { l: 150, r: 16, t: 8, b: 24 });
  const svg = sv("svg", { viewBox: `0 0 ${f.w} ${f.h}`, id: "status-chart" }), g = sv("g", { transform: `translate(${f.m.l},${f.m.t})` });
  svg.append(g);
  c.runs.forEach((r, j) => {
    const yy = j * 30;
    const label = r.label.length > 24 ? r.label.slice(0, 23) + "…" : r.label;
    g.append(sv("text", { x: -8, y: yy + 15, "text-anchor": "end", text: label }));
    let acc = 0;
    for (const s of used) {
      const fr = r.status_fraction[s] || 0; if (!fr) continue;
      const rect = sv("rect", { x: acc * f.iw, y: yy + 2, width: fr * f.iw, height: 20, fill: statusColor(s), "data-fig": "status", "data-run": j, "data-status": s, "data-value": fr });
      rect.addEventListener("mousemove", ev => showTip(ev, [el("div", { text: `${r.label}: ${s}` }), el("div", { text: `${r.status_counts[s]} of ${r.num_samples} samples (${pct(fr)}%)` })]));
      rect.addEventListener("mouseleave", hideTip);
      g.append(rect);
      if (fr * f.iw > 34) g.append(sv("text", { x: (acc + fr / 2) * f.iw, y: yy + 16, "text-anchor": "middle", style: "fill:#fff;font-weight:600", text: pct(fr, fr < 0.1 ? 1 : 0) + "%" }));
      acc += fr;
    }
  });
  [0, 0.25, 0.5, 0.75, 1].forEach(t => g.append(sv("text", { x: t * f.iw, y: f.ih + 14, "text-anchor": "middle", text: `${100 * t}%` })));
  const legend = el("div", { class: "legend" }, used.map(s => el("span", {}, el("i", { style: `background:${statusColor(s)}` }), s.replace("_", " "))));
  const counts = el("table", { class: "tbl", style: "margin-top:12px" },
    el("thead", {}, el("tr", {}, el("th", { text: "samples" }), used.map(s => el("th", {}, el("i", { style: `display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:4px;background:${statusColor(s)}` }), s.replace("_", " "))))),
    el("tbody", {}, c.runs.map((r, j) => el("tr", {}, el("td", {}, el("i", { style: `display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;background:${runColor(j)}` }), r.num_samples.toLocaleString()),
      used.map(s => el("td", { "data-fig": "status-count", "data-run": j, "data-status": s, "data-value": r.status_counts[s], text: `${r.status_counts[s].toLocaleString()} (${pct(r.status_fraction[s])}%)` }))))));
  return el("div", { class: "panel fig" }, el("h2", { text: "Why samples fail: status of every sample" }), svg, legend, counts,
    el("div", { class: "caption", text: "From the verifier's grades: wrong = an answer that is not equivalent to the gold; no answer = none could be extracted; truncated = the token limit or an unclosed <think>." }));
}

const STAT_LABELS = { entropy: "mean token entropy (nats)", logprob: "mean token log-prob", tokens: "completion length (tokens)" };
function statsChart() {
  const c = cmp(), names = Object.keys(D.hists);
  const box = el("div", { class: "panel fig" }, el("h2", { text: "Entropy, log-prob and length: correct vs wrong samples" }));
  if (!names.length) return box.appendChild(el("p", { class: "muted", text: "No run recorded token statistics." })) && box;
  const grid = el("div", { style: `display:grid;grid-template-columns:repeat(${names.length},1fr);gap:10px` });
  for (const name of names) {
    const h = D.hists[name], f = frame(240, 150, { l: 8, r: 8, t: 8, b: 30 });
    const e = h.edges, x = v => ((v - e[0]) / (e[e.length - 1] - e[0])) * f.iw;
    const ymax = Math.max(1e-9, ...h.runs.flatMap(r => r.correct.concat(r.wrong)));
    const y = v => f.ih - (v / ymax) * f.ih;
    const svg = sv("svg", { viewBox: `0 0 ${f.w} ${f.h}` }), g = sv("g", { transform: `translate(${f.m.l},${f.m.t})` });
    svg.append(g);
    g.append(sv("line", { x1: 0, x2: f.iw, y1: f.ih, y2: f.ih, stroke: "#c9ced6" }));
    h.runs.forEach((r, j) => ["wrong", "correct"].forEach(part => {
      if (!r["num_" + part]) return;
      const pts = []; r[part].forEach((v, i) => { pts.push(`${x(e[i])},${y(v)}`, `${x(e[i + 1])},${y(v)}`); });
      g.append(sv("polyline", { points: pts.join(" "), fill: "none", stroke: runColor(j), "stroke-width": 1.6, "stroke-dasharray": part === "wrong" ? "4 3" : null }));
    }));
    const ticks = niceTicks(e[0], e[e.length - 1], 4);
    for (const t of ticks) g.append(sv("text", { x: x(t), y: f.ih + 13, "text-anchor": "middle", text: Math.abs(t) >= 100 ? String(Math.round(t)) : String(+t.toFixed(2)) }));
    g.append(sv("text", { x: f.iw / 2, y: f.ih + 27, "text-anchor": "middle", text: STAT_LABELS[name] }));
    const tbl = el("table", { class: "tbl", style: "font-size:12px" }, el("thead", {}, el("tr", {}, el("th", { text: "mean" }), el("th", { text: "correct" }), el("th", { text: "wrong" }))),
      el("tbody", {}, c.runs.map((r, j) => el("tr", {}, el("td", {}, el("i", { style: `display:inline-block;width:9px;height:9px;border-radius:2px;background:${runColor(j)}` })),
        ...["correct", "wrong"].map(part => el("td", { "data-fig": "stat", "data-stat": name, "data-part": part, "data-run": j, "data-value": r[name][part], text: num(r[name][part], name === "tokens" ? 0 : 3) }))))));
    grid.append(el("div", {}, svg, tbl));
  }
  box.append(grid, el("div", { class: "caption", text: "Histograms: share of correct (solid) and wrong (dashed) samples per bin, per checkpoint. Table: means from compare." }));
  return box;
}

// -- problem table ------------------------------------------------------------------------------
function miniBar(r) {
  const bar = el("span", { class: "mbar", title: D.statuses.map((s, i) => r.counts[i] ? `${s} ${r.counts[i]}` : null).filter(Boolean).join(", ") });
  D.statuses.forEach((s, i) => { if (r.counts[i]) bar.append(el("span", { style: `width:${(100 * r.counts[i]) / r.n}%;background:${statusColor(s)}` })); });
  return bar;
}

function problemTable() {
  const c = cmp(), metaCols = D.meta_keys.filter(k => D.meta_filters.includes(k)).slice(0, 3);
  const cols = [{ key: "id", label: "problem" }, ...metaCols.map(k => ({ key: "meta:" + k, label: k })), ...(D.rows.some(r => r.gold) ? [{ key: "gold", label: "gold" }] : []),
    ...c.runs.map((r, j) => ({ key: "c:" + j, label: `${r.label} c/n`, run: j })), ...c.runs.slice(1).map((r, i) => ({ key: "d:" + (i + 1), label: `Δ pass@1 ${r.label}`, run: i + 1 }))];
  const thead = el("tr", {}, cols.map(col => el("th", { "data-key": col.key, title: "sort", onclick: () => sortBy(col.key) },
    col.run !== undefined ? el("i", { style: `display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:5px;background:${runColor(col.run)}` }) : null, col.label)));
  const tbody = el("tbody", { id: "ptbody" });
  for (const row of D.rows) {
    const tr = el("tr", { "data-problem-id": row.id, onclick: () => openProblem(row.id) }, el("td", { class: "pid", text: row.id }));
    for (const k of metaCols) tr.append(el("td", { class: "meta", text: row.meta && row.meta[k] !== undefined ? String(row.meta[k]) : "" }));
    if (cols.some(col => col.key === "gold")) tr.append(el("td", { class: "gold", title: row.gold || "", text: row.gold || "" }));
    row.runs.forEach((r, j) => tr.append(el("td", { "data-run": j }, r ? [el("span", { class: "cn", text: `${r.c}/${r.n}` }), miniBar(r)] : el("span", { class: "muted", text: "not graded" }))));
    row.delta.slice(1).forEach(d => tr.append(el("td", { class: "num " + (d > 0 ? "pos" : d < 0 ? "neg" : "muted"), text: d === null ? "–" : signed(d) })));
    row.tr = tr;
    tbody.append(tr);
  }
  const table = el("table", { class: "ptable", id: "problems" }, el("thead", {}, thead), tbody);
  return el("div", { class: "panel section" }, el("h2", { text: "Problems" }), toolbar(), el("div", { class: "ptable-wrap" }, table),
    el("div", { class: "caption muted", style: "font-size:12px;margin-top:6px", text: `c/n: correct of n samples; the bar splits the n samples by status. Δ pass@1: the checkpoint's per-problem pass@1 minus the baseline's. Search covers problem text, prompts, the listed answers and the ${D.limits.max_samples} embedded sample texts per problem and checkpoint.` }));
}

function toolbar() {
  const c = cmp(), runOpts = (sel, any) => [any ? el("option", { value: "any", text: "any checkpoint" }) : null, ...c.runs.map((r, j) => el("option", { value: String(j), text: r.label, selected: String(j) === sel }))];
  const quick = [["all", "all"], ["changed", "changed"], ["improved", "improved"], ["regressed", "regressed"], ["unsolved", "never solved"], ["split", "solved by some"]];
  const chips = el("div", { class: "chips" }, quick.filter(([k]) => c.runs.length > 1 || !["changed", "improved", "regressed", "split"].includes(k)).map(([k, label]) =>
    el("button", { class: "chip" + (state.quick === k ? " on" : ""), "data-quick": k, onclick: ev => { state.quick = k; for (const b of ev.target.parentNode.children) b.classList.toggle("on", b === ev.target); applyFilters(); } }, label)));
  const search = el("input", { type: "search", id: "search", placeholder: "Search problems, prompts, completions and answers…", oninput: ev => { clearTimeout(search.t); search.t = setTimeout(() => { state.query = ev.target.value.trim().toLowerCase(); applyFilters(); }, 120); } });
  const statusSel = el("select", { id: "f-status", onchange: ev => { state.status = ev.target.value; applyFilters(); } }, el("option", { value: "", text: "any status" }),
    D.statuses.map((s, i) => el("option", { value: String(i), text: `has ${s.replace("_", " ")}` })));
  const statusRun = el("select", { id: "f-status-run", onchange: ev => { state.statusRun = ev.target.value; applyFilters(); } }, runOpts("any", true));
  const metas = D.meta_filters.map(k => {
    const vals = [...new Set(D.rows.map(r => r.meta && r.meta[k]).filter(v => v !== undefined && v !== null))].sort((a, b) => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true })));
    return el("select", { "data-meta": k, onchange: ev => { state.meta[k] = ev.target.value; applyFilters(); } }, el("option", { value: "", text: `any ${k}` }), vals.map(v => el("option", { value: String(v), text: `${k} ${v}` })));
  });
  const only = c.runs.length > 1 ? el("label", {}, "solved by",
    el("select", { id: "f-only-a", onchange: ev => { state.onlyA = ev.target.value; applyFilters(); } }, el("option", { value: "", text: "–" }), runOpts("", false)),
    "but never by", el("select", { id: "f-only-b", onchange: ev => { state.onlyB = ev.target.value; applyFilters(); } }, el("option", { value: "", text: "–" }), runOpts("", false))) : null;
  return el("div", {}, el("div", { class: "toolbar" }, search, el("span", { class: "count", id: "count" })),
    el("div", { class: "toolbar" }, chips, statusSel, el("span", { class: "muted", text: "in" }), statusRun, ...metas, only));
}

function rowVisible(row) {
  const rs = row.runs;
  if (state.query && !state.query.split(/\s+/).every(w => row.hay.includes(w))) return false;
  const solved = rs.map(r => r && r.c > 0), deltas = row.delta.slice(1).filter(d => d !== null);
  switch (state.quick) {
    case "changed": if (!deltas.some(d => Math.abs(d) > 1e-12)) return false; break;
    case "improved": if (!deltas.some(d => d > 1e-12)) return false; break;
    case "regressed": if (!deltas.some(d => d < -1e-12)) return false; break;
    case "unsolved": if (solved.some(Boolean)) return false; break;
    case "split": if (!(solved.some(Boolean) && solved.some(s => !s))) return false; break;
  }
  if (state.status !== "") {
    const i = +state.status, runs = state.statusRun === "any" ? rs : [rs[+state.statusRun]];
    if (!runs.some(r => r && r.counts[i] > 0)) return false;
  }
  for (const [k, v] of Object.entries(state.meta)) if (v !== "" && !(row.meta && String(row.meta[k]) === v)) return false;
  if (state.onlyA !== "" && state.onlyB !== "") {
    const a = rs[+state.onlyA], b = rs[+state.onlyB];
    if (!(a && b && a.c > 0 && b.c === 0)) return false;
  }
  return true;
}

function applyFilters() {
  let shown = 0;
  for (const row of D.rows) { const v = rowVisible(row); row.tr.hidden = !v; shown += v; }
  document.getElementById("count").textContent = `${shown} of ${D.rows.length} problems`;
}

function sortValue(row, key) {
  if (key === "id") return null;
  if (key === "gold") return row.gold || "";
  if (key.startsWith("meta:")) { const v = row.meta ? row.meta[key.slice(5)] : undefined; return v === undefined || v === null ? "" : v; }
  const j = +key.slice(2);
  if (key.startsWith("c:")) return row.runs[j] ? row.runs[j].c / row.runs[j].n : -1;
  return row.delta[j] === null ? -Infinity : row.delta[j];
}

function sortBy(key) {
  state.sort = { key, asc: state.sort.key === key ? !state.sort.asc : key === "id" || key.startsWith("meta:") || key === "gold" };
  const order = D.rows.map((r, i) => [r, i]);
  order.sort((a, b) => {
    const va = sortValue(a[0], key), vb = sortValue(b[0], key);
    const d = va === null ? a[1] - b[1] : typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
    return (state.sort.asc ? d : -d) || a[1] - b[1];
  });
  const tb = document.getElementById("ptbody");
  for (const [r] of order) tb.append(r.tr);
  for (const th of document.querySelectorAll("#problems th")) { th.classList.toggle("sorted", th.dataset.key === key); th.classList.toggle("asc", th.dataset.key === key && state.sort.asc); }
}

// -- problem drawer and sample view -------------------------------------------------------------
function openProblem(pid) {
  const row = D.byId.get(pid), c = cmp(), drawer = document.getElementById("drawer");
  state.open = pid;
  for (const r of D.rows) r.tr.classList.toggle("sel", r.id === pid);
  const meta = row.meta ? Object.entries(row.meta).map(([k, v]) => el("span", {}, `${k} `, el("b", { text: String(v) }))) : [];
  const parts = [el("button", { class: "close", onclick: closeDrawer, text: "close ✕" }), el("h2", { text: pid }),
    el("div", { class: "kv" }, meta, row.gold ? el("span", {}, "gold ", el("b", { text: row.gold })) : null, row.entry_point ? el("span", {}, "entry point ", el("b", { text: row.entry_point })) : null)];
  if (row.question) parts.push(el("pre", { class: "text", style: "max-height:22vh", text: row.question }));
  const first = [];
  row.runs.forEach((r, j) => {
    if (!r) { parts.push(el("div", { class: "runblock muted", text: `${c.runs[j].label}: not graded on this problem` })); return; }
    const live = D.mode === "serve";
    const strip = el("div", { class: "strip" + (live ? " live" : ""), "data-run": j });
    [...r.strip].forEach((ch, i) => {
      const s = D.statuses[+ch], emb = r.samples.includes(i);
      const sq = el("span", { class: emb ? "emb" : "", style: `background:${statusColor(s)}`, title: `#${i} ${s}${emb || live ? "" : " (not embedded: open with --serve)"}`, "data-index": i });
      if (emb || live) sq.addEventListener("click", () => openSample(pid, j, i));
      strip.append(sq);
    });
    const code = D.family === "code";
    const answers = el("div", { class: "answers" }, r.answers.length ? el("span", { class: "muted", style: "background:none;padding:0", text: code ? "program shapes:" : "answers:" }) : null,
      r.answers.map(([a, count, ok]) => el("span", { class: ok && !code ? "ok" : "", title: a === null ? "" : a, text: `${a === null ? "?" : a} ×${count}` })));
    const list = el("div", { class: "smp-list" }, r.samples.map(i => {
      const s = D.samples[j][pid + "#" + i], st = s ? s.status : D.statuses[+r.strip[i]];
      return el("button", { class: "smp-btn", "data-run": j, "data-index": i, onclick: () => openSample(pid, j, i) }, el("i", { style: `background:${statusColor(st)}` }), `#${i} ${st}`);
    }));
    if (r.samples.length) first.push([j, r.samples[0]]);
    const d = row.delta[j];
    parts.push(el("div", { class: "runblock" }, el("div", { class: "head" }, el("i", { style: `background:${runColor(j)}` }), c.runs[j].label,
      el("span", { class: "muted", style: "font-weight:400", text: ` ${r.c}/${r.n} correct` + (d === null || j === 0 ? "" : ` · Δ pass@1 ${signed(d)} pts`) })), strip, answers, list));
  });
  parts.push(el("div", { id: "sample" }));
  drawer.replaceChildren(...parts);
  drawer.classList.add("open");
  drawer.scrollTop = 0;
  if (first.length) openSample(pid, first[0][0], first[0][1]);
}

function closeDrawer() {
  document.getElementById("drawer").classList.remove("open");
  for (const r of D.rows) r.tr.classList.remove("sel");
  state.open = null;
}

async function openSample(pid, j, i) {
  const row = D.byId.get(pid), box = document.getElementById("sample");
  state.sample = [pid, j, i];
  for (const b of document.querySelectorAll(".smp-btn")) b.classList.toggle("cur", +b.dataset.run === j && +b.dataset.index === i);
  for (const s of document.querySelectorAll(".strip span")) s.classList.toggle("cur", +s.parentNode.dataset.run === j && +s.dataset.index === i);
  let s = D.samples[j][pid + "#" + i];
  if (D.mode === "serve") {
    box.replaceChildren(el("p", { class: "muted", text: "loading the sample…" }));
    try {
      const res = await fetch(`/api/sample?run=${j}&problem=${encodeURIComponent(pid)}&index=${i}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      s = await res.json();
    } catch (e) { if (!s) { box.replaceChildren(el("p", { class: "note", text: `could not load the sample: ${e.message}` })); return; } }
  }
  if (!s) { box.replaceChildren(el("p", { class: "note", text: "This sample's text is not embedded in the static report; open it with evalkit view --serve." })); return; }
  if (state.sample[0] !== pid || state.sample[1] !== j || state.sample[2] !== i) return;
  box.replaceChildren(sampleView(row, j, s));
}

function sampleView(row, j, s) {
  const c = cmp(), st = s.status || "ungraded";
  const prompt = row.prompt && row.prompt[j] !== null && row.prompt[j] !== undefined ? D.prompts[row.prompt[j]] : null;
  const parts = [el("div", { class: "title" }, el("i", { style: `display:inline-block;width:10px;height:10px;border-radius:2px;background:${runColor(j)}` }),
    `${c.runs[j].label} · sample #${s.i}`, el("span", { class: "status", style: `background:${statusColor(st)}`, text: st }))];
  parts.push(el("div", { class: "kv" }, ...[["finish", s.finish], ["tokens", s.tokens], ["entropy", s.entropy === null ? null : num(s.entropy)], ["log-prob", s.logprob === null ? null : num(s.logprob)], ["seed", s.seed]]
    .map(([k, v]) => el("span", {}, `${k} `, el("b", { text: v === null || v === undefined ? "–" : String(v) })))));
  if (prompt !== null) parts.push(el("details", { class: "fold" }, el("summary", { text: `Prompt (${prompt.length.toLocaleString()} characters)` }), textBlock(prompt, "text")));
  else if (row.question) parts.push(el("details", { class: "fold" }, el("summary", { text: "Prompt (no prompts.jsonl in this run: the problem text)" }), textBlock(row.question, "text")));
  parts.push(el("h3", { style: "margin-top:8px", text: "Completion" }), completionView(s));
  if (D.family === "code") {
    parts.push(el("h3", { text: "Program run by the sandbox" }), s.program ? textBlock(s.program, "text code") : el("p", { class: "muted", text: s.program_note || "no program (benchmark data not found)" }));
    if (s.failing_test) parts.push(el("div", { class: "pair", style: "grid-template-columns:1fr" }, el("div", {}, el("label", { text: "failing test" }), el("code", { "data-field": "failing-test", text: s.failing_test }))));
  } else {
    parts.push(el("div", { class: "pair" }, el("div", {}, el("label", { text: "extracted answer" }), el("code", { "data-field": "answer", text: s.answer === null || s.answer === undefined ? "(none)" : s.answer })),
      el("div", {}, el("label", { text: "gold" }), el("code", { "data-field": "gold", text: row.gold || "(benchmark data not found)" }))));
  }
  parts.push(el("div", { class: "detail" + (st === "correct" ? " okd" : ""), "data-field": "detail", text: `${st}${s.detail ? ": " + s.detail : ""}` }));
  return el("div", { class: "sample", "data-sample": `${j}:${row.id}#${s.i}` }, parts);
}

function completionView(s) {
  const text = s.text, box = el("div", { "data-field": "completion" });
  const open = text.indexOf("<think>"), close = text.indexOf("</think>");
  if (close >= 0 && (open < 0 || open < close)) {
    const start = open >= 0 ? open + 7 : 0, before = open >= 0 ? text.slice(0, open) : "";
    if (before.trim()) box.append(textBlock(before, "text"));
    const thought = text.slice(start, close).replace(/^\s*\n/, "");
    box.append(el("details", { class: "think" }, el("summary", { text: `Thinking (${thought.length.toLocaleString()} characters; click to unfold)` }), textBlock(thought, "text")));
    box.append(textBlock(text.slice(close + 8).replace(/^\s*\n/, ""), "text"));
  } else if (open >= 0) {
    box.append(textBlock(text.slice(0, open), "text"), el("details", { class: "think" }, el("summary", { text: "Thinking, never closed (click to unfold)" }), textBlock(text.slice(open + 7), "text")));
  } else box.append(textBlock(text, "text"));
  if (s.cut) box.append(el("div", { class: "muted", style: "font-size:12px", text: `${s.cut.toLocaleString()} characters in the middle are not embedded; evalkit view --serve shows the whole completion.` }));
  return box;
}

function textBlock(text, cls) {
  const pre = el("pre", { class: cls });
  const pieces = text.split("\u0000");
  pieces.forEach((piece, k) => {
    if (k) pre.append(el("span", { class: "cutmark", text: "… characters cut here in the static report …" }));
    highlight(pre, piece);
  });
  return pre;
}

function highlight(node, text) {
  const q = state.query;
  if (!q || text.length > 400000) { node.append(text); return; }
  const low = text.toLowerCase(), words = q.split(/\s+/).filter(Boolean);
  let pos = 0;
  while (pos < text.length) {
    let best = -1, len = 0;
    for (const w of words) { const at = low.indexOf(w, pos); if (at >= 0 && (best < 0 || at < best)) { best = at; len = w.length; } }
    if (best < 0) break;
    node.append(text.slice(pos, best), el("mark", { text: text.slice(best, best + len) }));
    pos = best + len;
  }
  node.append(text.slice(pos));
}

// -- reasoning length (evalkit/reports/reasoning.py) ----------------------------------------------
function lengthPanel() {
  const c = cmp(), dot = j => el("i", { style: `display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;background:${runColor(j)}` });
  const ci = t => `[${pct(t.ci95[0], 1)}, ${pct(t.ci95[1], 1)}]`, opt = x => (x === null || x === undefined ? "–" : pct(x, 2));
  const trunc = el("table", { class: "tbl" },
    el("thead", {}, el("tr", {}, ["checkpoint", "hit --max-tokens", "95% CI", "samples cut", "pass@1 all", "pass@1 completed", "pass@1 cut"].map(h => el("th", { text: h })))),
    el("tbody", {}, c.runs.filter(r => r.truncation).map((r, j) => el("tr", {}, el("td", {}, dot(j), r.label),
      el("td", { "data-fig": "truncation", "data-run": j, "data-value": r.truncation.rate, text: pct(r.truncation.rate, 1) + "%" }), el("td", { class: "ci", text: ci(r.truncation) }),
      el("td", { text: `${r.truncation.samples.toLocaleString()} of ${r.truncation.of.toLocaleString()}` }),
      el("td", { text: opt(r.truncation.pass_at_1_all) }), el("td", { text: opt(r.truncation.pass_at_1_completed) }), el("td", { text: opt(r.truncation.pass_at_1_cut) })))));
  const parts = [el("h2", { text: "Reasoning length: samples cut at --max-tokens, pass@k against thinking budget, cost" }), trunc];
  for (const w of (c.warnings || [])) parts.push(el("div", { class: "caption", style: "color:#b42318", text: w }));
  const rows = [];
  c.runs.forEach((r, j) => Object.entries(r.budgets || {}).forEach(([b, f]) => rows.push(el("tr", {}, el("td", {}, dot(j), r.label), el("td", { text: b }), el("td", { text: String(f.forced) }),
    el("td", { text: f.mean_think_tokens === null ? "–" : f.mean_think_tokens.toFixed(0) }),
    c.ks.map(k => { const p = f.pass_at_k[String(k)]; return el("td", { "data-fig": "budget", "data-run": j, "data-budget": b, "data-k": k, "data-value": p ? p.value : null, text: p ? `${pct(p.value, 1)} ${ci(p)}` : "–" }); })))));
  if (rows.length) parts.push(el("table", { class: "tbl", style: "margin-top:12px" },
    el("thead", {}, el("tr", {}, ["checkpoint", "budget", "forced", "think tokens"].concat(c.ks.map(k => `pass@${k}`)).map(h => el("th", { text: h })))), el("tbody", {}, rows)));
  const costs = c.runs.map((r, j) => [r, j]).filter(([r]) => r.cost && r.cost.draw);
  if (costs.length) parts.push(el("div", { class: "caption" }, costs.map(([r, j]) => el("div", {}, dot(j),
    `${r.label}: ${r.cost.draw.wall_s.toFixed(1)} s generating, ${r.cost.draw.completion_tokens.toLocaleString()} tokens` +
    (r.cost.draw.tokens_per_s ? ` (${r.cost.draw.tokens_per_s.toFixed(0)} tokens/s)` : "") + (r.cost.engine ? ` on ${r.cost.engine.backend} ${r.cost.engine.version || ""}` : "") +
    (r.cost.budgets ? `; budgets ${r.cost.budgets.wall_s.toFixed(1)} s` : "")))));
  return el("div", { class: "section panel" }, ...parts);
}

// -- page ---------------------------------------------------------------------------------------
function render() {
  const app = document.getElementById("app");
  app.replaceChildren(el("div", { class: "wrap" }, header(), cards(),
    el("div", { class: "figs section" }, curveChart(), diffChart(), statusChart(), statsChart()),
    el("div", { class: "section" }, passTable()), lengthPanel(), problemTable(),
    el("div", { class: "footer", text: `evalkit view · figures from evalkit.reports.compare (the numbers of evalkit compare --format json) · ${D.mode === "static" ? `static report: up to ${D.limits.max_samples} sample texts per problem and checkpoint` : "served from the run directories: every sample opens in full"}` })),
    el("div", { class: "drawer", id: "drawer" }), el("div", { class: "tip", id: "tip" }));
  applyFilters();
  document.addEventListener("keydown", ev => { if (ev.key === "Escape") closeDrawer(); });
  document.body.dataset.ready = "1";
}

loadData().then(data => { D = data; prepare(); render(); }).catch(err => {
  const app = document.getElementById("app");
  app.replaceChildren(el("p", { class: "loading", text: `Cannot show this report: ${err.message}` }));
  document.body.dataset.ready = "error";
  console.error(err);
});
