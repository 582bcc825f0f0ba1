// The status page: polls /api/state and draws it; no framework, no build.
"use strict";

const $ = (id) => document.getElementById(id);

function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtTime(t) {
  return t ? new Date(t).toLocaleString() : "never";
}

function li(text, cls) {
  const e = document.createElement("li");
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function fill(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [li(empty, "muted")]));
}

// bars draws values as an SVG bar chart; titles give the exact values,
// none what is said instead.
function bars(el, values, label, none) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = 100, h = 40, max = Math.max(0, ...values) || 1;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const bw = w / Math.max(values.length, 1);
  values.forEach((v, i) => {
    const r = document.createElementNS(ns, "rect");
    const bh = Math.max(0.5, (v / max) * h);
    r.setAttribute("x", i * bw + bw * 0.1);
    r.setAttribute("width", bw * 0.8);
    r.setAttribute("y", h - bh);
    r.setAttribute("height", bh);
    const t = document.createElementNS(ns, "title");
    t.textContent = label(v);
    r.appendChild(t);
    svg.appendChild(r);
  });
  const cap = document.createElement("p");
  cap.className = "muted";
  cap.textContent = values.length ? `last ${values.length}, largest ${label(max)}` : none;
  el.replaceChildren(...(values.length ? [svg, cap] : [cap]));
}

// alertItem is one line of the alert box, as `chatsafe status` prints it
// ("vault: ..."), with the objects it names below. Text only: alerts carry
// hostnames, paths and errors.
function alertItem(a) {
  const e = document.createElement("li");
  e.className = a.severity === "bad" ? "bad" : "warn";
  const label = document.createElement("strong");
  label.textContent = a.label + ":";
  e.append(label, " " + a.text);
  if (a.items && a.items.length) {
    const sub = document.createElement("ul");
    sub.append(...a.items.map((t) => li(t)));
    e.appendChild(sub);
  }
  return e;
}

// lastAlerts keeps the box as drawn: redrawn only when it changes, so that
// a screen reader announces an alert once, not at every poll.
let lastAlerts = "";

function renderAlerts(alerts) {
  const key = JSON.stringify(alerts);
  if (key === lastAlerts) return;
  lastAlerts = key;
  $("alert-list").replaceChildren(...alerts.map(alertItem));
  $("alerts").hidden = alerts.length === 0;
  $("alerts").classList.toggle("severe", alerts.some((a) => a.severity === "bad"));
}

let paused = false;

function render(s) {
  const st = s.status, h = s.history;
  paused = h.paused;
  const state = paused ? "paused" : st.state;
  $("state").textContent = state;
  $("state").className = "badge " + state;
  $("source").textContent = st.source;
  $("latest").textContent = st.last_snapshot ? st.last_snapshot.short_id : "none yet";
  $("latest-time").textContent = st.last_snapshot ? fmtTime(st.last_snapshot.time) : "";
  $("pending").textContent = st.pending_deltas +
    (st.offline ? ` (offline: ${st.offline.snapshots} snapshot${st.offline.snapshots === 1 ? "" : "s"} waiting to upload)` : "");
  $("key-source").textContent = st.key_source;
  $("version").textContent = st.version;
  $("pause").textContent = paused ? "Resume" : "Pause";
  renderAlerts(s.alerts || []);

  // The daemon remembers its cycles and uploads since it started only;
  // older ones (an earlier run's, a `chatsafe backup` run without it) are
  // not "none": only an open repository without a snapshot has had none.
  const fresh = st.repository_id && !st.last_snapshot;
  const none = fresh ? "no backups yet" : "none since the daemon started at " + fmtTime(h.since);

  $("remotes").replaceChildren(...st.remotes.map((r) => {
    const tr = document.createElement("tr");
    // As `chatsafe status` words it; offline, what a remote holds is not
    // known until the repository opens.
    const health = r.last_error ? "error: " + r.last_error
      : r.uploading ? "uploading"
      : r.queued > 0 ? "queued"
      : st.state === "offline" ? "not known while offline" : "up to date";
    // Each remote's last upload is recorded in the state directory, read
    // once the repository opens; one from before that record was kept is
    // not known.
    const last = r.last_upload ? fmtTime(r.last_upload)
      : !st.repository_id ? "not known yet" : fresh ? "never" : "not recorded";
    [r.name + " (" + r.remote + ")", health, String(r.queued), last].forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = v;
      if (i === 1) td.className = r.last_error ? "bad" : "ok";
      tr.appendChild(td);
    });
    return tr;
  }));

  const done = h.cycles.filter((c) => !c.error && !c.unchanged);
  bars($("chart-sizes"), done.map((c) => c.added_bytes), fmtBytes, none);
  bars($("chart-durations"), h.cycles.filter((c) => !c.error).map((c) => c.took_s), (v) => v.toFixed(2) + " s", none);

  fill($("timeline"), s.snapshots.map((p) =>
    li(`${p.short_id}  #${p.seq}  ${fmtTime(p.time)}  ${p.files} files, ${fmtBytes(p.bytes)}`)), "no snapshots yet");
  fill($("uploads"), h.uploads.slice().reverse().map((u) =>
    li(`${fmtTime(u.time)}  ${u.remote}: ${u.delta} (${fmtBytes(u.bytes)})`)), fresh ? "no uploads yet" : none);
  fill($("errors"), h.errors.slice().reverse().map((e) =>
    li(`${fmtTime(e.time)}  ${e.remote ? e.remote + ": " : ""}${e.error}`, "bad")), "none");
}

async function refresh() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    if (!r.ok) throw new Error(await r.text());
    render(await r.json());
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("message").textContent = "cannot reach the daemon: " + e.message;
  }
}

async function act(path, button) {
  button.disabled = true;
  $("message").textContent = "";
  try {
    const r = await fetch(path, { method: "POST", headers: { "X-Chatsafe-Action": "1" } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    if (body.snapshot) $("message").textContent = body.unchanged ? "nothing changed" : "snapshot " + body.snapshot.short_id;
  } catch (e) {
    $("message").textContent = "failed: " + e.message;
  } finally {
    button.disabled = false;
    refresh();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("backup").addEventListener("click", (e) => act("/api/backup", e.target));
  $("pause").addEventListener("click", (e) => act(paused ? "/api/resume" : "/api/pause", e.target));
  refresh();
  setInterval(refresh, 2000);
});
