/* evalkit dynamics: draws the report evalkit computed (reports/dynamics_page.py embeds `evalkit dynamics --json`);
   computes no figure of its own. Text from the runs is set with textContent, never parsed as HTML. */
"use strict";

const RUN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];  // as the PNG
const MARKERS = ["circle", "square", "triangle", "diamond"];
const BASE = "#767676";
const SVGNS = "http://www.w3.org/2000/svg";
let D = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else if (k === "style") e.setAttribute("style", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
  return e;
}
function sv(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) { if (k === "text") e.textContent = v; else e.setAttribute(k, v); }
  return e;
}
const color = j => RUN_COLORS[j % RUN_COLORS.length];
const pct = (x, d = 1) => (x === null || x === undefined ? "–" : (100 * x).toFixed(d));
const num = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const signed = (x, d = 1) => (x === null || x === undefined ? "–" : (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(100 * x).toFixed(d));
const fmtP = p => (p < 0.001 ? "<0.001" : p.toFixed(3));
const stepText = s => (Math.abs(s) >= 10000 ? `${+(s / 1000).toFixed(1)}k` : String(s));

async function loadData() {
  const raw = document.getElementById("evalkit-data").textContent.trim();
  if (typeof DecompressionStream === "undefined") throw new Error("this browser cannot decompress the report (needs DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+)");
  const bin = atob(raw), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return JSON.parse(await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text());
}

// -- header, notes, cards ------------------------------------------------------------------------
function header() {
  const R = D.report, ns = [...new Set(R.runs.flatMap(r => r.points.map(p => p.n)))];
  const sub = el("div", { class: "sub" }, el("b", { text: R.benchmark }), ` · ${R.data_version || R.data_hash} · k = ${R.ks.join(", ")} · n = ${ns.join(", ")} · `,
    el("b", { text: String(R.runs.length) }), ` training run${R.runs.length > 1 ? "s" : ""} · `,
    R.base_run ? ["base run ", el("b", { text: R.base_run.model })] : "no base run", ` · generated ${D.generated}`);
  const notes = R.notes.map(line => el("div", { class: "note", text: line.startsWith("settings differ") ? line + " (hollow in the charts)" : line }));
  return el("div", {}, el("h1", { text: D.title }), sub, notes);
}

function cards() {
  const R = D.report, ks = R.ks;
  return el("div", { class: "cards" }, R.runs.map((r, j) => {
    const first = r.points[0], last = r.points[r.points.length - 1];
    const rows = ks.map(k => {
      const key = String(k), d = last.delta_vs_base ? last.delta_vs_base[key] : null;
      return el("span", {}, `pass@${k} `, el("b", { text: pct(last.pass_at_k[key]) }),
        d ? el("span", { class: "badge " + (d.ci95[0] > 0 ? "up" : d.ci95[1] < 0 ? "down" : "flat"), style: "margin-left:4px", title: `vs base: 95% CI [${signed(d.ci95[0])}, ${signed(d.ci95[1])}], p = ${fmtP(d.p)}`, text: signed(d.diff) }) : null);
    });
    return el("div", { class: "panel card", "data-run": j },
      el("span", { class: "swatch", style: `background:${color(j)}` }),
      el("div", { class: "name", title: r.name, text: r.name }),
      el("div", { class: "path", text: `${r.points.length} checkpoints · steps ${stepText(first.step)} – ${stepText(last.step)}` }),
      el("div", { class: "row", style: "margin-top:8px" }, rows),
      el("div", { class: "row", style: "margin-top:4px" }, `at step ${stepText(last.step)}`,
        last.sparsity !== null ? el("span", {}, "unchanged ", el("b", { text: pct(last.sparsity, 2) + "%" })) : null));
  }));
}

// -- charts: x = training step -----------------------------------------------------------------------
function niceTicks(lo, hi, count) {
  const span = hi - lo || 1, raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(s => s * mag).find(s => span / s <= count) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}
function extent(values, pad, clampLo, clampHi) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-12) { lo -= Math.abs(lo) * 0.05 || 0.5; hi += Math.abs(hi) * 0.05 || 0.5; }
  const m = (hi - lo) * pad;
  return [clampLo === undefined ? lo - m : Math.max(clampLo, lo - m), clampHi === undefined ? hi + m : Math.min(clampHi, hi + m)];
}
const tip = () => document.getElementById("tip");
function showTip(ev, lines) { const t = tip(); t.replaceChildren(...lines.map(s => el("div", { text: s }))); t.style.display = "block"; t.style.left = (ev.clientX + 14) + "px"; t.style.top = (ev.clientY + 12) + "px"; }
function hideTip() { tip().style.display = "none"; }

