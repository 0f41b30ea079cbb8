// sportcast dashboard: one small script for every page (no build step; uPlot is vendored).
"use strict";

const params = new URLSearchParams(location.search);
const KEY_STORE = "sportcast.key";
if (params.get("key")) sessionStorage.setItem(KEY_STORE, params.get("key"));
const apiKey = () => sessionStorage.getItem(KEY_STORE) || "";

// What this page received over SSE, for the browser tests, the benchmark and the curious: ids
// in order, and when each arrived (ms since navigation) beside its issue time, if it has one.
window.sportcast = { received: [], arrivals: [], resets: [], errors: [], opened: 0 };

function withKey(url) {
  const u = new URL(url, location.origin);
  if (apiKey()) u.searchParams.set("access_token", apiKey());
  return u;
}

async function getJSON(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) {
    for (const one of [].concat(v)) if (one !== undefined && one !== null) url.searchParams.append(k, one);
  }
  const headers = apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {};
  const response = await fetch(url, { headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || body.title || response.statusText);
    error.code = body.code;
    error.status = response.status;
    throw error;
  }
  return body;
}

const dashboardQuery = (name, query) => getJSON(`/v1/dashboard/queries/${name}`, query);

function showError(where, error) {
  window.sportcast.errors.push(String(error.code || error.message));
  where.replaceChildren(el("p", { class: "empty", role: "alert" },
    `${error.code ? `[${error.code}] ` : ""}${error.message}`));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

const pct = (p) => (p === null || p === undefined ? "–" : `${(100 * p).toFixed(1)}%`);
const signedPct = (e) => (e === null || e === undefined ? "–" : `${e > 0 ? "+" : ""}${(100 * e).toFixed(1)}`);
const when = (ms) => (ms ? new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
const edgeClass = (e) => (e > 0.02 ? "edge-pos" : e < -0.02 ? "edge-neg" : undefined);

const names = new Map(); // fixture id -> "Home v Away"
const asking = new Map(); // fixture id -> the request for its name, while one is on its way
async function fixtureNames(ids) {
  const wanted = [...new Set(ids)].filter((id) => !names.has(id));
  const missing = wanted.filter((id) => !asking.has(id));
  for (let i = 0; i < missing.length; i += 100) {
    const chunk = missing.slice(i, i + 100);
    const request = getJSON("/v1/dashboard/fixtures", { id: chunk })
      .then((body) => { for (const f of body.fixtures) names.set(f.fixture_id, f); })
      .catch((error) => { window.sportcast.errors.push(`names: ${error.code || error.message}`); })
      .finally(() => { for (const id of chunk) asking.delete(id); });
    for (const id of chunk) asking.set(id, request);
  }
  await Promise.all(wanted.map((id) => asking.get(id)));
}
const label = (id) => {
  const f = names.get(id);
  return f ? `${f.home} v ${f.away}` : id.slice(0, 8);
};

// An EventSource that resumes by itself (the browser sends Last-Event-ID on reconnect) and
// records every id it saw, so a test can check that a reconnect skipped and repeated nothing.
function follow(path, filters, onEvent, statusEl) {
  const url = withKey(path);
  for (const [k, v] of Object.entries(filters)) for (const one of [].concat(v)) url.searchParams.append(k, one);
  const source = new EventSource(url);
  const setStatus = (state, text) => {
    if (!statusEl) return;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  };
  source.onopen = () => { window.sportcast.opened += 1; setStatus("live", "live"); };
  source.onerror = () => setStatus("reconnecting", "reconnecting…");
  for (const type of ["forecast", "odds", "goal", "card", "period-ended", "finished", "started"]) {
    source.addEventListener(type, (message) => {
      const data = JSON.parse(message.data);
      window.sportcast.received.push(message.lastEventId);
      window.sportcast.arrivals.push([performance.now(), data.issued_at || null]);
      onEvent(type, data, message.lastEventId);
    });
  }
  source.addEventListener("reset", (message) => {
    window.sportcast.resets.push(message.data);
    setStatus("reconnecting", "the stream restarted: reloading");
  });
  window.sportcast.source = source;
  return source;
}

// ---- live board ------------------------------------------------------------------------
const RECENT_FORECASTS = 60;
async function liveBoard() {
  const body = document.querySelector("#board tbody");
  const status = document.querySelector("#stream-status");
  const rows = new Map(); // fixture|market -> row element
  const now = Date.now();
  const render = (f) => {
    const key = `${f.fixture}|${f.market}`;
    const cells = [
      el("td", { text: when(f.kickoff) }),
      el("td", {}, el("a", { href: `fixture.html?id=${f.fixture}` , text: label(f.fixture) })),
      el("td", { class: "wide-only", text: f.competition || "" }),
      el("td", { text: f.market }),
      ...f.outcomes.map((o, i) => el("td", { class: "num", text: `${o}: ${pct(f.probabilities[i])} (${pct(f.market_probabilities[i])})` })),
      el("td", { class: `num ${edgeClass(Math.max(...f.edge)) || ""}`, text: signedPct(Math.max(...f.edge)) }),
      el("td", { class: "wide-only", text: f.trigger }),
    ];
    let row = rows.get(key);
    if (!row) {
      row = el("tr", { "data-fixture": f.fixture });
      rows.set(key, row);
      body.append(row);
    }
    row.replaceChildren(...cells);
    row.classList.remove("flash");
    void row.offsetWidth;
    row.classList.add("flash");
  };
  // The stream first, starting with the most recent forecasts the gateway holds (so the page
  // shows an update at once, not after the next forecast); a reconnect resumes from the last
  // id, which the gateway prefers to `recent`.
  follow("/v1/streams/forecasts", { recent: RECENT_FORECASTS }, async (_type, f) => {
    render(f);
    document.querySelector("#last-update").textContent = `last update ${new Date().toLocaleTimeString()}`;
    if (!names.has(f.fixture)) {
      await fixtureNames([f.fixture]);
      render(f);
    }
  }, status);
  try {
    const latest = await dashboardQuery("live_board", { since: now - 3 * 3600_000, until: now + 14 * 86400_000 });
    await fixtureNames(latest.rows.map((r) => r.fixture_id));
    // The snapshot fills in fixtures the stream has not updated yet (never an older forecast).
    for (const f of groupOutcomes(latest.rows)) if (!rows.has(`${f.fixture}|${f.market}`)) render(f);
  } catch (error) {
    showError(document.querySelector("#board-note"), error);
  }
}

// Query rows are one per outcome of the latest forecast per fixture and model kind: put each
// forecast back together, then keep the newest per (fixture, market) (e.g. in-play over pre-match).
function groupOutcomes(rows) {
  const grouped = new Map();
  for (const r of rows) {
    const key = `${r.fixture_id}|${r.model_kind}`;
    let f = grouped.get(key);
    if (!f) {
      f = { fixture: r.fixture_id, competition: r.competition, market: r.market, kickoff: r.kickoff_at,
            trigger: r.trigger, issued: r.issued_at, outcomes: [], probabilities: [], market_probabilities: [], edge: [] };
      grouped.set(key, f);
    }
    f.outcomes.push(r.outcome);
    f.probabilities.push(r.model_probability);
    f.market_probabilities.push(r.market_probability);
    f.edge.push(r.edge);
  }
  const newest = new Map();
  for (const f of grouped.values()) {
    const key = `${f.fixture}|${f.market}`;
    if (!newest.has(key) || newest.get(key).issued < f.issued) newest.set(key, f);
  }
  return [...newest.values()];
}

// ---- edge board ------------------------------------------------------------------------
async function edgeBoard() {
  const select = document.querySelector("#market");
  const body = document.querySelector("#edges tbody");
  const note = document.querySelector("#edges-note");
  const load = async () => {
    try {
      const result = await dashboardQuery("edge_board", { market: select.value, since: Date.now() - 3 * 3600_000 });
      await fixtureNames(result.rows.map((r) => r.fixture_id));
      body.replaceChildren(...result.rows.map((r) => el("tr", {},
        el("td", {}, el("a", { href: `fixture.html?id=${r.fixture_id}`, text: label(r.fixture_id) })),
        el("td", { class: "wide-only", text: r.competition }),
        el("td", { text: r.outcome }),
        el("td", { class: "num", text: pct(r.model_probability) }),
        el("td", { class: "num", text: pct(r.market_probability) }),
        el("td", { class: `num ${edgeClass(r.edge) || ""}`, text: signedPct(r.edge) }),
        el("td", { class: "wide-only", text: when(r.kickoff_at) }))));
      note.textContent = result.rows.length ? "" : "no forecast in this market yet";
    } catch (error) {
      showError(note, error);
    }
  };
  select.addEventListener("change", load);
  await load();
  setInterval(load, 5000);
}

// ---- charts ----------------------------------------------------------------------------
function lineChart(target, title, xs, series) {
  target.replaceChildren();
  if (!xs.length) {
    target.append(el("p", { class: "empty", text: `${title}: no data yet` }));
    return null;
  }
  const colors = ["#1f5fbf", "#0b7a3e", "#b3261e", "#7a4fb3", "#c77700", "#555"];
  const opts = {
    title, width: Math.max(280, target.clientWidth || 600), height: 240,
    scales: { x: { time: true } },
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2, dash: s.dash }))],
  };
  const chart = new uPlot(opts, [xs.map((x) => x / 1000), ...series.map((s) => s.values)], target);
  target.dataset.points = String(xs.length);
  return chart;
}

