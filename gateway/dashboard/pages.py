"""The dashboard's pages: one layout, five bodies. Data arrives from the browser's own calls
(app.js): the named dashboard queries, the fixtures' names and the SSE streams."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Page:
    slug: str  # file name under /dashboard/
    key: str  # app.js's page name
    title: str
    body: str


_NAV = (
    ("index.html", "live", "Live board"),
    ("edge.html", "edge", "Edge board"),
    ("model.html", "model", "Models"),
    ("health.html", "health", "Feed health"),
)

PAGES = (
    Page(
        "index.html",
        "live",
        "Live board",
        """
<section aria-labelledby="board-h">
  <h2 id="board-h">Fixtures in play and upcoming</h2>
  <p class="status"><span id="stream-status" data-state="connecting">connecting…</span>
     · <span id="last-update" aria-live="polite"></span></p>
  <div id="board-note"></div>
  <div class="table-wrap"><table id="board">
    <caption>Model probability per outcome, the margin-free market in brackets; edge is the
      largest model-minus-market difference, in points.</caption>
    <thead><tr><th scope="col">Kick-off</th><th scope="col">Fixture</th>
      <th scope="col" class="wide-only">Competition</th><th scope="col">Market</th>
      <th scope="col">Outcome 1</th><th scope="col">Outcome 2</th><th scope="col">Outcome 3</th>
      <th scope="col">Edge</th><th scope="col" class="wide-only">Trigger</th></tr></thead>
    <tbody></tbody></table></div>
</section>""",
    ),
    Page(
        "edge.html",
        "edge",
        "Edge board",
        """
<section aria-labelledby="edges-h">
  <h2 id="edges-h">Largest model-minus-market differences now</h2>
  <label for="market">Market</label>
  <select id="market"><option value="1x2">1X2 (football)</option>
    <option value="moneyline">Moneyline (NBA)</option></select>
  <div id="edges-note" aria-live="polite"></div>
  <div class="table-wrap"><table id="edges">
    <caption>Refreshed every 5 seconds.</caption>
    <thead><tr><th scope="col">Fixture</th><th scope="col" class="wide-only">Competition</th>
      <th scope="col">Outcome</th><th scope="col">Model</th><th scope="col">Market</th>
      <th scope="col">Edge</th><th scope="col" class="wide-only">Kick-off</th></tr></thead>
    <tbody></tbody></table></div>
</section>""",
    ),
    Page(
        "fixture.html",
        "fixture",
        "Fixture",
        """
<section aria-labelledby="title">
  <h2 id="title">Fixture</h2>
  <div id="fixture-note"></div>
  <figure><div id="odds-chart" class="chart" role="img"
     aria-label="Odds movement: margin-free probability per bookmaker and outcome"></div></figure>
  <figure><div id="forecast-chart" class="chart" role="img"
     aria-label="Forecast history: model and market probability per outcome"></div></figure>
</section>
<section aria-labelledby="timeline-h">
  <h2 id="timeline-h">Timeline</h2>
  <div class="table-wrap"><table id="timeline">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Detail</th>
    </tr></thead><tbody></tbody></table></div>
</section>""",
    ),
    Page(
        "model.html",
        "model",
        "Models",
        """
<section aria-labelledby="model-h">
  <h2 id="model-h">Model track record</h2>
  <label for="model">Model</label><select id="model"></select>
  <div id="model-note" aria-live="polite"></div>
  <figure><div id="calibration-chart" class="chart" role="img"
     aria-label="Calibration plot: observed frequency against predicted probability"></div>
  </figure>
  <figure><div id="rps-chart" class="chart" role="img"
     aria-label="Mean ranked probability score per competition over time"></div></figure>
  <div class="table-wrap"><table id="record">
    <caption>The public track record: every settled forecast, the market's score on the same
      fixtures beside it (lower is better).</caption>
    <thead><tr><th scope="col">Competition</th><th scope="col">Season</th>
      <th scope="col">Track</th><th scope="col">Forecasts</th><th scope="col">RPS</th>
      <th scope="col">Market RPS</th><th scope="col" class="wide-only">Log loss</th>
      <th scope="col" class="wide-only">Market log loss</th></tr></thead>
    <tbody></tbody></table></div>
</section>""",
    ),
    Page(
        "health.html",
        "health",
        "Feed health",
        """
<section aria-labelledby="fresh-h">
  <h2 id="fresh-h">Staleness per source and competition</h2>
  <div id="health-note" aria-live="polite"></div>
  <div class="table-wrap"><table id="freshness">
    <thead><tr><th scope="col">Source</th><th scope="col">Competition</th>
      <th scope="col">Quotes (30 days)</th><th scope="col">Last quote</th>
      <th scope="col">Stale for</th></tr></thead><tbody></tbody></table></div>
</section>
<section aria-labelledby="quarantine-h">
  <h2 id="quarantine-h">Quarantine</h2>
  <p id="quarantine-total" class="status"></p>
  <div class="table-wrap"><table id="quarantine">
    <thead><tr><th scope="col">Reason</th><th scope="col">Payloads</th></tr></thead>
    <tbody></tbody></table></div>
</section>""",
    ),
)


def render(page: Page) -> str:
    nav = "".join(
        f'<li><a href="{slug}" data-page="{key}">{escape(label)}</a></li>'
        for slug, key, label in _NAV
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(page.title)} · sportcast</title>
<link rel="stylesheet" href="static/vendor/uPlot.min.css">
<link rel="stylesheet" href="static/style.css">
<script src="static/vendor/uPlot.iife.min.js" defer></script>
<script src="static/app.js" defer></script>
</head>
<body data-page="{page.key}">
<a class="sr-only" href="#main">Skip to content</a>
<header><h1>sportcast</h1><nav aria-label="Dashboard"><ul>{nav}</ul></nav></header>
<main id="main">{page.body}
</main>
</body>
</html>
"""


def page_by_slug(slug: str) -> Page | None:
    return next((p for p in PAGES if p.slug == slug), None)
