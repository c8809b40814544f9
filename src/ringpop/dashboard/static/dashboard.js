// ringpop dashboard: renders the server's snapshots (server-sent events) as SVG and tables.
// No build step, no dependencies. window.ringpopDashboard exposes render counters and
// lags for tests and bench/dashboard.py.

const SVG = "http://www.w3.org/2000/svg";
const CX = 200, CY = 200, R = 150, R_SHARES = 105;   // the ring; the shares inside it
const HISTORY = 60;

const state = {
  snapshot: null,
  layout: null,          // the current ring layout (segments per member)
  layoutId: null,
  fetching: null,
  history: new Map(),    // node -> {rtt: [], period: []}
  lookup: null,          // the last lookup answer (marker and preference on the ring)
  ringKey: null,         // what the ring was last drawn from
};
const stats = { rendered: 0, renders: 0, lastRenderMs: 0, maxRenderMs: 0, renderMs: [], ringDraws: 0, maxRingMs: 0, lags: [], ringId: null };
window.ringpopDashboard = { stats, state, R };

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const palette = new Map();   // address -> colour, by rank in the member list

function updatePalette(snap, layout) {
  // Golden-angle hues by rank: distinct for every member, stable while the list is.
  const addresses = [...new Set([...snap.members.map((m) => m.address), ...(layout ? layout.servers : [])])].sort();
  palette.clear();
  addresses.forEach((a, i) => palette.set(a, `hsl(${(i * 137.508) % 360}, 62%, ${i % 2 ? 42 : 55}%)`));
}

export function colour(address) {
  return palette.get(address) || "#999";
}

function point(fraction, r) {
  const a = fraction * 2 * Math.PI - Math.PI / 2;   // 0 at the top, clockwise
  return [CX + r * Math.cos(a), CY + r * Math.sin(a)];
}

function arcPath(start, end, r = R) {
  // One stretch of the ring as an SVG arc; a full circle is drawn as two halves.
  if (end - start >= 1) return arcPath(0, 0.5, r) + " " + arcPath(0.5, 1, r);
  const [x1, y1] = point(start, r), [x2, y2] = point(end, r);
  const large = end - start > 0.5 ? 1 : 0;
  return `M${x1.toFixed(3)} ${y1.toFixed(3)}A${r} ${r} 0 ${large} 1 ${x2.toFixed(3)} ${y2.toFixed(3)}`;
}

