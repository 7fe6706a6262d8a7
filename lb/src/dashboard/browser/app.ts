// The dashboard's script, in the browser: draws each snapshot the event stream pushes, and sends
// /add and /rm from its forms. Built by scripts/build.mjs into one classic script (no modules, no
// dependencies), type-checked with lb/src/dashboard/browser/tsconfig.json (DOM types).
import type { DashboardSnapshot } from '../snapshot.js';

type Replica = DashboardSnapshot['replicas'][number];
type Colors = Record<string, string>;

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#e07b00',
  '#0f8b9c',
  '#8c564b',
  '#c2378f',
  '#5c6670',
  '#7c8a00',
];
const SVG = 'http://www.w3.org/2000/svg';
const RADIUS = 130;

function byId<T extends Element = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as unknown as T;
}

const colorOf = (index: number): string => PALETTE[(index - 1) % PALETTE.length]!;

/** An element (SVG when `svg`) with attributes and, when given, text. */
function node(tag: string, attrs: Record<string, string | number> = {}, text?: string, svg = false): Element {
  const element = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function swatch(color: string | undefined): HTMLElement {
  const element = node('span', { class: 'swatch', 'aria-hidden': 'true' }) as HTMLElement;
  element.style.background = color ?? '#999'; // CSSOM, not a style attribute: allowed by the page's CSP
  return element;
}

function clear(element: Element): void {
  while (element.firstChild) element.removeChild(element.firstChild);
}

const fixed = (x: number | null | undefined, digits: number): string =>
  x === null || x === undefined ? '-' : Number(x).toFixed(digits);

/** The point of the circle at `angle`, as SVG coordinates. */
const point = (angle: number): [string, string] => [
  (RADIUS * Math.cos(angle)).toFixed(1),
  (RADIUS * Math.sin(angle)).toFixed(1),
];
const at = (angle: number): string => point(angle).join(' ');

function drawRing(s: DashboardSnapshot, colors: Colors): void {
  const svg = byId<SVGSVGElement>('ring');
  clear(svg);
  svg.appendChild(node('circle', { r: RADIUS, fill: 'none', stroke: '#d5dae1', 'stroke-width': 10 }, undefined, true));
  const { layout } = s;
  if (layout.kind === 'ring') {
    for (const v of layout.virtualServers) {
      const angle = (v.slot / layout.slots) * 2 * Math.PI - Math.PI / 2;
      const [cx, cy] = point(angle);
      const dot = node(
        'circle',
        {
          cx,
          cy,
          r: 6,
          fill: colors[v.replica] ?? '#999',
          stroke: '#fff',
          'stroke-width': 1,
          'data-vs': v.replica,
          'data-slot': v.slot,
        },
        undefined,
        true,
      );
      dot.appendChild(node('title', {}, `${v.replica} at slot ${v.slot}`, true));
      svg.appendChild(dot);
    }
    const label = { 'text-anchor': 'middle', 'font-size': 14, fill: '#1b1f24', y: -4 };
    svg.appendChild(node('text', label, `${layout.slots} slots`, true));
    const detail = { 'text-anchor': 'middle', 'font-size': 12, fill: '#4a5360', y: 16 };
    svg.appendChild(node('text', detail, `${s.hashFunction}, K = ${s.virtualServersPerReplica}`, true));
    return;
  }
  const total = layout.tableSize;
  let start = -Math.PI / 2;
  for (const [name, entries] of Object.entries(layout.entries)) {
    const share = entries / total;
    const end = start + share * 2 * Math.PI;
    const d = `M ${at(start)} A ${RADIUS} ${RADIUS} 0 ${share > 0.5 ? 1 : 0} 1 ${at(end)}`;
    const arc = node(
      'path',
      { d, fill: 'none', stroke: colors[name] ?? '#999', 'stroke-width': 22, 'data-share': name },
      undefined,
      true,
    );
    arc.appendChild(node('title', {}, `${name}: ${(share * 100).toFixed(2)}% of the Maglev table`, true));
    svg.appendChild(arc);
    start = end;
  }
  const label = { 'text-anchor': 'middle', 'font-size': 14, fill: '#1b1f24', y: 4 };
  svg.appendChild(node('text', label, `Maglev, M = ${total}`, true));
}

function replicaRow(s: DashboardSnapshot, r: Replica, colors: Colors): Element {
  const row = node('tr', { 'data-replica': r.name });
  const name = node('td');
  name.appendChild(swatch(colors[r.name]));
  name.appendChild(document.createTextNode(r.name));
  row.appendChild(name);
  row.appendChild(node('td', {}, String(r.index)));
  row.appendChild(node('td', {}, String(r.weight)));
  const state = r.state === 'failing' ? `failing ${r.failures}/${s.maxFailCount}` : r.state;
  row.appendChild(node('td', { class: `state state-${r.state}` }, state + (r.ejected ? ' (ejected: 5xx)' : '')));
  row.appendChild(node('td', {}, fixed(r.rps, 1)));
  row.appendChild(node('td', {}, String(r.errors)));
  row.appendChild(node('td', {}, fixed(r.p50, 2)));
  row.appendChild(node('td', {}, fixed(r.p99, 2)));
  row.appendChild(node('td', {}, `${r.uptimeSeconds} s`));
  row.appendChild(node('td', {}, String(r.respawns)));
  row.appendChild(node('td', {}, String(r.tunnels)));
  row.appendChild(node('td', {}, String(r.streams)));
  const cell = node('td');
  const remove = node('button', { class: 'small', type: 'button', 'aria-label': `Remove ${r.name}` }, 'Remove');
  remove.addEventListener('click', () => void admin('DELETE', '/rm', { n: 1, hostnames: [r.name] }));
  cell.appendChild(remove);
  row.appendChild(cell);
  return row;
}

function drawReplicas(s: DashboardSnapshot, colors: Colors): void {
  const body = byId('replicas');
  const legend = byId('legend');
  clear(body);
  clear(legend);
  for (const r of s.replicas) {
    body.appendChild(replicaRow(s, r, colors));
    const item = node('span');
    item.appendChild(swatch(colors[r.name]));
    item.appendChild(document.createTextNode(r.name));
    legend.appendChild(item);
  }
}

/** The traffic chart's plot area inside its 320 x 80 viewBox: room on the left and below for the axes' labels. */
const PLOT = { left: 40, right: 314, top: 6, bottom: 62 };

function drawTotals(s: DashboardSnapshot): void {
  byId('rps').textContent = fixed(s.totals.rps, 0);
  byId('eps').textContent = fixed(s.totals.eps, 1);
  byId('clients-h1').textContent = String(s.clients.h1);
  byId('clients-h2').textContent = String(s.clients.h2);
  const svg = byId<SVGSVGElement>('spark');
  clear(svg);
  const history = s.totals.history;
  const max = niceCeiling(Math.max(1, ...history.map((p) => p.rps)));
  drawAxes(svg, max);
  if (history.length === 0) return;
  // The last 60 s, newest at the right; one point a second (a single point is a flat line).
  const x = (k: number) => PLOT.right - ((history.length - 1 - k) * (PLOT.right - PLOT.left)) / 59;
  const y = (rps: number) => PLOT.bottom - (rps / max) * (PLOT.bottom - PLOT.top);
  const points = history.map((p, k) => `${x(k).toFixed(1)},${y(p.rps).toFixed(1)}`);
  if (points.length === 1) points.unshift(`${PLOT.left},${y(history[0]!.rps).toFixed(1)}`);
  const line = { points: points.join(' '), fill: 'none', stroke: '#1f6feb', 'stroke-width': 2 };
  svg.appendChild(node('polyline', line, undefined, true));
}

/** Axes of the traffic chart: req/s from 0 to `max` on the left, the last 60 s below. */
function drawAxes(svg: SVGSVGElement, max: number): void {
  const axis = { stroke: '#8c959f', 'stroke-width': 1 };
  svg.appendChild(
    node('line', { ...axis, x1: PLOT.left, y1: PLOT.top, x2: PLOT.left, y2: PLOT.bottom }, undefined, true),
  );
  svg.appendChild(
    node('line', { ...axis, x1: PLOT.left, y1: PLOT.bottom, x2: PLOT.right, y2: PLOT.bottom }, undefined, true),
  );
  const label = { 'font-size': 9, fill: '#57606a' };
  const right = { ...label, 'text-anchor': 'end' };
  svg.appendChild(node('text', { ...right, x: PLOT.left - 4, y: PLOT.top + 6 }, String(max), true));
  svg.appendChild(node('text', { ...right, x: PLOT.left - 4, y: PLOT.bottom }, '0', true));
  svg.appendChild(node('text', { ...label, x: PLOT.left, y: PLOT.bottom + 12 }, '60 s ago', true));
  svg.appendChild(node('text', { ...right, x: PLOT.right, y: PLOT.bottom + 12 }, 'now', true));
  svg.appendChild(node('text', { ...label, x: 2, y: (PLOT.top + PLOT.bottom) / 2 + 3 }, 'req/s', true));
}

/** 1, 2 or 5 times a power of ten, at least `value`: a round top for the axis. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= value)!;
}

function drawEvents(s: DashboardSnapshot): void {
  const list = byId('events');
  clear(list);
  for (const e of [...s.events].reverse()) {
    const time = new Date(e.at).toLocaleTimeString();
    const detail = e.detail ? ` (${e.detail})` : '';
    list.appendChild(node('li', { 'data-event': e.type }, `${time} ${e.type} ${e.name}${detail}`));
  }
}

function render(s: DashboardSnapshot): void {
  shown = s;
  const colors: Colors = {};
  for (const r of s.replicas) colors[r.name] = colorOf(r.index);
  const routing = s.routing === 'ring' ? ` (${s.hashFunction})` : '';
  byId('summary').textContent = `${s.replicas.length} replicas, ${s.routing}${routing}`;
  drawRing(s, colors);
  drawPlan(s, colors);
  drawReplicas(s, colors);
  drawTotals(s);
  drawEvents(s);
}

/** A previewed change (POST /membership/plan): the ranges of the key space it would move. */
interface PlanView {
  readonly moved: readonly { from: number; to: number; was: string | null; now: string | null }[];
  readonly movedRatio: number;
  readonly imbalance: number;
}
let plan: PlanView | undefined;
/** The last snapshot drawn: a preview draws it again with (or without) its arcs. */
let shown: DashboardSnapshot | undefined;
/** A replica the plan would add has no color yet. */
const NEW_REPLICA = '#e8590c';

/** The previewed plan's moved ranges, as arcs just outside the ring in the color of their new owner. */
function drawPlan(s: DashboardSnapshot, colors: Colors): void {
  if (plan === undefined) return;
  const svg = byId<SVGSVGElement>('ring');
  const positions = s.layout.kind === 'ring' ? s.layout.slots : s.layout.tableSize;
  const angle = (position: number) => (position / positions) * 2 * Math.PI - Math.PI / 2;
  const outer = RADIUS + 16;
  const edge = (a: number) => `${(outer * Math.cos(a)).toFixed(1)} ${(outer * Math.sin(a)).toFixed(1)}`;
  for (const range of plan.moved) {
    const span = range.from <= range.to ? range.to - range.from + 1 : positions - range.from + range.to + 1;
    const [start, end] = [angle(range.from), angle(range.from) + (span / positions) * 2 * Math.PI];
    const large = span / positions > 0.5 ? 1 : 0;
    const color = (range.now && colors[range.now]) || NEW_REPLICA;
    const arc = node(
      'path',
      {
        d: `M ${edge(start)} A ${outer} ${outer} 0 ${large} 1 ${edge(end)}`,
        fill: 'none',
        stroke: color,
        'stroke-width': 8,
        'data-moved': `${range.from}-${range.to}`,
      },
      undefined,
      true,
    );
    arc.appendChild(
      node('title', {}, `slots ${range.from}..${range.to}: ${range.was ?? 'none'} -> ${range.now ?? 'none'}`, true),
    );
    svg.appendChild(arc);
  }
}

/** Previews an /add or /rm: its moved arcs on the ring until the next change is made or previewed. */
async function preview(body: Record<string, unknown>): Promise<void> {
  const summary = byId('plan');
  try {
    const res = await fetch('/membership/plan', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { message: PlanView | string };
    if (!res.ok || typeof answer.message === 'string') {
      plan = undefined;
      if (shown) render(shown);
      summary.textContent = `${res.status} ${String(answer.message)}`;
      return;
    }
    plan = answer.message;
    if (shown) render(shown);
    summary.textContent = `would move ${(plan.movedRatio * 100).toFixed(1)}% of the key space in ${plan.moved.length} ranges; imbalance after ${plan.imbalance.toFixed(2)}`;
  } catch (error) {
    summary.textContent = `preview failed: ${(error as Error).message}`;
  }
}

/** An admin call; its status and answer are shown as they come. */
async function admin(method: string, path: string, body: unknown): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = byId<HTMLInputElement>('token').value;
  if (token) headers.authorization = `Bearer ${token}`;
  const answer = byId('answer');
  answer.textContent = `${method} ${path} ...`;
  try {
    const res = await fetch(path, { method, headers, body: JSON.stringify(body) });
    answer.textContent = `${res.status} ${await res.text()}`;
  } catch (error) {
    answer.textContent = `request failed: ${(error as Error).message}`;
  }
}

const names = (id: string): string[] =>
  byId<HTMLInputElement>(id)
    .value.split(/[\s,]+/)
    .filter(Boolean);
const count = (id: string): number => Number(byId<HTMLInputElement>(id).value);

byId('add-preview').addEventListener('click', () => {
  void preview({ op: 'add', n: count('add-n'), hostnames: names('add-names'), weight: count('add-weight') });
});
byId('rm-preview').addEventListener('click', () => {
  void preview({ op: 'rm', n: count('rm-n'), hostnames: names('rm-names') });
});
byId('add-form').addEventListener('submit', (e) => {
  e.preventDefault();
  plan = undefined;
  byId('plan').textContent = '';
  void admin('POST', '/add', { n: count('add-n'), hostnames: names('add-names'), weight: count('add-weight') });
});
byId('rm-form').addEventListener('submit', (e) => {
  e.preventDefault();
  plan = undefined;
  byId('plan').textContent = '';
  void admin('DELETE', '/rm', { n: count('rm-n'), hostnames: names('rm-names') });
});

const connection = byId('conn');
const source = new EventSource('/dashboard/events');
source.onopen = () => {
  connection.textContent = 'live';
  connection.className = 'conn live';
};
source.onerror = () => {
  connection.textContent = 'reconnecting';
  connection.className = 'conn';
};
source.onmessage = (e: MessageEvent<string>) => render(JSON.parse(e.data) as DashboardSnapshot);
