"""The report's style sheet and script, inlined into every page.

The script only improves a page that is complete without it: it sorts the case
table on a click of a column head and filters it by family, backend, stability
and bottleneck, and highlights the backends a reader picks (buttons above the
charts, or a click on a ranking's row) by fading every other one in the charts
and rankings. It fetches nothing and loads nothing, so the page works offline
and as a mail attachment; with scripts off, the controls stay hidden and the
table is the plain table.
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222;
  padding: 0 1em; }
h1 { margin-bottom: 0.1em; }
p.sub { color: #555; margin-top: 0; }
nav a { margin-right: 1em; }
p.summary { background: #f4f6fa; border-left: 4px solid #1f77b4; padding: 0.5em 0.8em; }
section { margin-top: 2em; }
.rankings { display: flex; flex-wrap: wrap; gap: 1.5em 2.5em; }
figure.ranking { margin: 0; max-width: 100%; }
figure.ranking h3 { margin: 0 0 0.2em 0; font-size: 1.05em; }
p.takeaway { margin: 0 0 0.4em 0; }
svg.ranking { max-width: 100%; height: auto; font-size: 11px; }
svg.ranking text.name { text-anchor: end; }
svg.ranking text.tick { text-anchor: middle; fill: #555; }
svg.ranking text.axis, svg.ranking text.note { fill: #555; }
svg.ranking text.failed { fill: #b00020; font-weight: bold; }
svg.ranking line.grid { stroke: #e4e4e4; }
svg.ranking line.one { stroke: #888; stroke-dasharray: 3 2; }
svg.ranking path.whisker { stroke: #222; stroke-width: 1.1; fill: none; }
svg.ranking rect.band { fill: transparent; }
svg.ranking g.row:hover rect.band { fill: #f1f1f1; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 0.5em 0 1.5em 0; }
p.marks { color: #444; font-size: 0.9em; }
.hatch { display: inline-block; width: 1.4em; height: 0.9em; vertical-align: middle;
  border: 1px solid #000;
  background: repeating-linear-gradient(45deg, #aaa 0 2px, #000 2px 3px, #aaa 3px 5px); }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
thead th { background: #f6f6f6; position: sticky; top: 0; }
th.sortable { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.changed { font-weight: bold; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
#cases-table td:first-child { white-space: nowrap; }
tr.failed td { color: #b00020; }
tr.client td { background: #fff6e0; }
tr.unstable td.cv { font-weight: bold; }
p.skipped { color: #555; font-style: italic; }
#case-controls { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; align-items: center; }
#case-controls[hidden] { display: none; }
#highlight-controls { margin: 0.5em 0 1em 0; }
#highlight-controls[hidden] { display: none; }
#highlight-controls button { margin: 0.15em; border: 1px solid #bbb; background: #fff;
  border-radius: 3px; padding: 0.1em 0.5em; cursor: pointer; }
#highlight-controls button[aria-pressed=true] { background: #222; color: #fff; }
#highlight-controls button span { display: inline-block; width: 0.7em; height: 0.7em;
  margin-right: 0.3em; }
svg.ranking g.row { cursor: pointer; }
body.focus svg g[data-backend]:not(.on) { opacity: 0.13; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("cases-table");
  var controls = document.getElementById("case-controls");
  if (!table || !controls) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var family = document.getElementById("filter-family");
  var backend = document.getElementById("filter-backend");
  var unstable = document.getElementById("hide-unstable");
  var client = document.getElementById("hide-client");
  var shown = document.getElementById("shown-count");

  function key(row, column) {
    var cell = row.cells[column];
    var value = cell.getAttribute("data-v");
    if (value === null) { value = cell.textContent; }
    if (value !== "" && isFinite(value)) { return parseFloat(value); }
    return value.toLowerCase();
  }

  function sortBy(th, column) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.slice().sort(function (a, b) {
      var x = key(a, column), y = key(b, column);
      // A missing figure ("-") sorts after every number, whichever the direction.
      if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return ascending ? order : -order;
    }).forEach(function (row) { body.appendChild(row); });
  }

  heads.forEach(function (th, column) {
    th.classList.add("sortable");
    th.tabIndex = 0;
    th.title = "sort by " + th.textContent;
    th.addEventListener("click", function () { sortBy(th, column); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sortBy(th, column);
      }
    });
  });

  function apply() {
    var count = 0;
    rows.forEach(function (row) {
      var hide = (family.value && row.getAttribute("data-family") !== family.value) ||
        (backend.value && row.getAttribute("data-backend") !== backend.value) ||
        (unstable.checked && row.classList.contains("unstable")) ||
        (client.checked && row.classList.contains("client"));
      row.hidden = Boolean(hide);
      if (!hide) { count += 1; }
    });
    shown.textContent = "showing " + count + " of " + rows.length + " cases";
  }

  [family, backend, unstable, client].forEach(function (control) {
    control.addEventListener("change", apply);
  });
  controls.hidden = false;
  apply();
})();

(function () {
  "use strict";
  var bar = document.getElementById("highlight-controls");
  if (!bar) { return; }
  var buttons = Array.prototype.slice.call(bar.querySelectorAll("button[data-backend]"));
  var marks = Array.prototype.slice.call(document.querySelectorAll("svg g[data-backend]"));
  var chosen = {};

  function paint() {
    document.body.classList.toggle("focus", Object.keys(chosen).length > 0);
    marks.forEach(function (mark) {
      mark.classList.toggle("on", chosen.hasOwnProperty(mark.getAttribute("data-backend")));
    });
    buttons.forEach(function (button) {
      var on = chosen.hasOwnProperty(button.getAttribute("data-backend"));
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function toggle(name) {
    if (chosen.hasOwnProperty(name)) { delete chosen[name]; } else { chosen[name] = true; }
    paint();
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () { toggle(button.getAttribute("data-backend")); });
  });
  document.querySelectorAll("svg.ranking g.row").forEach(function (row) {
    row.addEventListener("click", function () { toggle(row.getAttribute("data-backend")); });
  });
  document.getElementById("highlight-clear").addEventListener("click", function () {
    chosen = {};
    paint();
  });
  bar.hidden = false;
})();
"""
