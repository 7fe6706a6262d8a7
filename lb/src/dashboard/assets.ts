import { readFile } from 'node:fs/promises';

/** The dashboard's page, script and stylesheet, as served. */
export interface DashboardAssets {
  readonly html: string;
  readonly js: string;
  readonly css: string;
}

/**
 * Built by scripts/build.mjs from lb/src/dashboard/browser/ (index.html, app.ts, app.css). In the
 * one-file bundle this module is replaced by one that holds them inline, so the image carries them
 * and nothing is fetched from anywhere but the LB; run from source (tsx), they are read from the
 * build's dist/dashboard/ (`npm run build`, which `npm start` and the test scripts run first).
 */
export async function loadDashboardAssets(): Promise<DashboardAssets> {
  const dir = new URL('../../../dist/dashboard/', import.meta.url);
  const read = (file: string) => readFile(new URL(file, dir), 'utf8');
  const [html, js, css] = await Promise.all([read('index.html'), read('app.js'), read('app.css')]);
  return { html, js, css };
}
