import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { runLoad } from '../../../kit/src/load.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('dashboard in a real browser', { skip: !existsSync(CHROMIUM) && `no browser at ${CHROMIUM}` }, () => {
  let lb: RunningLb;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    lb = await startLb({ HASH_FUNCTION: 'given', N: '3', HEARTBEAT_INTERVAL_MS: '300', MAX_FAIL_COUNT: '3' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${lb.url}/dashboard`);
  });

  after(async () => {
    await browser?.close();
    await lb?.stop();
  });

  it('loads with no console errors and shows Server-1..3 on the ring and in the table', async () => {
    await page.waitForSelector('[data-replica="Server-3"]');
    assert.deepEqual(
      await page.locator('#replicas tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-replica'))),
      ['Server-1', 'Server-2', 'Server-3'],
    );
    // 3 replicas x 9 virtual servers, each drawn on the ring.
    assert.equal(await page.locator('#ring [data-vs]').count(), 27);
    assert.equal(await page.locator('#ring [data-vs="Server-1"]').count(), 9);
    assert.equal(await page.locator('#conn').textContent(), 'live');
    assert.deepEqual(consoleErrors, []);
  });

  it('a replica added through the page appears, and the answer is shown', async () => {
    await page.fill('#add-n', '1');
    await page.fill('#add-names', 'S9');
    await page.click('#add-form button[type=submit]');
    await page.waitForSelector('[data-replica="S9"]');
    assert.match(
      (await page.locator('#answer').textContent())!,
      /^200 \{"message":\{"N":4,"replicas":\["Server-1","Server-2","Server-3","S9"\]\}/,
    );
    assert.equal(await page.locator('#ring [data-vs="S9"]').count(), 9);
    assert.equal(await page.locator('#events [data-event="added"]', { hasText: 'S9' }).count(), 1);
  });

  it('Preview shows the arcs of the key space an /add would move, as the plan says, and adds nothing', async () => {
    await page.fill('#add-n', '1');
    await page.fill('#add-names', 'S10');
    await page.click('#add-preview');
    await page.waitForFunction(() => document.querySelector('#plan')?.textContent?.startsWith('would move'));
    const plan = (await lb.call('POST', '/membership/plan', { op: 'add', n: 1, hostnames: ['S10'] })).json.message;
    assert.equal(
      await page.locator('#plan').textContent(),
      `would move ${(plan.movedRatio * 100).toFixed(1)}% of the key space in ${plan.moved.length} ranges; imbalance after ${plan.imbalance.toFixed(2)}`,
    );
    // Drawn again with every push of the page's event stream: still there after one.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(
      await page.locator('#ring [data-moved]').evaluateAll((arcs) => arcs.map((a) => a.getAttribute('data-moved'))),
      plan.moved.map((r: { from: number; to: number }) => `${r.from}-${r.to}`),
    );
    assert.equal(await page.locator('#replicas tr').count(), 4, 'a preview adds nothing');
    await page.fill('#add-names', 'S9');
    await page.click('#add-preview');
    await page.waitForFunction(() => document.querySelector('#plan')?.textContent?.includes('already exists'));
    assert.equal(await page.locator('#ring [data-moved]').count(), 0, 'a refused plan draws nothing');
    // The browser logs the refused call's 400 itself; it is the only error the page met.
    assert.deepEqual(consoleErrors.splice(0), [
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
  });

  it('an error from the LB is shown, and nothing changes', async () => {
    await page.fill('#add-n', '1');
    await page.fill('#add-names', 'S9');
    await page.click('#add-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#answer')?.textContent?.startsWith('400'));
    assert.match((await page.locator('#answer').textContent())!, /Hostname 'S9' already exists/);
    assert.equal(await page.locator('#replicas tr').count(), 4);
    // The browser logs the refused call itself; that one is expected.
    assert.deepEqual(consoleErrors.splice(0), [
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
  });

  it('a killed replica goes failing -> respawning -> healthy on the page', async () => {
    // Record every state the page shows for Server-2.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      new MutationObserver(() => {
        const text = document.querySelector('[data-replica="Server-2"] .state')?.textContent ?? '';
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      }).observe(document.querySelector('#replicas')!, { childList: true, subtree: true, characterData: true });
    });
    const load = runLoad({ url: lb.url, requests: 3000, concurrency: 10 });
    process.kill(lb.pid('Server-2'), 'SIGKILL');
    await page.waitForFunction(() => (window as unknown as { seen: string[] }).seen.includes('respawning'), undefined, {
      timeout: 10_000,
    });
    await page.waitForFunction(
      () => document.querySelector('[data-replica="Server-2"] .state')?.textContent === 'healthy',
      undefined,
      { timeout: 10_000 },
    );
    await load;
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const failing = seen.findIndex((s) => s.startsWith('failing'));
    const respawning = seen.indexOf('respawning');
    assert.ok(failing >= 0 && respawning > failing && seen.lastIndexOf('healthy') > respawning, seen.join(' -> '));
    assert.equal(await page.locator('#events [data-event="respawned"]', { hasText: 'Server-2' }).count(), 1);
    assert.deepEqual(consoleErrors, []);
    await page.waitForFunction(() => Number(document.querySelector('#rps')?.textContent) >= 0);
    // The traffic chart has its axes and their labels, and a line once a second has passed.
    assert.equal(await page.locator('#spark line').count(), 2);
    const [top, ...labels] = await page.locator('#spark text').allTextContents();
    assert.match(top ?? '', /^[125]0*$/, 'the top of the req/s axis is a round number');
    assert.deepEqual(labels, ['0', '60 s ago', 'now', 'req/s']);
    assert.equal(await page.locator('#spark polyline').count(), 1);
    // The tracked picture in plots/ is written when asked (npm run plots), not by every test run.
    if (process.env.DASHBOARD_SCREENSHOT)
      await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
  });
});