// ---- fixture page ----------------------------------------------------------------------
async function fixturePage() {
  const id = params.get("id");
  if (!id) return;
  await fixtureNames([id]);
  const f = names.get(id);
  document.querySelector("#title").textContent = f ? `${f.home} v ${f.away} · ${f.competition}` : id;
  try {
    const odds = await dashboardQuery("odds_movement", { fixture_id: id, since: 0 });
    const bySource = new Map();
    for (const r of odds.rows) {
      const key = `${r.source} ${r.outcome}`;
      if (!bySource.has(key)) bySource.set(key, []);
      bySource.get(key).push(r);
    }
    const times = [...new Set(odds.rows.map((r) => r.quoted_at))].sort((a, b) => a - b);
    lineChart(document.querySelector("#odds-chart"), "Margin-free probability by bookmaker", times,
      [...bySource.entries()].map(([key, rs]) => ({ label: key, values: times.map((t) => rs.find((r) => r.quoted_at === t)?.implied_probability ?? null) })));
    const history = await dashboardQuery("forecast_history", { fixture_id: id });
    const issued = [...new Set(history.rows.map((r) => r.issued_at))].sort((a, b) => a - b);
    const outcomes = [...new Set(history.rows.map((r) => r.outcome))];
    const series = [];
    for (const o of outcomes) {
      series.push({ label: `model ${o}`, values: issued.map((t) => history.rows.find((r) => r.issued_at === t && r.outcome === o)?.model_probability ?? null) });
      series.push({ label: `market ${o}`, dash: [5, 5], values: issued.map((t) => history.rows.find((r) => r.issued_at === t && r.outcome === o)?.market_probability ?? null) });
    }
    lineChart(document.querySelector("#forecast-chart"), "Forecasts: model (solid) and market (dashed)", issued, series);
    const timeline = [
      ...odds.rows.map((r) => ({ at: r.quoted_at, what: `odds ${r.source}`, detail: `${r.outcome} ${r.decimal_price}` })),
      ...groupHistory(history.rows).map((h) => ({ at: h.issued_at, what: `forecast (${h.trigger})`, detail: h.text })),
    ].sort((a, b) => a.at - b.at);
    document.querySelector("#timeline tbody").replaceChildren(...timeline.map((t) =>
      el("tr", {}, el("td", { text: when(t.at) }), el("td", { text: t.what }), el("td", { text: t.detail }))));
  } catch (error) {
    showError(document.querySelector("#fixture-note"), error);
  }
}

