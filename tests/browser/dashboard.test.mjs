// The dashboard in a real browser: Debian's chromium driven by playwright-core over a running
// `musicaly serve`. Run by scripts/tests/browser.sh, which provides (all required):
//   MUSICALY_URL            the server, e.g. http://127.0.0.1:18080/
//   MUSICALY_BIN            the musicaly binary (for `musicaly report`)
//   MUSICALY_DATA_DIR       the data dir the server serves
//   MUSICALY_NODE_MODULES   a node_modules holding playwright-core (npm ci of this folder)
//   MUSICALY_SCREENSHOT_DIR where dashboard.png and dashboard-phone.png go (docs/)
//   MUSICALY_CHROMIUM       optional, default /usr/bin/chromium
//   MUSICALY_EMPTY_URL      optional, a second server over an empty data dir
// It fails on any request that leaves 127.0.0.1, any console error, CSP violation, failed
// request or HTTP error answer, and on any displayed number that differs from
// `musicaly report --format json` (or, for tiles report has no counterpart for, the API).
// Prints one line per check and a closing "N passed, N failed".
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dashboard.test: ${name} is not set (run scripts/tests/browser.sh)`);
    process.exit(2);
  }
  return v;
}
const BASE = need("MUSICALY_URL").replace(/\/?$/, "/");
const BIN = need("MUSICALY_BIN");
const DATA = need("MUSICALY_DATA_DIR");
const MODULES = need("MUSICALY_NODE_MODULES");
const SHOTS = need("MUSICALY_SCREENSHOT_DIR");
const CHROMIUM = process.env.MUSICALY_CHROMIUM || "/usr/bin/chromium";
const EMPTY_URL = process.env.MUSICALY_EMPTY_URL || ""; // optional: a server over an empty data dir
const { chromium } = createRequire(path.join(MODULES, "index.js"))("playwright-core");

let passed = 0;
let failed = 0;
/** Problems seen by the page listeners; any one fails the run (checked after every step). */
const incidents = [];

async function check(name, fn) {
  const before = incidents.length;
  try {
    await fn();
    if (incidents.length > before) throw new Error("browser incidents:\n  " + incidents.slice(before).join("\n  "));
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL - ${name}\n  ${String(e && e.stack ? e.stack : e).split("\n").join("\n  ")}`);
  }
}

/** `musicaly report --format json` over the served data dir, with the page's filters. */
function report(filters = {}) {
  const args = ["report", "--data-dir", DATA, "--format", "json"];
  for (const k of ["from", "to", "state", "city"]) if (filters[k]) args.push("--" + k, filters[k]);
  return JSON.parse(execFileSync(BIN, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
}

async function api(p, filters = {}) {
  const res = await fetch(BASE + p + "?" + query(filters));
  assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
  return res.json();
}

/** The query the page sends to the API (same keys, same order as app.js). */
function query(filters) {
  const q = new URLSearchParams();
  for (const k of ["from", "to", "state", "city"]) if (filters[k]) q.set(k, filters[k]);
  return q.toString();
}

async function waitReady(page, filters) {
  const q = query(filters);
  await page.waitForFunction((want) => document.body.dataset.ready === "1" && document.body.dataset.query === want, q, { timeout: 20000 });
}

function isLocal(url) {
  try {
    const u = new URL(url);
    if (u.protocol === "blob:") return new URL(u.pathname).hostname === "127.0.0.1";
    return (u.protocol === "http:" || u.protocol === "https:" || u.protocol === "ws:") && u.hostname === "127.0.0.1";
  } catch (e) {
    return false;
  }
}

async function newPage(browser, opts, { allowHttpErrors = false } = {}) {
  const context = await browser.newContext(opts);
  await context.route((url) => !isLocal(url.href), (route) => {
    incidents.push("request leaving 127.0.0.1: " + route.request().url());
    return route.abort("blockedbyclient");
  });
  // CSP violations as console errors (Chromium also logs them itself; this names the directive).
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
    });
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") incidents.push("console error: " + m.text()); });
  page.on("pageerror", (e) => incidents.push("page error: " + e.message));
  page.on("requestfailed", (r) => {
    const why = r.failure() ? r.failure().errorText : "?";
    // The SSE connection is cut when the page reloads or closes: not a failure.
    if (new URL(r.url()).pathname.endsWith("/api/stream") && why === "net::ERR_ABORTED") return;
    incidents.push(`request failed: ${r.url()} (${why})`);
  });
  page.on("response", (r) => { if (r.status() >= 400 && !allowHttpErrors) incidents.push(`HTTP ${r.status()} for ${r.url()}`); });
  return { context, page };
}

