import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec headless to SVG text. */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG to PNG with the system fonts (DejaVu on Debian), white background, 2x for sharpness. */
export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** Writes `<dir>/<name>.svg` and `.png`; returns their paths. */
export async function writeChart(dir: string, name: string, spec: TopLevelSpec): Promise<{ svg: string; png: string }> {
  const svg = await toSvg(spec);
  const paths = { svg: join(dir, `${name}.svg`), png: join(dir, `${name}.png`) };
  await writeFile(paths.svg, svg);
  await writeFile(paths.png, svgToPng(svg));
  return paths;
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  width: 520,
  height: 300,
  config: { font: 'DejaVu Sans' },
} as const;

/** Bars of measured requests per replica, with the ring model's expectation as ticks. */
export function barChart(title: string, rows: { replica: string; requests: number; expected: number }[]): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          x: { field: 'replica', type: 'nominal', title: 'Replica', sort: null, axis: { labelAngle: 0 } },
          y: { field: 'requests', type: 'quantitative', title: 'Requests handled (of 10,000)' },
        },
      },
      {
        mark: { type: 'tick', color: '#e45756', thickness: 3, size: 40 },
        encoding: {
          x: { field: 'replica', type: 'nominal', sort: null },
          y: { field: 'expected', type: 'quantitative' },
        },
      },
      {
        mark: { type: 'text', dy: -8 },
        encoding: {
          x: { field: 'replica', type: 'nominal', sort: null },
          y: { field: 'requests', type: 'quantitative' },
          text: { field: 'requests', type: 'quantitative' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Lines of `value` against `x`, one per `series`. */
export function lineChart(
  title: string,
  rows: { x: number; value: number; series: string }[],
  axes: { x: string; y: string; series: string },
): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: axes.x, axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: axes.y },
      color: { field: 'series', type: 'nominal', title: axes.series },
      strokeDash: { field: 'series', type: 'nominal', title: axes.series },
    },
  } as TopLevelSpec;
}

/** Stacked areas of requests per replica per time bucket, with a rule at an event. */
export function timelineChart(
  title: string,
  rows: { t: number; replica: string; requests: number }[],
  events: { t: number; label: string }[],
  bucketMs: number,
): TopLevelSpec {
  return {
    ...base,
    width: 640,
    title,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'area', interpolate: 'step-after', opacity: 0.85 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'Time since load started (s)' },
          y: { field: 'requests', type: 'quantitative', stack: 'zero', title: `Requests answered per ${bucketMs} ms` },
          color: { field: 'replica', type: 'nominal', title: 'Served by' },
        },
      },
      {
        data: { values: events },
        mark: { type: 'rule', color: 'black', strokeDash: [4, 3] },
        encoding: { x: { field: 't', type: 'quantitative' } },
      },
      // The first event's label sits left of its line, later ones right, so close events stay readable.
      {
        data: { values: events.slice(0, 1) },
        mark: { type: 'text', align: 'right', dx: -4, y: 12, fontSize: 11 },
        encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'label', type: 'nominal' } },
      },
      {
        data: { values: events.slice(1) },
        mark: { type: 'text', align: 'left', dx: 4, y: 12, fontSize: 11 },
        encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'label', type: 'nominal' } },
      },
    ],
  } as TopLevelSpec;
}

/** One bar per label, value printed on top. */
export function valueBarChart(
  title: string,
  rows: { label: string; value: number }[],
  axes: { x: string; y: string },
): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: rows },
    encoding: {
      x: { field: 'label', type: 'nominal', title: axes.x, sort: null, axis: { labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', title: axes.y },
    },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8' } },
      { mark: { type: 'text', dy: -8 }, encoding: { text: { field: 'value', type: 'quantitative', format: ',.0f' } } },
    ],
  } as TopLevelSpec;
}