function marker(kind, x, y, col, hollow, attrs) {
  const fill = hollow ? "#fff" : col, common = { fill, stroke: col, "stroke-width": 1.8, ...attrs };
  if (kind === "square") return sv("rect", { x: x - 3.6, y: y - 3.6, width: 7.2, height: 7.2, ...common });
  if (kind === "triangle") return sv("polygon", { points: `${x},${y - 4.6} ${x - 4.4},${y + 3.4} ${x + 4.4},${y + 3.4}`, ...common });
  if (kind === "diamond") return sv("polygon", { points: `${x},${y - 4.8} ${x - 4.2},${y} ${x},${y + 4.8} ${x + 4.2},${y}`, ...common });
  return sv("circle", { cx: x, cy: y, r: 4, ...common });
}

/* One chart: series = [{j, pts: [{step, v, lo, hi, hollow, tipLines, fig}]}], base = {v, lo, hi} or null. */
function chart(id, title, yLabel, series, opts) {
  const W = 460, H = 270, m = { l: 54, r: opts.right ? 54 : 14, t: 10, b: 38 }, iw = W - m.l - m.r, ih = H - m.t - m.b;
  const steps = series.flatMap(s => s.pts.map(p => p.step)), ys = series.flatMap(s => s.pts.flatMap(p => [p.v, p.lo, p.hi])).filter(v => v !== undefined && v !== null);
  if (opts.base) ys.push(opts.base.v, ...(opts.base.lo !== undefined ? [opts.base.lo, opts.base.hi] : []));
  const [x0, x1] = extent(steps, 0.05), [y0, y1] = extent(ys, 0.08, opts.clamp ? opts.clamp[0] : undefined, opts.clamp ? opts.clamp[1] : undefined);
  const x = s => ((s - x0) / (x1 - x0)) * iw, y = v => ih - ((v - y0) / (y1 - y0)) * ih;
  const svg = sv("svg", { viewBox: `0 0 ${W} ${H}`, id, role: "img", "aria-label": title }), g = sv("g", { transform: `translate(${m.l},${m.t})` });
  svg.append(g);
  for (const t of niceTicks(y0, y1, 5)) {
    g.append(sv("line", { x1: 0, x2: iw, y1: y(t), y2: y(t), stroke: "#eef0f3" }));
    g.append(sv("text", { x: -6, y: y(t) + 3.5, "text-anchor": "end", text: opts.fmt ? opts.fmt(t) : String(t) }));
  }
  for (const t of niceTicks(x0, x1, 5)) if (Number.isInteger(t)) {
    g.append(sv("line", { x1: x(t), x2: x(t), y1: 0, y2: ih, stroke: "#f3f4f6" }));
    g.append(sv("text", { x: x(t), y: ih + 15, "text-anchor": "middle", text: stepText(t) }));
  }
  g.append(sv("line", { x1: 0, x2: iw, y1: ih, y2: ih, stroke: "#c9ced6" }));
  g.append(sv("text", { x: iw / 2, y: ih + 32, "text-anchor": "middle", text: "training step" }));
  g.append(sv("text", { transform: `translate(${-m.l + 12},${ih / 2}) rotate(-90)`, "text-anchor": "middle", text: yLabel }));
  if (opts.base) {
    if (opts.base.lo !== undefined) g.append(sv("rect", { x: 0, width: iw, y: y(opts.base.hi), height: Math.max(0, y(opts.base.lo) - y(opts.base.hi)), fill: BASE, "fill-opacity": 0.09 }));
    g.append(sv("line", { x1: 0, x2: iw, y1: y(opts.base.v), y2: y(opts.base.v), stroke: BASE, "stroke-dasharray": "6 4", "stroke-width": 1.4, "data-fig": "base-" + id }));
  }
  for (const s of series) {
    const col = color(s.j), pts = s.pts;
    if (pts.length > 1 && pts[0].lo !== undefined) {
      const up = pts.map(p => `${x(p.step)},${y(p.hi)}`), down = pts.map(p => `${x(p.step)},${y(p.lo)}`).reverse();
      g.append(sv("polygon", { points: up.concat(down).join(" "), fill: col, "fill-opacity": 0.15 }));
    } else if (pts.length === 1 && pts[0].lo !== undefined) g.append(sv("line", { x1: x(pts[0].step), x2: x(pts[0].step), y1: y(pts[0].lo), y2: y(pts[0].hi), stroke: col, "stroke-width": 1.4 }));
    g.append(sv("polyline", { points: pts.map(p => `${x(p.step)},${y(p.v)}`).join(" "), fill: "none", stroke: col, "stroke-width": 2, "stroke-dasharray": s.dashed ? "5 3" : null }));
    if (s.dashed) continue;
    for (const p of pts) {
      const mk = marker(MARKERS[s.j % MARKERS.length], x(p.step), y(p.v), col, p.hollow, { ...p.fig, "data-run": s.j, "data-step": p.step, "data-value": p.raw });
      mk.addEventListener("mousemove", ev => showTip(ev, p.tipLines));
      mk.addEventListener("mouseleave", hideTip);
      g.append(mk);
    }
  }
  if (opts.right) opts.right(g, iw, ih, x);
  return el("div", { class: "panel fig" }, el("h2", { text: title }), svg, opts.caption ? el("div", { class: "caption", text: opts.caption }) : null);
}