/** Everything the page shows, read from its data-* attributes and from the charts' own data. */
function readDashboard(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const rows = (id) => [...$(id).tBodies[0].rows].map((r) => ({ ...r.dataset }));
    const chartData = (id) => {
      const c = window.echarts.getInstanceByDom($(id));
      return c ? c.getOption().series.map((s) => ({ name: s.name, data: s.data.map((d) => (d && typeof d === "object" ? { name: d.name, value: d.value } : d)) })) : null;
    };
    const kpi = (id) => ({ value: $(id).dataset.value, text: $(id).textContent });
    return {
      kpis: {
        active_users: kpi("kpi-active-users"), stream_hours: kpi("kpi-stream-hours"),
        streams_today: kpi("kpi-streams-today"), change: kpi("kpi-change"), total_users: kpi("kpi-total-users"),
      },
      top_songs: rows("table-top-songs"),
      top_songs_text: [...$("table-top-songs").tBodies[0].rows].map((r) => r.cells[2].textContent),
      top_artists: rows("table-top-artists"),
      users_by_state: rows("table-map"),
      top_artists_gender: rows("table-artist-gender"),
      gender_composition: rows("table-gender"),
      levels: rows("table-levels"),
      hourly: rows("table-hourly"),
      charts: {
        map: chartData("chart-map"), artistGender: chartData("chart-artist-gender"), gender: chartData("chart-gender"),
        levels: chartData("chart-levels"), hourly: chartData("chart-hourly"),
      },
    };
  });
}

const fmtInt = (n) => Number(n).toLocaleString("en-US");
const fmtHours = (h) => Number(h).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const g = (x) => (x == null ? "" : x);
const genderName = (x) => (x == null ? "unknown" : x);

/** The page's numbers equal the report's, in the report's order, and the charts carry them too. */
function assertMatchesReport(d, r, label) {
  assert.equal(Number(d.kpis.active_users.value), r.active_users, `${label}: active users`);
  assert.equal(d.kpis.active_users.text, fmtInt(r.active_users), `${label}: active users as shown`);
  assert.equal(Number(d.kpis.stream_hours.value), r.stream_hours, `${label}: stream hours`);
  assert.equal(d.kpis.stream_hours.text, fmtHours(r.stream_hours), `${label}: stream hours as shown`);
  assert.deepEqual(d.top_songs.map((x) => [x.artist, x.song, Number(x.value)]), r.top_songs.map((x) => [x.artist, x.song, x.streams]), `${label}: top songs`);
  assert.deepEqual(d.top_songs_text, r.top_songs.map((x) => fmtInt(x.streams)), `${label}: top songs as shown`);
  assert.deepEqual(d.top_artists.map((x) => [x.artist, Number(x.value)]), r.top_artists.map((x) => [x.artist, x.streams]), `${label}: top artists`);
  assert.deepEqual(d.users_by_state.map((x) => [x.state, Number(x.value)]), r.users_by_state.map((x) => [g(x.state), x.users]), `${label}: users by state`);
  assert.deepEqual(d.top_artists_gender.map((x) => [x.artist, x.gender, Number(x.value)]), r.top_artists_gender.map((x) => [x.artist, g(x.gender), x.users]), `${label}: top artists' genders`);
  assert.deepEqual(d.gender_composition.map((x) => [x.gender, Number(x.value)]), r.gender_composition.map((x) => [g(x.gender), x.users]), `${label}: gender composition`);
  // The charts draw the same numbers.
  // (ECharts lists the regions without a value too.)
  const mapData = d.charts.map[0].data.filter((x) => Number.isFinite(x.value)).map((x) => [x.name, x.value]).sort();
  assert.deepEqual(mapData, r.users_by_state.filter((x) => x.state).map((x) => [x.state, x.users]).sort(), `${label}: map`);
  const donut = d.charts.gender[0].data.map((x) => [x.name, x.value]);
  assert.deepEqual(donut, r.gender_composition.map((x) => [genderName(x.gender), x.users]), `${label}: donut`);
  const artists = [...new Set(r.top_artists_gender.map((x) => x.artist))];
  for (const s of d.charts.artistGender) {
    const want = artists.map((a) => { const m = r.top_artists_gender.find((x) => x.artist === a && genderName(x.gender) === s.name); return m ? m.users : 0; });
    assert.deepEqual(s.data.map((x) => (x && typeof x === "object" ? x.value : x)), want, `${label}: gender composition bars (${s.name})`);
  }
}