function groupHistory(rows) {
  const byForecast = new Map();
  for (const r of rows) {
    const key = `${r.notification_id}|${r.market}`;
    if (!byForecast.has(key)) byForecast.set(key, { issued_at: r.issued_at, trigger: r.trigger, parts: [] });
    byForecast.get(key).parts.push(`${r.outcome} ${pct(r.model_probability)} (market ${pct(r.market_probability)})`);
  }
  return [...byForecast.values()].map((h) => ({ ...h, text: h.parts.join(", ") }));
}

// ---- model page ------------------------------------------------------------------------
async function modelPage() {
  const select = document.querySelector("#model");
  const note = document.querySelector("#model-note");
  try {
    const models = await dashboardQuery("models", { since: 0 });
    select.replaceChildren(...models.rows.map((m) => el("option", { value: m.model_id, text: `${m.model_id} (${m.market})` })));
    const wanted = params.get("id");
    if (wanted) select.value = wanted;
  } catch (error) {
    showError(note, error);
    return;
  }
  const load = async () => {
    const model = select.value;
    const chosen = [...select.options].find((o) => o.value === model);
    const market = chosen ? chosen.text.replace(/.*\(|\)$/g, "") : "1x2";
    try {
      const [cal, mcal, rps, record] = await Promise.all([
        dashboardQuery("calibration", { model_id: model, market }),
        dashboardQuery("market_calibration", { model_id: model, market }),
        dashboardQuery("rps_by_competition_over_time", { model_id: model }),
        dashboardQuery("track_record", { model_id: model }),
      ]);
      const target = document.querySelector("#calibration-chart");
      target.replaceChildren();
      if (cal.rows.length) {
        const opts = { title: "Calibration: observed against predicted (10% buckets)", width: Math.max(280, target.clientWidth || 600), height: 260,
          scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
          series: [{}, { label: "model", stroke: "#1f5fbf", width: 2, points: { show: true } },
                   { label: "market", stroke: "#b3261e", width: 2, dash: [5, 5], points: { show: true } },
                   { label: "perfect", stroke: "#999", width: 1 }] };
        const xs = cal.rows.map((r) => r.mean_predicted);
        const marketAt = (b) => mcal.rows.find((r) => r.bucket === b)?.observed_rate ?? null;
        new uPlot(opts, [xs, cal.rows.map((r) => r.observed_rate), cal.rows.map((r) => marketAt(r.bucket)), xs], target);
        target.dataset.points = String(xs.length);
      } else {
        target.append(el("p", { class: "empty", text: "no settled forecast of this model yet" }));
      }
      const periods = [...new Set(rps.rows.map((r) => r.period_start))].sort((a, b) => a - b);
      const comps = [...new Set(rps.rows.map((r) => r.competition))];
      lineChart(document.querySelector("#rps-chart"), "Mean RPS per competition (lower is better)", periods,
        comps.map((c) => ({ label: c, values: periods.map((p) => rps.rows.find((r) => r.period_start === p && r.competition === c)?.mean_rps ?? null) })));
      document.querySelector("#record tbody").replaceChildren(...record.rows.map((r) => el("tr", {},
        el("td", { text: r.competition }), el("td", { text: r.season }), el("td", { text: r.track }),
        el("td", { class: "num", text: String(r.forecasts) }),
        el("td", { class: "num", text: r.mean_rps.toFixed(4) }), el("td", { class: "num", text: r.mean_market_rps.toFixed(4) }),
        el("td", { class: "num wide-only", text: r.mean_log_loss.toFixed(4) }), el("td", { class: "num wide-only", text: r.mean_market_log_loss.toFixed(4) }))));
      note.textContent = "";
    } catch (error) {
      showError(note, error);
    }
  };
  select.addEventListener("change", load);
  await load();
}