function passChart(k) {
  const R = D.report, key = String(k);
  const series = R.runs.map((r, j) => ({ j, pts: r.points.map(p => ({ step: p.step, v: 100 * p.pass_at_k[key], raw: p.pass_at_k[key], lo: 100 * p.ci95[key][0], hi: 100 * p.ci95[key][1], hollow: p.settings_differ.length > 0,
    fig: { "data-fig": "pass", "data-k": k }, tipLines: [`${r.name}, step ${p.step}`, `pass@${k} ${pct(p.pass_at_k[key], 2)}%  [${pct(p.ci95[key][0], 2)}, ${pct(p.ci95[key][1], 2)}]`,
      ...(p.delta_vs_base ? [`vs base ${signed(p.delta_vs_base[key].diff, 2)} pts, p = ${fmtP(p.delta_vs_base[key].p)}`] : [])] })) }));
  const b = R.base_run, base = b ? { v: 100 * b.pass_at_k[key], lo: 100 * b.ci95[key][0], hi: 100 * b.ci95[key][1] } : null;
  return chart(`pass-${k}`, `pass@${k}`, `pass@${k} (%)`, series, { base, clamp: [0, 100], caption: "Lines: pass@k of each checkpoint; bands: bootstrap 95% intervals; grey dashed: the base run." });
}

function plainChart(id, title, yLabel, field, scale, digits, useBase) {
  const R = D.report;
  const series = R.runs.map((r, j) => ({ j, pts: r.points.filter(p => p[field] !== null).map(p => ({ step: p.step, v: scale * p[field], raw: p[field], hollow: p.settings_differ.length > 0,
    fig: { "data-fig": id }, tipLines: [`${r.name}, step ${p.step}`, `${title}: ${(scale * p[field]).toFixed(digits)}`] })) })).filter(s => s.pts.length);
  if (!series.length) return null;
  const b = R.base_run, base = useBase && b && b[field] !== null && b[field] !== undefined ? { v: scale * b[field] } : null;
  return [series, base];
}

function statCharts() {
  const R = D.report, out = [];
  const ent = plainChart("entropy", "mean token entropy", "nats per token", "mean_entropy", 1, 3, true);
  if (ent) out.push(chart("entropy", "Token entropy", "mean entropy (nats/token)", ent[0], { base: ent[1], fmt: t => t.toFixed(3) }));
  const len = plainChart("tokens", "mean length", "tokens", "mean_tokens", 1, 1, true);
  if (len) {
    const trunc = R.runs.map((r, j) => ({ j, pts: r.points.map(p => ({ step: p.step, v: 100 * p.truncated_rate })) }));
    const top = Math.max(1, ...trunc.flatMap(s => s.pts.map(p => p.v))) * 1.15;
    const right = (g, iw, ih, x) => {
      const y = v => ih - (v / top) * ih;
      for (const t of niceTicks(0, top, 4)) g.append(sv("text", { x: iw + 6, y: y(t) + 3.5, text: String(t) }));
      g.append(sv("text", { transform: `translate(${iw + 44},${ih / 2}) rotate(90)`, "text-anchor": "middle", text: "truncated (%, dashed)" }));
      for (const s of trunc) {
        g.append(sv("polyline", { points: s.pts.map(p => `${x(p.step)},${y(p.v)}`).join(" "), fill: "none", stroke: color(s.j), "stroke-width": 1.5, "stroke-dasharray": "5 3" }));
        for (const p of s.pts) g.append(sv("circle", { cx: x(p.step), cy: y(p.v), r: 2, fill: color(s.j), "data-fig": "truncated", "data-run": s.j, "data-step": p.step, "data-value": p.v / 100 }));
      }
    };
    out.push(chart("tokens", "Length and truncation", "mean length (tokens, solid)", len[0], { base: len[1], right, fmt: t => String(t),
      caption: "Solid (left axis): mean completion length; dashed (right axis): share of samples cut off at the token limit." }));
  }
  const sp = plainChart("sparsity", "parameters unchanged (%)", "%", "sparsity", 100, 3, false);
  if (sp) out.push(chart("sparsity", "Update sparsity", "parameters unchanged (%)", sp[0], { fmt: t => String(t), clamp: [0, 100],
    caption: `Share of parameters bit-identical to ${R.base_model} (evalkit diff-params).` }));
  return out;
}