/** Tiles that `report` has no counterpart for equal the API's answers for the same filters. */
async function assertMatchesApi(d, filters, label) {
  const [o, h, l] = await Promise.all([api("api/overview", filters), api("api/hourly", filters), api("api/levels", filters)]);
  assert.equal(Number(d.kpis.total_users.value), o.total_users, `${label}: total users`);
  assert.equal(d.kpis.total_users.text, fmtInt(o.total_users), `${label}: total users as shown`);
  assert.equal(Number(d.kpis.streams_today.value), o.today.streams, `${label}: streams today`);
  assert.equal(d.kpis.change.value === "" ? null : Number(d.kpis.change.value), o.today.change_pct, `${label}: change against the previous day`);
  assert.deepEqual(d.hourly.map((x) => [Number(x.value), Number(x.previous)]), h.today.map((v, i) => [v, h.previous[i]]), `${label}: hourly`);
  assert.deepEqual(d.charts.hourly.map((s) => s.data), [h.today, h.previous], `${label}: hourly lines`);
  assert.deepEqual(d.levels.map((x) => [x.gender, x.level, Number(x.value)]), l.map((x) => [g(x.gender), x.level, x.users]), `${label}: levels`);
  const total = d.charts.levels.reduce((a, s) => a + s.data.reduce((b, v) => b + v, 0), 0);
  assert.equal(total, l.reduce((a, x) => a + x.users, 0), `${label}: level columns`);
}

