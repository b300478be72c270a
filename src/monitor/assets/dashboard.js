// pgferry's live dashboard: the status and an hour of chart points on load, then Server-Sent
// Events from the process (the same events its command line renders). No build step, no CDN.
(() => {
  const HOUR = 3600;
  const EVENTS_SHOWN = 200;
  const token = new URLSearchParams(location.search).get("access_token");
  const withToken = (path) => (token ? `${path}?access_token=${encodeURIComponent(token)}` : path);
  const $ = (id) => document.getElementById(id);

  const fmtCount = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
  const fmtBytes = (n) => {
    if (n === null || n === undefined) return "–";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let v = n;
    let u = 0;
    while (v >= 1000 && u < units.length - 1) {
      v /= 1000;
      u++;
    }
    return `${v.toFixed(v < 10 && u > 0 ? 1 : 0)} ${units[u]}`;
  };
  const fmtSeconds = (s) => {
    if (s === null || s === undefined) return "–";
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  };
  const text = (id, value) => {
    $(id).textContent = value;
  };

  // Charts: one uPlot each, x in Unix seconds, the last hour kept.
  const series = {
    copy: { el: "chart-copy", pick: (s) => s.copyBytesPerSecond / 1e6, color: "#4fa3e0" },
    changes: {
      el: "chart-changes",
      pick: (s) => s.changesPerSecond + s.reverseChangesPerSecond,
      color: "#5fbf77",
    },
    pending: { el: "chart-pending", pick: (s) => s.pendingChanges, color: "#e0b34f" },
    lag: { el: "chart-lag", pick: (s) => s.lagSeconds, color: "#e0604f" },
  };
  const charts = {};
  for (const [name, c] of Object.entries(series)) {
    const el = $(c.el);
    const data = [[], []];
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 180,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 0) * 1.1)] } },
        axes: [
          { stroke: "#8a96a3", grid: { stroke: "#26303a" } },
          { stroke: "#8a96a3", grid: { stroke: "#26303a" }, size: 60 },
        ],
        series: [{}, { stroke: c.color, width: 2, spanGaps: true, points: { show: false } }],
      },
      data,
      el,
    );
    charts[name] = { plot, data, el };
  }
  function addSample(s) {
    for (const [name, c] of Object.entries(series)) {
      const { plot, data, el } = charts[name];
      const v = c.pick(s);
      data[0].push(s.t);
      data[1].push(v === null || v === undefined || Number.isNaN(v) ? null : v);
      while (data[0].length > 0 && data[0][0] < s.t - HOUR) {
        data[0].shift();
        data[1].shift();
      }
      plot.setData(data);
      el.dataset.points = String(data[1].filter((x) => x !== null).length);
    }
  }
  window.addEventListener("resize", () => {
    for (const { plot, el } of Object.values(charts))
      plot.setSize({ width: Math.max(300, el.clientWidth), height: 180 });
  });

  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function showStatus(snap) {
    const st = snap.status;
    const phase = $("phase");
    phase.textContent = st.phase;
    phase.dataset.phase = st.phase;
    text("source", st.source ? `from ${st.source}` : "");
    const c = st.copy;
    text("copy-rows", `${fmtCount(c.rowsDone)} / ${fmtCount(c.rowsTotal)} rows`);
    text(
      "copy-bytes",
      `${fmtBytes(c.bytesDone)} of ${fmtBytes(c.bytesTotal)} · ${fmtBytes(c.bytesPerSecond)}/s`,
    );
    text("eta", c.etaSeconds === null ? "–" : c.etaSeconds === 0 ? "done" : fmtSeconds(c.etaSeconds));
    text("chunks", `${fmtCount(c.chunksDone)} / ${fmtCount(c.chunksTotal)} chunks`);
    const indexed = st.tables.filter((t) => ["indexed", "streaming", "paused"].includes(t.phase)).length;
    text("indexes", `${indexed} / ${st.tables.length}`);
    text("lag", fmtSeconds(st.lagSeconds));
    text("pending", `${fmtCount(st.pendingChanges)} pending change(s)`);
    text("applied", fmtCount(st.stream.changesApplied));
    text("change-rate", `${st.stream.changesPerSecond.toFixed(1)} changes/s`);
    text("start-state", st.startRunning ? "running" : "not running");
    text("starts", st.starts.map((s) => `${s.host} pid ${s.pid}: ${s.role}`).join("; "));

    const body = $("tables").querySelector("tbody");
    body.replaceChildren();
    for (const t of st.tables) {
      const row = document.createElement("tr");
      row.dataset.table = t.name;
      cell(row, t.name);
      cell(row, t.pausedReason ? `${t.phase}: ${t.pausedReason}` : t.phase);
      cell(row, `${fmtCount(t.rowsDone)} / ${fmtCount(t.rowsTotal)}`, "num");
      cell(row, `${fmtBytes(t.bytesDone)} / ${fmtBytes(t.bytesTotal)}`, "num");
      cell(row, t.bytesPerSecond === undefined ? "" : `${fmtBytes(t.bytesPerSecond)}/s`, "num");
      cell(row, t.pendingChanges === null ? "" : fmtCount(t.pendingChanges), "num");
      cell(row, t.lagSeconds === undefined ? "" : fmtSeconds(t.lagSeconds), "num");
      cell(row, fmtCount(t.changesApplied), "num");
      body.appendChild(row);
    }

    // The migration's last errors, from any pgferry process (the event log on the target).
    const errors = $("errors");
    errors.replaceChildren();
    for (const e of [...st.errors].reverse()) {
      const li = document.createElement("li");
      li.dataset.level = "error";
      const time = document.createElement("time");
      time.dateTime = e.at;
      time.textContent = new Date(e.at).toLocaleString();
      li.append(time, e.message);
      errors.appendChild(li);
    }
    $("errors-section").hidden = st.errors.length === 0;

    const alerts = $("alerts");
    alerts.replaceChildren();
    const alert = (message) => {
      const p = document.createElement("p");
      p.textContent = message;
      alerts.appendChild(p);
    };
    if (!st.startRunning && !["none", "cleaned", "rolled-back"].includes(st.phase))
      alert("No pgferry start is running: nothing copies or streams, and the lag grows.");
    if (st.operation)
      alert(
        `${st.operation.name} ${st.operation.state}${st.operation.step ? ` at ${st.operation.step}` : ""}${st.operation.next ? `: ${st.operation.next}` : ""}`,
      );

    const reverse = st.phase === "switched" && st.starts.some((s) => s.role === "reverse stream");
    $("reverse").hidden = !(reverse || snap.reverse.rounds > 0);
    text("reverse-changes", fmtCount(snap.reverse.changes));
    text("reverse-rounds", fmtCount(snap.reverse.rounds));
    text("reverse-last", snap.reverse.lastAt ? new Date(snap.reverse.lastAt).toLocaleTimeString() : "–");
  }

  function eventText(e) {
    switch (e.type) {
      case "stage:start":
        return `${e.stage}: started${e.message ? ` (${e.message})` : ""}`;
      case "stage:done":
        return `${e.stage}: done${e.message ? ` (${e.message})` : ""}`;
      case "log":
        return `${e.table ? `${e.table}: ` : ""}${e.message}`;
      case "lock:wait":
        return `waiting for a lock on ${e.table} (round ${e.attempt}): held by ${e.waiters.map((w) => `pid ${w.pid} (${w.applicationName || "?"}, ${w.state})`).join(", ") || "?"}`;
      case "table:phase":
        return `${e.table}: ${e.phase}`;
      case "retry":
        return `retrying on the ${e.side}${e.code ? ` (${e.code})` : ""}: ${e.message}`;
      case "stall":
        return `the ${e.side} stalled for ${e.seconds} s (${e.probe}); reconnecting`;
      case "cutover:step":
        return `cutover ${e.step}: ${e.state}${e.ms !== undefined ? ` (${e.ms} ms)` : ""}`;
      default:
        return e.message || e.type;
    }
  }
  function levelOf(e) {
    if (e.type === "log") return e.level;
    if (e.type === "lock:wait" || e.type === "retry" || e.type === "stall") return "warn";
    if (e.type === "cutover:step" && e.state === "undo") return "warn";
    return "info";
  }
  function addEvent(e) {
    const li = document.createElement("li");
    li.dataset.type = e.type;
    li.dataset.level = levelOf(e);
    const time = document.createElement("time");
    time.dateTime = e.at;
    time.textContent = new Date(e.at).toLocaleTimeString();
    li.append(time, eventText(e));
    const list = $("events");
    list.prepend(li);
    while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
  }

  function connect() {
    const source = new EventSource(withToken("events"));
    const state = $("connection");
    source.onopen = () => {
      state.dataset.state = "live";
      state.textContent = "live";
    };
    source.onerror = () => {
      state.dataset.state = "lost";
      state.textContent = "reconnecting…";
    };
    source.addEventListener("status", (m) => {
      const snap = JSON.parse(m.data);
      showStatus(snap);
      addSample(snap.sample);
    });
    source.addEventListener("event", (m) => addEvent(JSON.parse(m.data)));
  }

  fetch(withToken("history.json"), { headers: token ? { authorization: `Bearer ${token}` } : {} })
    .then((r) => r.json())
    .then((h) => {
      for (const s of h.samples) addSample(s);
      for (const e of h.events) addEvent(e);
      if (h.last) showStatus(h.last);
    })
    .catch(() => {})
    .finally(connect);
})();