function drawRing() {
  const svg = $("ring");
  const snap = state.snapshot, layout = state.layout;
  svg.replaceChildren();
  const base = document.createElementNS(SVG, "circle");
  Object.entries({ cx: CX, cy: CY, r: R, fill: "none", stroke: "#eee", "stroke-width": 28 })
    .forEach(([k, v]) => base.setAttribute(k, v));
  svg.append(base);
  if (!layout || !snap) return;
  const members = new Map(snap.members.map((m) => [m.address, m]));
  const preferred = state.lookup ? state.lookup.preference : [];
  for (const server of layout.servers) {
    const segs = layout.segments[server] || [];
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", segs.map(([s, e]) => arcPath(s / layout.space, e / layout.space)).join(" "));
    path.setAttribute("stroke", colour(server));
    const m = members.get(server);
    path.setAttribute("class", `arc ${m ? m.status : ""}${preferred.includes(server) ? " hl" : ""}`);
    path.dataset.address = server;
    path.dataset.share = String(layout.shares[server] ?? 0);
    path.addEventListener("mousemove", (ev) => showTip(ev, server));
    path.addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
    svg.append(path);
  }
  // Inside: each member's whole share as one arc, in ring order of the members.
  let at = 0;
  for (const server of layout.servers) {
    const share = layout.shares[server] ?? 0;
    if (share <= 0) continue;
    const wedge = document.createElementNS(SVG, "path");
    wedge.setAttribute("d", arcPath(at, at + share, R_SHARES));
    wedge.setAttribute("stroke", colour(server));
    wedge.setAttribute("class", "share");
    wedge.dataset.address = server;
    wedge.addEventListener("mousemove", (ev) => showTip(ev, server));
    wedge.addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
    svg.append(wedge);
    at += share;
  }
  const text = (x, y, s, size) => {
    const t = document.createElementNS(SVG, "text");
    Object.entries({ x, y, "text-anchor": "middle", "font-size": size, fill: "#555" }).forEach(([k, v]) => t.setAttribute(k, v));
    t.textContent = s;
    svg.append(t);
  };
  text(CX, CY - 6, `${layout.servers.length} servers`, 16);
  text(CX, CY + 14, `ring ${snap.ring.id}`, 11);
  if (state.lookup && state.lookup.hash !== undefined) {
    const f = state.lookup.hash / state.lookup.space;
    const a = f * 2 * Math.PI - Math.PI / 2;
    const line = document.createElementNS(SVG, "line");
    Object.entries({ x1: CX + (R - 26) * Math.cos(a), y1: CY + (R - 26) * Math.sin(a), x2: CX + (R + 26) * Math.cos(a), y2: CY + (R + 26) * Math.sin(a), class: "marker" })
      .forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  stats.ringId = layout.id;
}

function showTip(ev, server) {
  const m = state.snapshot.members.find((x) => x.address === server) || {};
  const labels = Object.entries(m.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "none";
  const tip = $("tip");
  tip.textContent = `${server}\nstatus ${m.status}  incarnation ${m.incarnation}\nshare ${((m.share || 0) * 100).toFixed(2)}%\nidentity ${m.identity}\nlabels ${labels}`;
  tip.style.left = `${ev.clientX + 12}px`;
  tip.style.top = `${ev.clientY + 12}px`;
  tip.style.display = "block";
}

function spark(values, colourText) {
  const v = values.filter((x) => typeof x === "number");
  if (v.length < 2) return "";
  const max = Math.max(...v, 1e-9), w = 80, h = 18;
  const pts = v.map((x, i) => `${(i * w / (v.length - 1)).toFixed(1)},${(h - x / max * h).toFixed(1)}`).join(" ");
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="${colourText}" stroke-width="1" points="${pts}"/></svg>`;
}

const fmt = (x, digits = 1) => (typeof x === "number" ? x.toFixed(digits) : "");

function renderTables(snap) {
  $("viewpoint").textContent = snap.viewpoint ? `(as ${snap.viewpoint} sees them)` : "";
  $("members").tBodies[0].innerHTML = snap.members.map((m) => `<tr data-address="${esc(m.address)}">
    <td><span class="swatch" style="background:${colour(m.address)}"></span>${esc(m.address)}</td>
    <td class="st-${esc(m.status)}">${esc(m.status)}</td><td>${esc(m.incarnation)}</td>
    <td>${(m.share * 100).toFixed(1)}%</td>
    <td>${esc(Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(" "))}</td></tr>`).join("");
  $("nodes").tBodies[0].innerHTML = snap.nodes.map((n) => {
    const h = state.history.get(n.address) || { rtt: [], period: [] };
    const answers = n.ok ? "yes" : `no: ${esc(n.error ? n.error.message : "")}`;
    const part = n.partition === null || n.partition === undefined ? "" : `#${n.partition + 1}`;
    return `<tr data-address="${esc(n.address)}" class="${n.ok ? "" : "down"}">
      <td>${esc(n.address)}</td><td class="answers">${answers}</td><td>${part}</td>
      <td>${esc(n.checksum ?? "")}</td>
      <td>${fmt(n.rttMs)} ${spark(h.rtt, "#1565c0")}</td>
      <td>${fmt(n.protocolMedianMs)} ${spark(h.period, "#6a1b9a")}</td>
      <td>${n.rss ? (n.rss / 1048576).toFixed(0) : ""}</td>
      <td>${n.keys ?? ""}</td><td>${n.handoffs ?? ""}</td></tr>`;
  }).join("");
}

function renderPartitions(snap) {
  const box = $("partitions");
  box.classList.toggle("split", snap.split);
  const groups = snap.partitions.map((p, i) => `<div class="group"><b>#${i + 1}</b> checksum ${p.checksum}: ${p.nodes.map(esc).join(", ")}</div>`);
  $("partitions-body").innerHTML = snap.partitions.length === 0
    ? "<i>no node answers</i>"
    : (snap.split ? `<b class="err">SPLIT: ${snap.partitions.length} membership views</b>` : `all ${snap.partitions[0].nodes.length} answering nodes agree`) + groups.join("");
}

function renderTimeline(snap) {
  $("timeline").innerHTML = snap.events.slice().reverse().slice(0, 150).map((e) => {
    const t = new Date(e.at * 1000).toLocaleTimeString();
    return `<div class="k-${esc(e.kind)}" data-kind="${esc(e.kind)}">${t} ${esc(e.text)}</div>`;
  }).join("");
}

