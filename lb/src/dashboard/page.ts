// The dashboard's static assets, as strings so the one-file bundle (and the image) carries them:
// nothing is fetched from anywhere but this LB.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Load balancer dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<header>
  <h1>Load balancer</h1>
  <p id="summary" aria-live="polite">connecting...</p>
  <p><span id="conn" class="conn">connecting</span></p>
</header>
<main>
  <section aria-labelledby="ring-title" class="card">
    <h2 id="ring-title">Ring</h2>
    <svg id="ring" viewBox="-170 -170 340 340" role="img" aria-label="Hash ring with each replica's virtual servers"></svg>
    <div id="legend" class="legend"></div>
  </section>
  <section aria-labelledby="totals-title" class="card">
    <h2 id="totals-title">Traffic</h2>
    <p class="big"><span id="rps">0</span> req/s &middot; <span id="eps">0</span> errors/s</p>
    <svg id="spark" viewBox="0 0 300 60" role="img" aria-label="Requests per second, last 60 seconds"></svg>
  </section>
  <section aria-labelledby="replicas-title" class="card wide">
    <h2 id="replicas-title">Replicas</h2>
    <table>
      <thead><tr><th scope="col">Replica</th><th scope="col">Index</th><th scope="col">State</th><th scope="col">req/s</th>
      <th scope="col">Errors</th><th scope="col">p50 ms</th><th scope="col">p99 ms</th><th scope="col">Uptime</th><th scope="col">Respawns</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
      <tbody id="replicas"></tbody>
    </table>
  </section>
  <section aria-labelledby="controls-title" class="card">
    <h2 id="controls-title">Add or remove</h2>
    <form id="add-form">
      <label for="add-n">Replicas to add</label>
      <input id="add-n" name="n" type="number" min="1" value="1" required>
      <label for="add-names">Names (optional, space-separated)</label>
      <input id="add-names" name="names" type="text" autocomplete="off" placeholder="S5 S6">
      <button type="submit">Add</button>
    </form>
    <form id="rm-form">
      <label for="rm-n">Replicas to remove</label>
      <input id="rm-n" name="n" type="number" min="1" value="1" required>
      <label for="rm-names">Names (optional, space-separated)</label>
      <input id="rm-names" name="names" type="text" autocomplete="off">
      <button type="submit">Remove</button>
    </form>
    <label for="token">Admin token (only if the LB has one)</label>
    <input id="token" type="password" autocomplete="off">
    <pre id="answer" aria-live="polite"></pre>
  </section>
  <section aria-labelledby="events-title" class="card">
    <h2 id="events-title">Events</h2>
    <ol id="events" class="events"></ol>
  </section>