async function main() {
  const started = Date.now();
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  console.log(`# chromium ${browser.version()} over ${BASE} (data ${DATA})`);
  const { context, page } = await newPage(browser, { viewport: { width: 1440, height: 900 }, colorScheme: "light" });
  const filtersInfo = await api("api/filters");
  const unfiltered = report();
  let stateFilter = {};
  let rangeFilter = {};

  await check("the page loads and every tile is present", async () => {
    const res = await page.goto(BASE);
    assert.equal(res.status(), 200);
    const csp = res.headers()["content-security-policy"];
    assert.ok(csp && csp.includes("default-src 'self'"), "CSP header: " + csp);
    await waitReady(page, {});
    for (const id of ["tile-kpis", "tile-map", "tile-top-songs", "tile-top-artists", "tile-artist-gender", "tile-gender", "tile-levels", "tile-hourly", "filters", "freshness"]) {
      assert.ok(await page.locator("#" + id).isVisible(), id + " visible");
    }
    for (const id of ["chart-map", "chart-artist-gender", "chart-gender", "chart-levels", "chart-hourly"]) {
      const box = await page.locator(`#${id} canvas`).first().boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, id + " drawn: " + JSON.stringify(box));
    }
    assert.ok(unfiltered.active_users > 0, "the data dir has listens");
  });

  await check("the numbers equal `musicaly report --format json` (no filter)", async () => {
    assertMatchesReport(await readDashboard(page), unfiltered, "all");
  });

  await check("the other tiles equal /api/overview, /api/hourly, /api/levels", async () => {
    await assertMatchesApi(await readDashboard(page), {}, "all");
  });

  await check("freshness line, and the pipeline strip only while a pipeline runs", async () => {
    const live = await api("api/live");
    const text = await page.locator("#freshness-text").textContent();
    if (live.updated_ms != null) {
      assert.match(text, /Updated \d+ (s|min|h|d) ago/);
      if (live.events_total) assert.match(text, new RegExp(fmtInt(live.events_total) + " live events"));
    } else {
      const last = filtersInfo.last_ts.replace(/Z$/, "").replace("T", " ").slice(0, 19);
      assert.ok(text.includes("From the warehouse (no live stream) · newest event " + last), text);
    }
    assert.equal(await page.locator("#pipeline").isVisible(), live.pipeline != null);
  });

  await check("screenshot docs/dashboard.png (light) and the dark theme toggle", async () => {
    await page.waitForTimeout(600); // chart animations
    await page.screenshot({ path: path.join(SHOTS, "dashboard.png"), fullPage: true });
    await page.click("#theme-toggle");
    assert.equal(await page.getAttribute("html", "data-theme"), "dark");
    await page.waitForTimeout(600);
    await page.screenshot({ path: path.join(SHOTS, "dashboard-dark.png"), fullPage: true });
    await page.click("#theme-toggle");
    assert.equal(await page.getAttribute("html", "data-theme"), "light");
  });

  await check("table view toggle shows the map's numbers as text", async () => {
    await page.click("[data-toggle=map]");
    assert.ok(await page.locator("#tablewrap-map").isVisible());
    assert.ok(!(await page.locator("#chart-map").isVisible()));
    const first = unfiltered.users_by_state[0];
    assert.equal(await page.locator("#table-map tbody tr").first().locator("td").last().textContent(), fmtInt(first.users));
    await page.click("[data-toggle=map]");
    assert.ok(await page.locator("#chart-map").isVisible());
  });

  await check("CSV download of the top songs, generated in the browser", async () => {
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("[data-csv=top-songs]")]);
    const text = fs.readFileSync(await dl.path(), "utf8");
    const lines = text.trim().split(/\r\n/);
    assert.equal(lines[0], "rank,artist,song,streams");
    assert.equal(lines.length, unfiltered.top_songs.length + 1);
    const cell = (s) => (/[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s);
    unfiltered.top_songs.forEach((s, i) => assert.equal(lines[i + 1], [i + 1, cell(s.artist), cell(s.song), s.streams].join(",")));
    assert.match(dl.suggestedFilename(), /^musicaly-top-songs.*\.csv$/);
  });

  await check("clicking a state on the map filters by it; numbers equal `report --state`", async () => {
    const top = unfiltered.users_by_state.find((x) => x.state);
    const state = top.state;
    const pt = await page.evaluate((code) => {
      const dom = document.getElementById("chart-map");
      const p = window.echarts.getInstanceByDom(dom).convertToPixel({ seriesIndex: 0 }, code);
      const r = dom.getBoundingClientRect();
      return [r.left + p[0], r.top + p[1]];
    }, state);
    await page.mouse.click(pt[0], pt[1]);
    stateFilter = { state };
    await waitReady(page, stateFilter);
    const r = report(stateFilter);
    assert.notDeepEqual(r, unfiltered, "the state filter changes the report");
    const d = await readDashboard(page);
    assertMatchesReport(d, r, "state " + state);
    await assertMatchesApi(d, stateFilter, "state " + state);
    assert.equal(new URL(page.url()).searchParams.get("state"), state);
    assert.equal(await page.inputValue("#f-state"), state);
  });

  await check("a custom date range (with the state) gives `report --state --from --to`", async () => {
    const first = Date.parse(filtersInfo.first_ts.replace(/Z?$/, "Z"));
    const last = Date.parse(filtersInfo.last_ts.replace(/Z?$/, "Z"));
    const day = 86400000;
    const from = new Date(Math.floor(first / day) * day + 6 * 3600000).toISOString().slice(0, 16);
    const to = new Date(Math.floor(last / day) * day + 18 * 3600000).toISOString().slice(0, 16);
    await page.fill("#f-from", from);
    await page.fill("#f-to", to);
    rangeFilter = { from: from + ":00", to: to + ":00", ...stateFilter };
    await waitReady(page, rangeFilter);
    const r = report(rangeFilter);
    assert.notDeepEqual(r, report(stateFilter), "the range changes the report");
    const d = await readDashboard(page);
    assertMatchesReport(d, r, "range");
    await assertMatchesApi(d, rangeFilter, "range");
  });

  await check("the URL holds the filters and reloading it reproduces the view", async () => {
    const q = new URL(page.url()).searchParams;
    assert.equal(q.get("from"), rangeFilter.from);
    assert.equal(q.get("to"), rangeFilter.to);
    assert.equal(q.get("state"), rangeFilter.state);
    assert.equal(q.get("preset"), "custom");
    const before = await readDashboard(page);
    await page.reload();
    await waitReady(page, rangeFilter);
    const after = await readDashboard(page);
    assert.deepEqual(after, before);
    assertMatchesReport(after, report(rangeFilter), "reloaded");
    assert.equal(await page.inputValue("#f-state"), rangeFilter.state);
    assert.equal(await page.inputValue("#f-from"), rangeFilter.from.slice(0, 16));
    assert.equal(await page.inputValue("#f-preset"), "custom");
  });

  await check("a fresh browser opening the link shows the same view", async () => {
    const other = await newPage(browser, { viewport: { width: 1280, height: 800 } });
    await other.page.goto(page.url());
    await waitReady(other.page, rangeFilter);
    assertMatchesReport(await readDashboard(other.page), report(rangeFilter), "link");
    await other.context.close();
  });

  await check("back button returns to the previous filters", async () => {
    await page.goBack(); // before the "to" change
    await page.goBack(); // before the "from" change: state only
    await waitReady(page, stateFilter);
    assertMatchesReport(await readDashboard(page), report(stateFilter), "back");
  });

  await check("preset \"yesterday\" is the day before the newest event; equals report", async () => {
    await page.click("#f-reset");
    await waitReady(page, {});
    await page.selectOption("#f-preset", "yesterday");
    const last = Date.parse(filtersInfo.last_ts.replace(/Z?$/, "Z"));
    const d0 = Math.floor(last / 86400000) * 86400000;
    const f = { from: new Date(d0 - 86400000).toISOString().slice(0, 10), to: new Date(d0).toISOString().slice(0, 10) };
    await waitReady(page, f);
    assert.equal(new URL(page.url()).searchParams.get("preset"), "yesterday");
    assertMatchesReport(await readDashboard(page), report(f), "yesterday");
  });

  await check("the city filter gives `report --city`", async () => {
    await page.click("#f-reset");
    await waitReady(page, {});
    const city = filtersInfo.cities[0].city;
    await page.selectOption("#f-city", city);
    await waitReady(page, { city });
    const r = report({ city });
    assert.ok(r.active_users > 0 && r.active_users < unfiltered.active_users, "the city has some of the users");
    assertMatchesReport(await readDashboard(page), r, "city");
    assert.equal(new URL(page.url()).searchParams.get("city"), city);
  });

  await check("clicking an artist focuses it (URL artist=, rows highlighted)", async () => {
    await page.click("#f-reset");
    await waitReady(page, {});
    const artist = unfiltered.top_artists[0].artist;
    await page.locator("#table-top-artists tbody tr").first().locator("button").click();
    assert.equal(new URL(page.url()).searchParams.get("artist"), artist);
    assert.ok(await page.locator("#table-top-artists tbody tr.focus").count() === 1);
    assert.ok(await page.locator("#chip-artist").isVisible());
    await page.click("#chip-artist");
    assert.equal(new URL(page.url()).searchParams.get("artist"), null);
  });

  await check("phone layout: one column, no sideways scrolling; docs/dashboard-phone.png", async () => {
    const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.page.goto(BASE);
    await waitReady(phone.page, {});
    const sizes = await phone.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    assert.ok(sizes.scroll <= sizes.inner, "no horizontal overflow: " + JSON.stringify(sizes));
    const a = await phone.page.locator("#tile-map").boundingBox();
    const b = await phone.page.locator("#tile-top-songs").boundingBox();
    assert.ok(b.y >= a.y + a.height, "tiles stack");
    assertMatchesReport(await readDashboard(phone.page), unfiltered, "phone");
    await phone.page.waitForTimeout(600);
    await phone.page.screenshot({ path: path.join(SHOTS, "dashboard-phone.png"), fullPage: true });
    await phone.context.close();
  });

  await check("a bad filter in the URL shows the server's 400 message, not a broken page", async () => {
    const bad = await newPage(browser, { viewport: { width: 1280, height: 800 } }, { allowHttpErrors: true });
    // Chromium logs a failed fetch (HTTP 400) as a console error: expected here, anything else is not.
    bad.page.removeAllListeners("console");
    bad.page.on("console", (m) => {
      if (m.type() === "error" && !/status of 400/.test(m.text())) incidents.push("console error: " + m.text());
    });
    await bad.page.goto(BASE + "?state=ZZ");
    await bad.page.locator("#error").waitFor({ state: "visible", timeout: 10000 });
    assert.match(await bad.page.locator("#error").textContent(), /state.*ZZ/);
    await bad.page.click("#f-reset");
    await waitReady(bad.page, {});
    assert.ok(!(await bad.page.locator("#error").isVisible()), "reset clears the error");
    await bad.context.close();
  });

  if (EMPTY_URL) {
    await check("an empty data dir shows the empty state, zeros and no errors", async () => {
      const empty = await newPage(browser, { viewport: { width: 1280, height: 800 } });
      await empty.page.goto(EMPTY_URL);
      await waitReady(empty.page, {});
      assert.ok(await empty.page.locator("#empty").isVisible(), "the empty-state note is shown");
      assert.equal(await empty.page.getAttribute("#kpi-active-users", "data-value"), "0");
      assert.equal(await empty.page.locator("#table-top-songs tbody tr").count(), 0);
      await empty.context.close();
    });
  }

  await context.close();
  await browser.close();
  console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log("FAIL - the test itself: " + (e && e.stack ? e.stack : e));
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