function render() {
  const snap = state.snapshot;
  if (!snap) return;
  const began = performance.now();
  updatePalette(snap, state.layout);
  const problem = $("problem");
  problem.textContent = snap.problem || "";
  problem.classList.toggle("shown", Boolean(snap.problem));
  const down = snap.nodes.filter((n) => !n.ok).length;
  $("summary").textContent = `${snap.members.length} members, ${snap.nodes.length - down}/${snap.nodes.length} nodes answer, ` +
    `${snap.partitions.length} partition${snap.partitions.length === 1 ? "" : "s"}, round ${snap.roundMs ?? "?"} ms, ` +
    `updated ${new Date(snap.time * 1000).toLocaleTimeString()}`;
  renderTables(snap);
  renderPartitions(snap);
  renderTimeline(snap);
  // Redraw the ring only when it or a member's status changed (10k arcs at 100 nodes).
  const ringKey = `${state.layoutId}|${snap.members.map((m) => m.status[0]).join("")}`;
  if (ringKey !== state.ringKey) {
    const t = performance.now();
    state.ringKey = ringKey;
    drawRing();
    stats.ringDraws += 1;
    stats.maxRingMs = Math.max(stats.maxRingMs, performance.now() - t);
  }
  const spent = performance.now() - began;
  stats.renders += 1;
  stats.rendered = snap.seq;
  stats.lastRenderMs = spent;
  stats.maxRenderMs = Math.max(stats.maxRenderMs, spent);
  stats.renderMs.push(spent);
  if (stats.renderMs.length > 1000) stats.renderMs.shift();
  stats.lags.push(Date.now() - snap.time * 1000);   // snapshot built -> drawn
  if (stats.lags.length > 1000) stats.lags.shift();
}

async function ensureLayout(snap) {
  if (snap.ring.id === state.layoutId) return;
  const id = snap.ring.id;
  const response = await fetch(`api/ring/${encodeURIComponent(id)}`);
  if (!response.ok) return;     // it changed again meanwhile: the next snapshot fetches
  state.layout = await response.json();
  state.layoutId = id;
  if (state.lookup) refreshLookup();   // the owner may have moved with the ring
}

async function onSnapshot(snap) {
  for (const n of snap.nodes) {
    const h = state.history.get(n.address) || { rtt: [], period: [] };
    h.rtt.push(n.rttMs); h.period.push(n.protocolMedianMs);
    if (h.rtt.length > HISTORY) { h.rtt.shift(); h.period.shift(); }
    state.history.set(n.address, h);
  }
  state.snapshot = snap;
  try { await ensureLayout(snap); } catch (err) { /* drawn with the old layout */ }
  if (state.snapshot === snap) render();
}

async function runLookup(key, n) {
  const out = $("lookup-result");
  const response = await fetch(`api/lookup?key=${encodeURIComponent(key)}&n=${encodeURIComponent(n)}`);
  if (!response.ok) { out.innerHTML = `<span class="err">${esc(await response.text())}</span>`; return; }
  const a = await response.json();
  a.n = n;
  state.lookup = a;
  const owner = a.owner ? `<b id="lookup-owner">${esc(a.owner)}</b>` : `<span class="err">${esc(a.error)}</span>`;
  out.innerHTML = `${esc(a.key)}: owner ${owner} (asked ${esc(a.node)})<br>` +
    `preference: <span id="lookup-preference">${a.preference.map(esc).join(", ")}</span>` +
    (a.owner && !a.agrees ? `<br><span class="err">the node's owner differs from the ring drawn here (another hash function?)</span>` : "");
  state.ringKey = null;
  drawRing();
}

function refreshLookup() {
  runLookup(state.lookup.key, state.lookup.n).catch(() => {});
}

async function lookup(ev) {
  ev.preventDefault();
  const key = $("lookup-key").value;
  if (!key) { $("lookup-result").textContent = "type a key"; return; }
  await runLookup(key, $("lookup-n").value || "3");
}

function connect() {
  const source = new EventSource("api/events");
  source.addEventListener("snapshot", (ev) => { onSnapshot(JSON.parse(ev.data)); });
  source.onerror = () => { $("summary").textContent = "lost the dashboard server; reconnecting..."; };
}

$("lookup-form").addEventListener("submit", lookup);
connect();