</main>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `
:root { --bg: #f6f7f9; --card: #fff; --text: #1b1f24; --muted: #4a5360; --line: #d5dae1; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, "DejaVu Sans", sans-serif; background: var(--bg); color: var(--text); }
header { padding: 16px 24px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; border-bottom: 1px solid var(--line); background: var(--card); }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 17px; margin: 0 0 8px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; padding: 16px 24px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.wide { grid-column: 1 / -1; }
#ring { width: 100%; max-width: 360px; display: block; margin: 0 auto; }
.legend { display: flex; flex-wrap: wrap; gap: 8px 14px; margin-top: 8px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
.state { font-weight: 600; }
.state-healthy { color: var(--ok); }
.state-failing, .state-respawning { color: var(--warn); }
.state-flatlined { color: var(--bad); }
.big { font-size: 20px; margin: 0 0 6px; }
form { display: grid; grid-template-columns: 1fr; gap: 4px; margin-bottom: 12px; }
label { font-size: 13px; color: var(--muted); }
input { font: inherit; padding: 6px 8px; border: 1px solid #8c959f; border-radius: 6px; }
button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid #1f6feb; background: #1f6feb; color: #fff; cursor: pointer; justify-self: start; }
button.small { padding: 2px 8px; font-size: 13px; background: #fff; color: var(--bad); border-color: var(--bad); }
button:focus-visible, input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
pre { background: #f0f2f5; padding: 8px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; min-height: 2em; margin: 0; }
.events { margin: 0; padding-left: 20px; max-height: 320px; overflow: auto; }
.conn { font-size: 13px; padding: 2px 8px; border-radius: 10px; background: #eaeef2; }
.conn.live { background: #dafbe1; color: var(--ok); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

export const PAGE_JS = `(function () {
  'use strict';
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#e07b00', '#0f8b9c', '#8c564b', '#c2378f', '#5c6670', '#7c8a00'];
  var SVG = 'http://www.w3.org/2000/svg';
  var byId = function (id) { return document.getElementById(id); };
  var colorOf = function (index) { return palette[(index - 1) % palette.length]; };
  function node(tag, attrs, text, ns) {
    var n = ns ? document.createElementNS(SVG, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function swatch(color) {
    var n = node('span', { class: 'swatch', 'aria-hidden': 'true' });
    n.style.background = color; // CSSOM, not a style attribute: allowed by the page's CSP
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function fixed(x, digits) { return x === null || x === undefined ? '-' : Number(x).toFixed(digits); }

  function drawRing(s, colors) {
    var svg = byId('ring');
    clear(svg);
    svg.appendChild(node('circle', { r: 130, fill: 'none', stroke: '#d5dae1', 'stroke-width': 10 }, undefined, true));
    if (s.layout.kind === 'ring') {
      s.layout.virtualServers.forEach(function (v) {
        var angle = (v.slot / s.layout.slots) * 2 * Math.PI - Math.PI / 2;
        var dot = node('circle', { cx: (130 * Math.cos(angle)).toFixed(1), cy: (130 * Math.sin(angle)).toFixed(1), r: 6,
          fill: colors[v.replica] || '#999', stroke: '#fff', 'stroke-width': 1, 'data-vs': v.replica, 'data-slot': v.slot }, undefined, true);
        dot.appendChild(node('title', {}, v.replica + ' at slot ' + v.slot, true));
        svg.appendChild(dot);
      });
      svg.appendChild(node('text', { 'text-anchor': 'middle', y: -4, 'font-size': 14, fill: '#1b1f24' }, s.layout.slots + ' slots', true));
      svg.appendChild(node('text', { 'text-anchor': 'middle', y: 16, 'font-size': 12, fill: '#4a5360' }, s.hashFunction + ', K = ' + s.virtualServersPerReplica, true));
    } else if (s.layout.kind === 'maglev') {
      var total = s.layout.tableSize, start = -Math.PI / 2;
      Object.keys(s.layout.entries).forEach(function (name) {
        var share = s.layout.entries[name] / total, end = start + share * 2 * Math.PI;
        var large = share > 0.5 ? 1 : 0;
        var d = 'M ' + (130 * Math.cos(start)).toFixed(1) + ' ' + (130 * Math.sin(start)).toFixed(1) +
          ' A 130 130 0 ' + large + ' 1 ' + (130 * Math.cos(end)).toFixed(1) + ' ' + (130 * Math.sin(end)).toFixed(1);
        var arc = node('path', { d: d, fill: 'none', stroke: colors[name], 'stroke-width': 22, 'data-share': name }, undefined, true);
        arc.appendChild(node('title', {}, name + ': ' + (share * 100).toFixed(2) + '% of the Maglev table', true));
        svg.appendChild(arc);
        start = end;
      });
      svg.appendChild(node('text', { 'text-anchor': 'middle', y: 4, 'font-size': 14, fill: '#1b1f24' }, 'Maglev, M = ' + total, true));
    }
  }

  function drawReplicas(s, colors) {
    var body = byId('replicas');
    clear(body);
    var legend = byId('legend');
    clear(legend);
    s.replicas.forEach(function (r) {
      var tr = node('tr', { 'data-replica': r.name });
      var name = node('td');
      name.appendChild(swatch(colors[r.name]));
      name.appendChild(document.createTextNode(r.name));
      tr.appendChild(name);
      tr.appendChild(node('td', {}, String(r.index)));
      var stateText = (r.state === 'failing' ? 'failing ' + r.failures + '/' + s.maxFailCount : r.state) + (r.ejected ? ' (ejected: 5xx)' : '');
      tr.appendChild(node('td', { class: 'state state-' + r.state }, stateText));
      tr.appendChild(node('td', {}, fixed(r.rps, 1)));
      tr.appendChild(node('td', {}, String(r.errors)));
      tr.appendChild(node('td', {}, fixed(r.p50, 2)));
      tr.appendChild(node('td', {}, fixed(r.p99, 2)));
      tr.appendChild(node('td', {}, r.uptimeSeconds + ' s'));
      tr.appendChild(node('td', {}, String(r.respawns)));
      var cell = node('td');
      var button = node('button', { class: 'small', type: 'button', 'aria-label': 'Remove ' + r.name }, 'Remove');
      button.addEventListener('click', function () { admin('DELETE', '/rm', { n: 1, hostnames: [r.name] }); });
      cell.appendChild(button);
      tr.appendChild(cell);
      body.appendChild(tr);
      var item = node('span');
      item.appendChild(swatch(colors[r.name]));
      item.appendChild(document.createTextNode(r.name));
      legend.appendChild(item);
    });
  }

  function drawTotals(s) {
    byId('rps').textContent = fixed(s.totals.rps, 0);
    byId('eps').textContent = fixed(s.totals.eps, 1);
    var svg = byId('spark');
    clear(svg);
    var h = s.totals.history;
    if (h.length < 2) return;
    var max = Math.max.apply(null, h.map(function (p) { return p.rps; }).concat([1]));
    var points = h.map(function (p, k) { return (k * 300 / (h.length - 1)).toFixed(1) + ',' + (58 - p.rps / max * 54).toFixed(1); }).join(' ');
    svg.appendChild(node('polyline', { points: points, fill: 'none', stroke: '#1f6feb', 'stroke-width': 2 }, undefined, true));
  }

  function drawEvents(s) {
    var list = byId('events');
    clear(list);
    s.events.slice().reverse().forEach(function (e) {
      var time = new Date(e.at).toLocaleTimeString();
      list.appendChild(node('li', { 'data-event': e.type }, time + ' ' + e.type + ' ' + e.name + (e.detail ? ' (' + e.detail + ')' : '')));
    });
  }

  function render(s) {
    var colors = {};
    s.replicas.forEach(function (r) { colors[r.name] = colorOf(r.index); });
    byId('summary').textContent = s.replicas.length + ' replicas, ' + s.routing + (s.routing === 'ring' ? ' (' + s.hashFunction + ')' : '');
    drawRing(s, colors);
    drawReplicas(s, colors);
    drawTotals(s);
    drawEvents(s);
  }

  function admin(method, path, body) {
    var headers = { 'content-type': 'application/json' };
    var token = byId('token').value;
    if (token) headers.authorization = 'Bearer ' + token;
    byId('answer').textContent = method + ' ' + path + ' ...';
    return fetch(path, { method: method, headers: headers, body: JSON.stringify(body) })
      .then(function (res) { return res.text().then(function (text) { byId('answer').textContent = res.status + ' ' + text; }); })
      .catch(function (err) { byId('answer').textContent = 'request failed: ' + err.message; });
  }

  function names(id) { return byId(id).value.split(/[\\s,]+/).filter(Boolean); }
  byId('add-form').addEventListener('submit', function (e) {
    e.preventDefault();
    admin('POST', '/add', { n: Number(byId('add-n').value), hostnames: names('add-names') });
  });
  byId('rm-form').addEventListener('submit', function (e) {
    e.preventDefault();
    admin('DELETE', '/rm', { n: Number(byId('rm-n').value), hostnames: names('rm-names') });
  });

  var source = new EventSource('/dashboard/events');
  source.onopen = function () { byId('conn').textContent = 'live'; byId('conn').className = 'conn live'; };
  source.onerror = function () { byId('conn').textContent = 'reconnecting'; byId('conn').className = 'conn'; };
  source.onmessage = function (e) { render(JSON.parse(e.data)); };
})();
`;