function legend() {
  const R = D.report;
  return el("div", { class: "legend", id: "legend", style: "font-size:13px;margin:4px 0 10px" },
    R.runs.map((r, j) => el("span", {}, el("i", { style: `background:${color(j)}` }), r.name)),
    R.base_run ? el("span", {}, el("i", { style: `background:${BASE};height:3px;vertical-align:3px;width:16px` }), `base run (${R.base_run.model})`) : null,
    R.runs.some(r => r.points.some(p => p.settings_differ.length)) ? el("span", { class: "muted", text: "hollow: settings differ" }) : null);
}

// -- table ------------------------------------------------------------------------------------------
function pointTable() {
  const R = D.report, ks = R.ks, maj = R.runs.some(r => r.points.some(p => p.maj_at_k)), sparse = R.runs.some(r => r.points.some(p => p.sparsity !== null)), based = !!R.base_run;
  const head = el("tr", {}, ["training run", "step", "n", ...ks.map(k => `pass@${k}`), ...(maj ? [`maj@${ks[ks.length - 1]}`] : []), "entropy", "tokens", "trunc %",
    ...(sparse ? ["unchanged %", "rel. update"] : []), ...(based ? ks.map(k => `Δ@${k} vs base`) : [])].map(t => el("th", { text: t })));
  const body = [];
  R.runs.forEach((r, j) => r.points.forEach((p, i) => {
    const kmax = String(ks[ks.length - 1]);
    body.push(el("tr", { "data-run": j, "data-step": p.step },
      el("td", {}, i === 0 ? el("span", {}, el("i", { style: `display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;background:${color(j)}` }), r.name) : ""),
      el("td", { text: stepText(p.step) + (p.settings_differ.length ? " *" : "") }), el("td", { text: String(p.n) }),
      ks.map(k => el("td", { "data-fig": "table-pass", "data-run": j, "data-step": p.step, "data-k": k, "data-value": p.pass_at_k[String(k)] },
        pct(p.pass_at_k[String(k)], 2), el("span", { class: "ci", style: "color:var(--muted);font-size:12px", text: ` [${pct(p.ci95[String(k)][0])}, ${pct(p.ci95[String(k)][1])}]` }))),
      maj ? el("td", { text: p.maj_at_k ? pct(p.maj_at_k[kmax], 2) : "–" }) : null,
      el("td", { text: num(p.mean_entropy) }), el("td", { text: num(p.mean_tokens, 1) }), el("td", { text: pct(p.truncated_rate, 2) }),
      sparse ? [el("td", { "data-fig": "table-sparsity", "data-run": j, "data-step": p.step, "data-value": p.sparsity, text: pct(p.sparsity, 3) }), el("td", { text: p.update_norm_rel === null ? "–" : p.update_norm_rel.toExponential(2) })] : null,
      based ? ks.map(k => { const d = p.delta_vs_base[String(k)], sig = d.ci95[0] > 0 || d.ci95[1] < 0;
        return el("td", { class: (sig ? "sig " : "") + (d.diff > 0 ? "pos" : d.diff < 0 ? "neg" : ""), "data-fig": "table-delta", "data-run": j, "data-step": p.step, "data-k": k, "data-value": d.diff, title: `95% CI [${signed(d.ci95[0], 2)}, ${signed(d.ci95[1], 2)}], p = ${fmtP(d.p)}`, text: signed(d.diff) }); }) : null));
  }));
  return el("div", { class: "panel section" }, el("h2", { text: "Every checkpoint" }),
    el("div", { style: "overflow-x:auto" }, el("table", { class: "tbl", id: "point-table" }, el("thead", {}, head), el("tbody", {}, body))),
    el("div", { class: "caption muted", style: "margin-top:6px;font-size:12px", text: "pass@k in % with bootstrap 95% intervals (each run's metrics.json figures)" +
      (based ? "; Δ: paired difference against the base run in points (bold: the 95% interval excludes 0; hover for the interval and p)" : "") + "." }));
}

function render() {
  const R = D.report, ks = R.ks;
  document.getElementById("app").replaceChildren(el("div", { class: "wrap" }, header(), cards(),
    el("div", { class: "section" }, legend(), el("div", { class: "figs", style: "grid-template-columns:repeat(auto-fill,minmax(440px,1fr))" }, ks.map(passChart), statCharts())),
    pointTable(),
    el("div", { class: "footer", text: "evalkit dynamics · figures from evalkit.reports.dynamics (the numbers of evalkit dynamics --json; each checkpoint's pass@k is its metrics.json)" })),
    el("div", { class: "tip", id: "tip" }));
  document.body.dataset.ready = "1";
}

loadData().then(data => { D = data; render(); }).catch(err => {
  document.getElementById("app").replaceChildren(el("p", { class: "loading", text: `Cannot show this report: ${err.message}` }));
  document.body.dataset.ready = "error";
  console.error(err);
});