// ---- feed health -----------------------------------------------------------------------
async function healthPage() {
  const note = document.querySelector("#health-note");
  const load = async () => {
    try {
      const fresh = await dashboardQuery("feed_freshness", { since: Date.now() - 30 * 86400_000 });
      const now = Date.now();
      document.querySelector("#freshness tbody").replaceChildren(...fresh.rows.map((r) => {
        const minutes = Math.round((now - r.last_quoted_at) / 60000);
        return el("tr", {}, el("td", { text: r.source }), el("td", { text: r.competition }),
          el("td", { class: "num", text: String(r.quotes) }), el("td", { text: when(r.last_quoted_at) }),
          el("td", { class: `num ${minutes > 15 ? "edge-neg" : ""}`, text: `${minutes} min` }));
      }));
      const quarantine = await getJSON("/v1/dashboard/quarantine");
      document.querySelector("#quarantine tbody").replaceChildren(...quarantine.reasons.map((q) =>
        el("tr", {}, el("td", { text: q.reason_code }), el("td", { class: "num", text: String(q.count) }))));
      document.querySelector("#quarantine-total").textContent = `${quarantine.total} refused payloads kept`;
      note.textContent = "";
    } catch (error) {
      showError(note, error);
    }
  };
  await load();
  setInterval(load, 10000);
}

const pages = { live: liveBoard, edge: edgeBoard, fixture: fixturePage, model: modelPage, health: healthPage };
document.addEventListener("DOMContentLoaded", () => {
  for (const a of document.querySelectorAll("nav a")) {
    if (apiKey() && !a.href.includes("key=")) a.href = a.getAttribute("href");
    if (a.dataset.page === document.body.dataset.page) a.setAttribute("aria-current", "page");
  }
  pages[document.body.dataset.page]?.().catch((error) => window.sportcast.errors.push(String(error)));
});
