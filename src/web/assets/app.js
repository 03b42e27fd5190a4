// musicaly dashboard: plain JS over the /api/* contract (docs: README "Dashboard").
// The view (range, state, city, artist) lives in the URL so a link reproduces it; every tile
// is re-fetched, never merged locally, when /api/stream says the numbers changed (at most once
// a second). Runs under Content-Security-Policy: default-src 'self' (no inline script or style;
// element.style from JS only; chart tooltips render inside the canvas).
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const DAY = 86400000;
  const HOUR = 3600000;

  /** us-atlas ids are FIPS codes; the API speaks the two-letter codes of the data. */
  const FIPS = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT", "10": "DE",
    "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL", "18": "IN", "19": "IA",
    "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN",
    "28": "MS", "29": "MO", "30": "MT", "31": "NE", "32": "NV", "33": "NH", "34": "NJ", "35": "NM",
    "36": "NY", "37": "NC", "38": "ND", "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI",
    "45": "SC", "46": "SD", "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA",
    "54": "WV", "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
  };
  const stateNames = {};

  const PRESETS = ["all", "today", "yesterday", "24h", "7d", "custom"];
  /** Presets that follow the newest event while the stream runs. */
  const RELATIVE = new Set(["today", "yesterday", "24h", "7d"]);

  const view = { preset: "all", from: "", to: "", state: "", city: "", artist: "" };
  const data = { filters: null, summary: null, overview: null, hourly: null, levels: null, live: null };
  const charts = {};
  let generation = 0;
  let lastRefresh = 0;
  let refreshTimer = null;
  let mapReady = null;

  // ---------- formatting ----------
  const fmtInt = (n) => (n == null || Number.isNaN(Number(n)) ? "–" : Number(n).toLocaleString("en-US"));
  const fmtHours = (h) => (h == null ? "–" : Number(h).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }));
  const fmtPct = (p) => Math.abs(p).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + "%";
  const genderLabel = (g) => (g == null || g === "" ? "unknown" : g);
  const stateLabel = (s) => (s == null || s === "" ? "(unknown)" : s);
  const fmtUtc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  function fmtAgo(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  // ---------- time ----------
  /** Parses the API's ISO dates / date-times (UTC, optional Z) to epoch ms. */
  function parseTs(s) {
    if (!s) return NaN;
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return Date.parse(s + "T00:00:00Z");
    return Date.parse(/Z$|[+-]\d\d:\d\d$/.test(s) ? s : s + "Z");
  }
  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  const isoHour = (ms) => new Date(ms).toISOString().slice(0, 19);

  /** [from, to] of a preset, anchored on the newest event (the live edge), not the wall clock. */
  function presetRange(preset, anchorMs) {
    const d0 = Math.floor(anchorMs / DAY) * DAY;
    switch (preset) {
      case "today": return [isoDay(d0), isoDay(d0 + DAY)];
      case "yesterday": return [isoDay(d0 - DAY), isoDay(d0)];
      case "24h": {
        const end = Math.floor(anchorMs / HOUR) * HOUR + HOUR;
        return [isoHour(end - DAY), isoHour(end)];
      }
      case "7d": return [isoDay(d0 - 6 * DAY), isoDay(d0 + DAY)];
      default: return ["", ""];
    }
  }

  function anchorMs() {
    const f = data.filters;
    const t = f && f.last_ts ? parseTs(f.last_ts) : NaN;
    return Number.isFinite(t) ? t : Date.now();
  }

  /** URL value -> datetime-local value. */
  function toInput(v) {
    if (!v) return "";
    const ms = parseTs(v);
    if (!Number.isFinite(ms)) return "";
    const iso = new Date(ms).toISOString();
    return ms % 60000 === 0 ? iso.slice(0, 16) : iso.slice(0, 19);
  }
  /** datetime-local value -> URL/API value (a plain date when it is midnight). */
  function fromInput(v) {
    if (!v) return "";
    const ms = parseTs(v.length === 16 ? v + ":00" : v);
    if (!Number.isFinite(ms)) return "";
    return ms % DAY === 0 ? isoDay(ms) : new Date(ms).toISOString().slice(0, 19);
  }

  // ---------- URL ----------
  function readUrl() {
    const q = new URLSearchParams(window.location.search);
    view.from = q.get("from") || "";
    view.to = q.get("to") || "";
    view.state = q.get("state") || "";
    view.city = q.get("city") || "";
    view.artist = q.get("artist") || "";
    const p = q.get("preset") || "";
    view.preset = PRESETS.includes(p) ? p : (view.from || view.to ? "custom" : "all");
  }

  function writeUrl(push) {
    const q = new URLSearchParams();
    if (view.preset !== "all") q.set("preset", view.preset);
    for (const k of ["from", "to", "state", "city", "artist"]) if (view[k]) q.set(k, view[k]);
    const s = q.toString();
    const url = window.location.pathname + (s ? "?" + s : "");
    if (url === window.location.pathname + window.location.search) return;
    if (push) window.history.pushState(null, "", url);
    else window.history.replaceState(null, "", url);
  }

  /** The query every /api/* call gets: from/to/state/city unchanged from the URL. */
  function apiQuery() {
    const q = new URLSearchParams();
    for (const k of ["from", "to", "state", "city"]) if (view[k]) q.set(k, view[k]);
    return q.toString();
  }

  // ---------- fetching ----------
  async function getJson(path, query) {
    const res = await fetch(path + (query ? "?" + query : ""), { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const msg = body && body.error ? body.error : "HTTP " + res.status;
      throw new Error(path + ": " + msg);
    }
    return body;
  }

  function showError(msg) {
    const el = $("error");
    el.textContent = msg;
    el.hidden = !msg;
  }

  async function refresh() {
    const gen = ++generation;
    lastRefresh = Date.now();
    document.body.dataset.ready = "0";
    const q = apiQuery();
    if (view.from && view.to && !(parseTs(view.from) < parseTs(view.to))) {
      showError("The range is empty: \"From\" must be before \"Until\".");
      return;
    }
    try {
      const [filters, summary, overview, hourly, levels, live] = await Promise.all([
        getJson("api/filters", ""),
        getJson("api/summary", q),
        getJson("api/overview", q),
        getJson("api/hourly", q),
        getJson("api/levels", q),
        getJson("api/live", ""),
        mapReady,
      ]);
      if (gen !== generation) return;
      Object.assign(data, normalize({ filters, summary, overview, hourly, levels }));
      if (!data.live || (live && live.updated_ms >= (data.live.updated_ms || 0))) data.live = live;
      showError("");
      renderAll();
      document.body.dataset.query = q;
      document.body.dataset.ready = "1";
    } catch (e) {
      if (gen === generation) showError(e.message);
    }
  }

  /** Missing lists become empty ones, so an empty data dir renders as zeros, not errors. */
  function normalize(d) {
    d.filters = Object.assign({ states: [], cities: [], first_ts: null, last_ts: null }, d.filters);
    d.summary = Object.assign({ active_users: 0, stream_hours: 0 }, d.summary);
    for (const k of ["users_by_state", "gender_composition", "top_artists_gender", "top_songs", "top_artists"]) d.summary[k] = d.summary[k] || [];
    d.overview = Object.assign({ total_users: 0, streams: 0, today: {} }, d.overview);
    d.overview.today = d.overview.today || {};
    d.hourly = Object.assign({ day: null, previous_day: null }, d.hourly);
    d.hourly.today = d.hourly.today || [];
    d.hourly.previous = d.hourly.previous || [];
    d.levels = Array.isArray(d.levels) ? d.levels : [];
    return d;
  }

  /** Re-fetches at most once a second, however fast updates arrive. */
  function scheduleRefresh() {
    if (refreshTimer) return;
    const wait = Math.max(0, lastRefresh + 1000 - Date.now());
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, wait);
  }

  function connectStream() {
    if (!window.EventSource) return;
    const es = new EventSource("api/stream");
    es.addEventListener("update", (ev) => {
      let live;
      try { live = JSON.parse(ev.data); } catch (e) { return; }
      onLive(live);
    });
    es.addEventListener("open", () => $("live-dot").classList.remove("stale"));
    es.addEventListener("error", () => $("live-dot").classList.add("stale"));
  }

  function onLive(live) {
    const prev = data.live;
    data.live = live;
    renderFreshness();
    if (prev && prev.updated_ms === live.updated_ms && prev.events_total === live.events_total) return;
    if (!prev && document.body.dataset.ready !== "1") return; // the first load is under way
    // A relative preset follows the stream once events pass the end of its range.
    if (RELATIVE.has(view.preset) && live.latest_event_ms != null && view.to && live.latest_event_ms >= parseTs(view.to)) {
      const [f, t] = presetRange(view.preset, live.latest_event_ms);
      if (f !== view.from || t !== view.to) {
        view.from = f;
        view.to = t;
        writeUrl(false);
        syncControls();
      }
    }
    scheduleRefresh();
  }

  // ---------- theme ----------
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function palette() {
    const p = {};
    for (const k of ["text", "muted", "border", "tile", "tile-2", "accent", "c-m", "c-f", "c-u", "c-free", "c-paid",
      "c-today", "c-prev", "map-lo", "map-hi", "map-empty", "map-line"]) p[k] = cssVar("--" + k);
    return p;
  }
  const genderColor = (p, g) => (g === "M" ? p["c-m"] : g === "F" ? p["c-f"] : p["c-u"]);

  function setupTheme() {
    $("theme-toggle").addEventListener("click", () => {
      const next = document.documentElement.getAttribute("data-theme") === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { window.localStorage.setItem("musicaly-theme", next); } catch (e) { /* storage disabled */ }
      renderCharts();
    });
    const mq = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
    if (mq && mq.addEventListener) {
      mq.addEventListener("change", (e) => {
        let stored = null;
        try { stored = window.localStorage.getItem("musicaly-theme"); } catch (err) { stored = null; }
        if (stored) return;
        document.documentElement.setAttribute("data-theme", e.matches ? "dark" : "light");
        renderCharts();
      });
    }
  }

  // ---------- DOM helpers ----------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, String(v));
      else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function fillBody(tableId, rows) {
    $(tableId).tBodies[0].replaceChildren(...rows);
  }
  function setValue(id, value, text) {
    const e = $(id);
    e.dataset.value = value == null ? "" : String(value);
    e.textContent = text;
  }
  function barCell(value, max) {
    const bar = el("span", { class: "bar" });
    bar.style.width = (max > 0 ? Math.max(2, (100 * value) / max) : 0).toFixed(1) + "%";
    return el("td", { class: "num bar-cell", "data-value": value }, bar, el("span", { class: "v" }, fmtInt(value)));
  }
  function artistButton(name) {
    return el("button", { type: "button", class: "linkish", title: "Focus on " + name, "data-artist": name }, name);
  }

  // ---------- tiles ----------
  function renderAll() {
    renderControls();
    renderKpis();
    renderTopSongs();
    renderTopArtists();
    renderTables();
    renderCharts();
    renderFreshness();
    const s = data.summary;
    $("empty").hidden = !(s && s.active_users === 0 && (!data.overview || data.overview.total_users === 0));
  }

  function renderKpis() {
    const s = data.summary;
    const o = data.overview;
    setValue("kpi-active-users", s.active_users, fmtInt(s.active_users));
    setValue("kpi-stream-hours", s.stream_hours, fmtHours(s.stream_hours));
    $("kpi-streams-sub").textContent = fmtInt(o.streams) + " streams in range";
    const t = o.today || {};
    setValue("kpi-streams-today", t.streams, fmtInt(t.streams));
    const ch = $("kpi-change");
    ch.classList.remove("up", "down");
    if (t.change_pct == null) {
      setValue("kpi-change", null, "–");
    } else {
      setValue("kpi-change", t.change_pct, (t.change_pct >= 0 ? "▲ " : "▼ ") + fmtPct(t.change_pct));
      ch.classList.add(t.change_pct >= 0 ? "up" : "down");
    }
    $("kpi-today-sub").textContent = t.day
      ? "on " + t.day + " vs " + fmtInt(t.previous_streams) + " on " + t.previous_day
      : "no listens in range";
    setValue("kpi-total-users", o.total_users, fmtInt(o.total_users));
  }

  function renderTopSongs() {
    const rows = data.summary.top_songs;
    const max = rows.length ? rows[0].streams : 0;
    fillBody("table-top-songs", rows.map((r, i) => el("tr", {
      "data-rank": i + 1, "data-artist": r.artist, "data-song": r.song, "data-value": r.streams,
      class: view.artist && r.artist === view.artist ? "focus" : null,
    },
    el("td", { class: "rank" }, i + 1 + "."),
    el("td", { class: "name" }, el("span", { class: "title", title: r.song }, r.song), el("span", { class: "sub" }, artistButton(r.artist))),
    barCell(r.streams, max))));
  }

  function renderTopArtists() {
    const rows = data.summary.top_artists;
    const max = rows.length ? rows[0].streams : 0;
    fillBody("table-top-artists", rows.map((r, i) => el("tr", {
      "data-rank": i + 1, "data-artist": r.artist, "data-value": r.streams,
      class: view.artist && r.artist === view.artist ? "focus" : null,
    },
    el("td", { class: "rank" }, i + 1 + "."),
    el("td", { class: "name" }, artistButton(r.artist)),
    barCell(r.streams, max))));
  }

  /** The text views of the charts (also what the browser test reads). */
  function renderTables() {
    const s = data.summary;
    fillBody("table-map", s.users_by_state.map((r) => el("tr", {
      "data-state": r.state || "", "data-value": r.users,
      class: r.state ? "clickable" : null, title: r.state ? "Filter by " + r.state : null,
    }, el("td", {}, stateLabel(r.state) + (r.state && stateNames[r.state] ? " · " + stateNames[r.state] : "")),
    el("td", { class: "num" }, fmtInt(r.users)))));

    fillBody("table-artist-gender", s.top_artists_gender.map((r) => el("tr", {
      "data-artist": r.artist, "data-gender": r.gender || "", "data-value": r.users,
      class: view.artist && r.artist === view.artist ? "focus" : null,
    }, el("td", {}, artistButton(r.artist)), el("td", {}, genderLabel(r.gender)), el("td", { class: "num" }, fmtInt(r.users)))));

    const total = s.gender_composition.reduce((a, r) => a + r.users, 0);
    fillBody("table-gender", s.gender_composition.map((r) => el("tr", { "data-gender": r.gender || "", "data-value": r.users },
      el("td", {}, genderLabel(r.gender)), el("td", { class: "num" }, fmtInt(r.users)),
      el("td", { class: "num" }, total ? ((100 * r.users) / total).toFixed(1) + "%" : "–"))));

    fillBody("table-levels", data.levels.map((r) => el("tr", { "data-gender": r.gender || "", "data-level": r.level, "data-value": r.users },
      el("td", {}, genderLabel(r.gender)), el("td", {}, r.level), el("td", { class: "num" }, fmtInt(r.users)))));

    const h = data.hourly;
    $("th-hourly-today").textContent = h.day || "Last day";
    $("th-hourly-prev").textContent = h.previous_day || "Previous day";
    $("hourly-days").textContent = h.day ? h.day + " vs " + h.previous_day + " (UTC)" : "";
    fillBody("table-hourly", h.today.map((v, i) => el("tr", { "data-hour": i, "data-value": v, "data-previous": h.previous[i] },
      el("td", {}, String(i).padStart(2, "0") + ":00"), el("td", { class: "num" }, fmtInt(v)), el("td", { class: "num" }, fmtInt(h.previous[i])))));
  }

  // ---------- charts ----------
  function chart(id) {
    if (!charts[id]) {
      const dom = $(id);
      charts[id] = window.echarts.init(dom, null, { renderer: "canvas" });
      if (window.ResizeObserver) new ResizeObserver(() => charts[id].resize()).observe(dom);
    }
    return charts[id];
  }

  function base(p) {
    return {
      backgroundColor: "transparent",
      animationDuration: 250,
      animationDurationUpdate: 250,
      aria: { enabled: true },
      textStyle: { color: p.text, fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif" },
      tooltip: {
        renderMode: "richText",
        backgroundColor: p["tile-2"],
        borderColor: p.border,
        textStyle: { color: p.text, fontSize: 12 },
      },
    };
  }

  function renderCharts() {
    if (!data.summary || !window.echarts) return;
    const p = palette();
    renderMap(p);
    renderArtistGender(p);
    renderGender(p);
    renderLevels(p);
    renderHourly(p);
  }

  async function loadMap() {
    const topo = await getJson("vendor/states-albers-10m.json", "");
    const fc = window.topojson.feature(topo, topo.objects.states);
    // The albers file is already projected with y pointing down; ECharts treats map
    // coordinates as longitude/latitude and flips y, so flip it first.
    const flip = (c) => (typeof c[0] === "number" ? [c[0], -c[1]] : c.map(flip));
    for (const f of fc.features) {
      const code = FIPS[f.id] || f.id;
      stateNames[code] = f.properties.name;
      f.properties = { name: code };
      f.geometry.coordinates = flip(f.geometry.coordinates);
    }
    window.echarts.registerMap("us-albers", fc);
  }

  function renderMap(p) {
    const rows = data.summary.users_by_state.filter((r) => r.state);
    const max = rows.reduce((m, r) => Math.max(m, r.users), 0);
    const c = chart("chart-map");
    c.setOption(Object.assign(base(p), {
      tooltip: Object.assign(base(p).tooltip, {
        trigger: "item",
        formatter: (x) => (stateNames[x.name] || x.name) + " (" + x.name + ")\n" + (Number.isFinite(x.value) ? fmtInt(x.value) : 0) + " active users",
      }),
      visualMap: {
        type: "continuous", min: 0, max: Math.max(1, max), orient: "horizontal", left: 8, bottom: 4,
        itemWidth: 10, itemHeight: 150, text: [fmtInt(max), "0"], textGap: 6, calculable: false,
        inRange: { color: [p["map-lo"], p["map-hi"]] }, textStyle: { color: p.muted, fontSize: 11 },
      },
      series: [{
        type: "map", map: "us-albers", aspectScale: 1, roam: false, selectedMode: false,
        left: 4, right: 4, top: 4, bottom: 34,
        itemStyle: { areaColor: p["map-empty"], borderColor: p["map-line"], borderWidth: 0.7 },
        emphasis: { label: { show: true, color: p.text, fontWeight: 700 }, itemStyle: { areaColor: p.accent } },
        label: { show: false },
        data: rows.map((r) => ({
          name: r.state, value: r.users,
          itemStyle: r.state === view.state ? { borderColor: p.text, borderWidth: 2 } : undefined,
        })),
      }],
    }), true);
  }

  function renderArtistGender(p) {
    const rows = data.summary.top_artists_gender;
    const artists = [...new Set(rows.map((r) => r.artist))];
    const genders = [...new Set(rows.map((r) => genderLabel(r.gender)))].sort((a, b) => "MFu".indexOf(a[0]) - "MFu".indexOf(b[0]));
    const val = (a, g) => { const r = rows.find((x) => x.artist === a && genderLabel(x.gender) === g); return r ? r.users : 0; };
    chart("chart-artist-gender").setOption(Object.assign(base(p), {
      tooltip: Object.assign(base(p).tooltip, { trigger: "axis", axisPointer: { type: "shadow" } }),
      legend: { top: 0, right: 0, textStyle: { color: p.muted }, itemWidth: 12, itemHeight: 10 },
      grid: { left: 8, right: 16, top: 28, bottom: 4, containLabel: true },
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: p.muted }, splitLine: { lineStyle: { color: p.border } } },
      yAxis: {
        type: "category", inverse: true, data: artists, triggerEvent: true,
        axisLabel: { color: p.text, width: 130, overflow: "truncate" }, axisLine: { lineStyle: { color: p.border } }, axisTick: { show: false },
      },
      series: genders.map((g) => ({
        name: g, type: "bar", stack: "g", barMaxWidth: 30,
        data: artists.map((a) => ({ value: val(a, g), itemStyle: view.artist && a !== view.artist ? { opacity: 0.3 } : undefined })),
        itemStyle: { color: genderColor(p, g === "unknown" ? null : g) },
        label: { show: true, color: "#fff", fontSize: 11, formatter: (x) => (x.value ? x.value : "") },
      })),
    }), true);
  }

  function renderGender(p) {
    const rows = data.summary.gender_composition;
    chart("chart-gender").setOption(Object.assign(base(p), {
      tooltip: Object.assign(base(p).tooltip, { trigger: "item", formatter: (x) => x.name + ": " + fmtInt(x.value) + " users (" + x.percent.toFixed(1) + "%)" }),
      legend: { top: 0, left: "center", textStyle: { color: p.muted }, itemWidth: 10, itemHeight: 10 },
      series: [{
        type: "pie", radius: ["40%", "76%"], center: ["50%", "56%"], avoidLabelOverlap: true,
        itemStyle: { borderColor: p.tile, borderWidth: 2 },
        label: { position: "inside", color: "#fff", fontWeight: 700, fontSize: 12, formatter: (x) => (x.percent >= 4 ? x.percent.toFixed(1) + "%" : "") },
        labelLine: { show: false },
        data: rows.map((r) => ({ name: genderLabel(r.gender), value: r.users, itemStyle: { color: genderColor(p, r.gender) } })),
      }],
    }), true);
  }

  function renderLevels(p) {
    const rows = data.levels;
    const genders = [...new Set(rows.map((r) => genderLabel(r.gender)))];
    const levels = [...new Set(rows.map((r) => r.level))].sort();
    const val = (g, l) => { const r = rows.find((x) => genderLabel(x.gender) === g && x.level === l); return r ? r.users : 0; };
    chart("chart-levels").setOption(Object.assign(base(p), {
      tooltip: Object.assign(base(p).tooltip, { trigger: "axis", axisPointer: { type: "shadow" } }),
      legend: { top: 0, left: "center", textStyle: { color: p.muted }, itemWidth: 12, itemHeight: 10 },
      grid: { left: 8, right: 8, top: 30, bottom: 4, containLabel: true },
      xAxis: { type: "category", data: genders, axisLabel: { color: p.text }, axisLine: { lineStyle: { color: p.border } }, axisTick: { show: false } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: p.muted }, splitLine: { lineStyle: { color: p.border } } },
      series: levels.map((l) => ({
        name: l, type: "bar", stack: "lvl", barMaxWidth: 64, data: genders.map((g) => val(g, l)),
        itemStyle: { color: l === "paid" ? p["c-paid"] : p["c-free"] },
        label: { show: true, color: l === "paid" ? "#fff" : "#0b2b30", fontSize: 11, formatter: (x) => (x.value ? fmtInt(x.value) : "") },
      })),
    }), true);
  }

  function renderHourly(p) {
    const h = data.hourly;
    const hours = h.today.map((_, i) => String(i).padStart(2, "0") + ":00");
    chart("chart-hourly").setOption(Object.assign(base(p), {
      tooltip: Object.assign(base(p).tooltip, { trigger: "axis" }),
      legend: { top: 0, left: "center", textStyle: { color: p.muted } },
      grid: { left: 8, right: 16, top: 34, bottom: 4, containLabel: true },
      xAxis: { type: "category", boundaryGap: false, data: hours, axisLabel: { color: p.muted }, axisLine: { lineStyle: { color: p.border } } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: p.muted }, splitLine: { lineStyle: { color: p.border } } },
      series: [
        {
          name: h.day || "last day", type: "line", smooth: true, symbol: "circle", symbolSize: 5, data: h.today,
          lineStyle: { width: 2.5, color: p["c-today"] }, itemStyle: { color: p["c-today"] },
          areaStyle: { color: p["c-today"], opacity: 0.12 },
        },
        {
          name: (h.previous_day || "") + " (day before)", type: "line", smooth: true, symbol: "none", data: h.previous,
          lineStyle: { width: 2, type: "dashed", color: p["c-prev"] }, itemStyle: { color: p["c-prev"] },
        },
      ],
    }), true);
  }

  // ---------- freshness and pipeline health ----------
  function renderFreshness() {
    const l = data.live;
    const f = $("freshness");
    if (!l) { $("freshness-text").textContent = "no live data"; return; }
    f.dataset.updatedMs = l.updated_ms == null ? "" : String(l.updated_ms);
    f.dataset.watermarkMs = l.watermark_ms == null ? "" : String(l.watermark_ms);
    const parts = [];
    const last = data.filters && data.filters.last_ts ? parseTs(data.filters.last_ts) : NaN;
    if (l.updated_ms) parts.push("Updated " + fmtAgo(l.updated_ms));
    else if (Number.isFinite(last)) parts.push("From the warehouse (no live stream) · newest event " + fmtUtc(last));
    else parts.push("No data yet");
    if (l.watermark_ms != null) parts.push("watermark " + fmtUtc(l.watermark_ms));
    if (l.latest_event_ms != null) parts.push("newest event " + fmtUtc(l.latest_event_ms));
    if (l.events_total) parts.push(fmtInt(l.events_total) + " live events");
    $("freshness-text").textContent = parts.join(" · ");
    const fresh = l.pipeline && l.updated_ms && Date.now() - l.updated_ms < 10000;
    $("live-dot").classList.toggle("live", Boolean(fresh));
    const pipe = l.pipeline;
    $("pipeline").hidden = !pipe;
    if (pipe) {
      setValue("pipe-eps", pipe.events_per_sec, Number(pipe.events_per_sec).toLocaleString("en-US", { maximumFractionDigits: 1 }));
      setValue("pipe-lag", pipe.consumer_lag, fmtInt(pipe.consumer_lag));
      setValue("pipe-dead", pipe.dead_letters, fmtInt(pipe.dead_letters));
      $("pipe-dead").classList.toggle("bad", pipe.dead_letters > 0);
    }
  }

  // ---------- filters ----------
  function option(value, label, selected) {
    const o = el("option", { value }, label);
    o.selected = selected;
    return o;
  }

  let controlsKey = "";
  function renderControls() {
    const f = data.filters || { states: [], cities: [] };
    // Rebuild the option lists only when they change (an open dropdown survives live refreshes).
    const key = JSON.stringify([f.states, f.cities, view.state, view.city]);
    if (key === controlsKey) { syncControls(); return; }
    controlsKey = key;
    const states = f.states.slice();
    if (view.state && !states.includes(view.state)) states.push(view.state);
    $("f-state").replaceChildren(option("", "All states", !view.state),
      ...states.map((s) => option(s, s + (stateNames[s] ? " · " + stateNames[s] : ""), s === view.state)));
    const cities = f.cities.filter((c) => !view.state || c.state === view.state)
      .map((c) => c.city).filter((c, i, a) => a.indexOf(c) === i).sort();
    if (view.city && !cities.includes(view.city)) cities.unshift(view.city);
    $("f-city").replaceChildren(option("", "All cities", !view.city), ...cities.map((c) => option(c, c, c === view.city)));
    syncControls();
  }

  function syncControls() {
    $("f-preset").value = view.preset;
    $("f-from").value = toInput(view.from);
    $("f-to").value = toInput(view.to);
    $("f-state").value = view.state;
    $("f-city").value = view.city;
    const chips = [];
    if (view.artist) {
      chips.push(el("button", { type: "button", class: "chip", id: "chip-artist", title: "Clear the artist focus" }, "Artist: " + view.artist));
    }
    $("chips").replaceChildren(...chips);
    if (view.artist) $("chip-artist").addEventListener("click", () => setArtist(""));
  }

  /** A user's change: new URL entry, then fetch. */
  function apply() {
    writeUrl(true);
    syncControls();
    refresh();
  }

  function setState(code) {
    view.state = code;
    const f = data.filters;
    if (view.city && f && code && !f.cities.some((c) => c.city === view.city && c.state === code)) view.city = "";
    apply();
  }

  /** The API has no artist filter (see DASHBOARD_API.md), so an artist is focused: highlighted everywhere. */
  function setArtist(name) {
    view.artist = view.artist === name ? "" : name;
    writeUrl(true);
    syncControls();
    if (data.summary) { renderTopSongs(); renderTopArtists(); renderTables(); renderArtistGender(palette()); }
  }

  function bindControls() {
    $("f-preset").addEventListener("change", (e) => {
      view.preset = e.target.value;
      if (view.preset === "custom") {
        if (!view.from && !view.to) [view.from, view.to] = presetRange("today", anchorMs());
      } else {
        [view.from, view.to] = presetRange(view.preset, anchorMs());
      }
      apply();
    });
    for (const id of ["f-from", "f-to"]) {
      $(id).addEventListener("change", () => {
        view.preset = "custom";
        view.from = fromInput($("f-from").value);
        view.to = fromInput($("f-to").value);
        apply();
      });
    }
    $("f-state").addEventListener("change", (e) => setState(e.target.value));
    $("f-city").addEventListener("change", (e) => { view.city = e.target.value; apply(); });
    $("f-reset").addEventListener("click", () => {
      Object.assign(view, { preset: "all", from: "", to: "", state: "", city: "", artist: "" });
      apply();
    });
    $("filters").addEventListener("submit", (e) => e.preventDefault());

    document.addEventListener("click", (e) => {
      const a = e.target.closest("[data-artist].linkish");
      if (a) { setArtist(a.dataset.artist); return; }
      const row = e.target.closest("#table-map tr[data-state]");
      if (row && row.dataset.state) { setState(view.state === row.dataset.state ? "" : row.dataset.state); return; }
      const t = e.target.closest("[data-toggle]");
      if (t) { toggleTable(t); return; }
      const c = e.target.closest("[data-csv]");
      if (c) downloadCsv(c.dataset.csv);
    });
    window.addEventListener("popstate", () => { readUrl(); syncControls(); refresh(); });
  }

  function bindCharts() {
    chart("chart-map").on("click", (x) => {
      const known = data.filters ? data.filters.states : [];
      if (x.componentType === "series" && x.name && known.includes(x.name)) setState(view.state === x.name ? "" : x.name);
    });
    chart("chart-artist-gender").on("click", (x) => {
      const name = x.componentType === "yAxis" ? x.value : x.name;
      if (name) setArtist(name);
    });
  }

  function toggleTable(btn) {
    const name = btn.dataset.toggle;
    const on = btn.getAttribute("aria-pressed") !== "true";
    btn.setAttribute("aria-pressed", String(on));
    $("chart-" + name).hidden = on;
    $("tablewrap-" + name).hidden = !on;
    if (!on && charts["chart-" + name]) charts["chart-" + name].resize();
  }

  // ---------- CSV ----------
  function csvRows(tile) {
    const s = data.summary;
    const o = data.overview;
    switch (tile) {
      case "kpis": {
        const t = o.today || {};
        return [["metric", "value"], ["active_users", s.active_users], ["stream_hours", s.stream_hours],
          ["streams", o.streams], ["total_users", o.total_users], ["today", t.day], ["streams_today", t.streams],
          ["previous_day", t.previous_day], ["streams_previous_day", t.previous_streams], ["change_pct", t.change_pct]];
      }
      case "map": return [["state", "users"], ...s.users_by_state.map((r) => [r.state, r.users])];
      case "top-songs": return [["rank", "artist", "song", "streams"], ...s.top_songs.map((r, i) => [i + 1, r.artist, r.song, r.streams])];
      case "top-artists": return [["rank", "artist", "streams"], ...s.top_artists.map((r, i) => [i + 1, r.artist, r.streams])];
      case "artist-gender": return [["artist", "gender", "users"], ...s.top_artists_gender.map((r) => [r.artist, r.gender, r.users])];
      case "gender": return [["gender", "users"], ...s.gender_composition.map((r) => [r.gender, r.users])];
      case "levels": return [["gender", "level", "users"], ...data.levels.map((r) => [r.gender, r.level, r.users])];
      case "hourly": {
        const h = data.hourly;
        return [["hour", "streams_" + h.day, "streams_" + h.previous_day], ...h.today.map((v, i) => [i, v, h.previous[i]])];
      }
      default: return [];
    }
  }

  const csvCell = (v) => {
    const s = v == null ? "" : String(v);
    return /[",\n\r]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  };

  function downloadCsv(tile) {
    if (!data.summary) return;
    const text = csvRows(tile).map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
    const parts = ["musicaly", tile, view.from, view.to, view.state, view.city].filter(Boolean).map((x) => x.replace(/[^A-Za-z0-9-]+/g, "_"));
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: parts.join("-") + ".csv" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // ---------- boot ----------
  async function boot() {
    readUrl();
    setupTheme();
    bindControls();
    mapReady = loadMap().catch((e) => showError("map: " + e.message));
    if (window.echarts) bindCharts();
    if (RELATIVE.has(view.preset) && (!view.from || !view.to)) {
      // ?preset=today alone: resolve it against the newest event, then keep it explicit in the URL.
      try { data.filters = await getJson("api/filters", ""); } catch (e) { showError(e.message); }
      [view.from, view.to] = presetRange(view.preset, anchorMs());
      writeUrl(false);
    }
    syncControls();
    await refresh();
    connectStream();
    setInterval(renderFreshness, 1000);
  }

  boot();
})();
