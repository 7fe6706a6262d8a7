import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { type SpawnedLb, send, spawnLb, waitFor } from '../../../kit/src/lb.js';
import { wrk } from '../../../kit/src/wrk.js';
import { modelOwner } from '../helpers/ring.js';

/** A tunnel with two keys: `?room=` (the first HASH_KEY) and the `sid` cookie (the second). */
interface Tunnel {
  readonly room: string;
  readonly sid: string;
  readonly ws: WebSocket;
  readonly server: string;
  closedAt: number | undefined;
  readonly messages: string[];
}

async function openTunnel(url: string, k: number): Promise<Tunnel> {
  const room = `room-${k}`;
  const sid = `sid-${k}`;
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?room=${room}`, { headers: { cookie: `sid=${sid}` } });
  const messages: string[] = [];
  ws.on('message', (data: Buffer) => messages.push(data.toString()));
  await once(ws, 'open');
  await waitFor('the replica to name itself', () => messages[0], 5000);
  const tunnel: Tunnel = { room, sid, ws, server: JSON.parse(messages[0]!).server, closedAt: undefined, messages };
  ws.on('close', () => (tunnel.closedAt = Date.now()));
  return tunnel;
}

/** Each tunnel echoes a line of its own. */
async function echoes(tunnels: readonly Tunnel[]): Promise<void> {
  await Promise.all(
    tunnels.map(async (tunnel) => {
      const line = `still ${tunnel.room}`;
      tunnel.ws.send(line);
      await waitFor(`${tunnel.room} to echo`, () => (tunnel.messages.includes(line) ? true : undefined), 5000);
    }),
  );
}

const metric = async (url: string, name: string) => {
  const text = (await send(url, 'GET', '/metrics')).text;
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};

describe('reload under load: LB_WORKERS=2, 200 open tunnels, wrk running', () => {
  let dir: string;
  let file: string;
  let lb: SpawnedLb;
  const settings = (lines: string[]) => writeFileSync(file, `${lines.join('\n')}\n`);
  /** SIGHUP, then wait until the controller and both workers apply `version`. */
  const reloadTo = async (version: number) => {
    process.kill(lb.pid, 'SIGHUP');
    await waitFor(
      `both workers on version ${version}`,
      async () => ((await metric(lb.url, 'lb_data_plane_config_version')) === version ? true : undefined),
      10_000,
    );
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lb-reload-'));
    file = join(dir, 'lb.yaml');
    settings(['hashKey: query:room', 'rehomeGraceMs: 300', 'upstreamTimeoutMs: 10000']);
    lb = await spawnLb({ N: '3', LB_WORKERS: '2', LB_CONFIG: file, STOP_TIMEOUT_MS: '1000' });
  });
  after(async () => {
    await lb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new timeout and bounded-load factor: nothing closes, nothing fails; a new HASH_KEY: exactly the tunnels whose key moved close; a bad file: nothing changes', {
    timeout: 90_000,
  }, async () => {
    const port = Number(new URL(lb.url).port);
    const members = await lb.members();
    assert.equal(members.length, 3);
    const tunnels = await Promise.all(Array.from({ length: 200 }, (_, k) => openTunnel(lb.url, k)));
    for (const tunnel of tunnels) assert.equal(tunnel.server, modelOwner(members, tunnel.room), tunnel.room);
    const load = wrk(port, 8, 8);
    await new Promise((r) => setTimeout(r, 1000));

    // Timeouts and bounded loads move no key: no tunnel closes.
    settings(['hashKey: query:room', 'rehomeGraceMs: 300', 'upstreamTimeoutMs: 4000', 'hashBalanceFactor: 1.5']);
    await reloadTo(2);
    const config = (await send(lb.url, 'GET', '/config')).json.message;
    assert.equal(config.version, 2);
    assert.deepEqual([config.settings.upstreamTimeoutMs, config.settings.hashBalanceFactor], [4000, 1.5]);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(
      tunnels.filter((t) => t.closedAt !== undefined).map((t) => t.room),
      [],
      'no tunnel closed on a reload that moves no key',
    );

    // A new HASH_KEY: the key of each tunnel is its sid now; those whose owner changed close.
    const moved = new Set(
      tunnels.filter((t) => modelOwner(members, t.sid) !== modelOwner(members, t.room)).map((t) => t.room),
    );
    assert.ok(moved.size > 50 && moved.size < 190, `${moved.size} of 200 keys moved`);
    settings(['hashKey: cookie:sid', 'rehomeGraceMs: 300', 'upstreamTimeoutMs: 4000', 'hashBalanceFactor: 1.5']);
    await reloadTo(3);
    await new Promise((r) => setTimeout(r, 1500)); // past REHOME_GRACE_MS
    const closed = tunnels.filter((t) => t.closedAt !== undefined).map((t) => t.room);
    assert.deepEqual(closed.sort(), [...moved].sort(), 'exactly the tunnels whose key moved closed');
    const kept = tunnels.filter((t) => !moved.has(t.room));
    await echoes(kept);

    // A bad file: refused with every reason, the old configuration kept, nothing dropped.
    settings(['hashKey: [cookie:sid, nope]', 'upstreamTimeoutMs: fast', 'hash_fucntion: given']);
    process.kill(lb.pid, 'SIGHUP');
    await waitFor(
      'the refused reload counted',
      async () => ((await metric(lb.url, 'lb_config_reload_failures_total')) === 1 ? true : undefined),
      5000,
    );
    const refused = await send(lb.url, 'POST', '/config/reload');
    assert.equal(refused.status, 400);
    assert.equal(
      refused.json.message,
      "<Error> Configuration not reloaded, nothing changed: lb.yaml: unknown setting 'hash_fucntion' (did you mean 'hashFunction'?); lb.yaml: hashKey: unknown key source 'nope': use request-id, header:NAME, cookie:NAME, query:NAME, path, segment:N or client-ip; lb.yaml: upstreamTimeoutMs must be an integer in 1..3600000 (got 'fast')",
    );
    const still = (await send(lb.url, 'GET', '/config')).json.message;
    assert.equal(still.version, 3);
    assert.deepEqual(still.settings.hashKey, ['cookie:sid']);
    assert.equal(await metric(lb.url, 'lb_config_reload_failures_total'), 2);
    assert.equal(await metric(lb.url, 'lb_data_plane_config_version'), 3);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(tunnels.filter((t) => t.closedAt !== undefined).length, moved.size, 'a refused reload closes nothing');
    await echoes(kept);
    for (const t of kept) t.ws.close();

    const summary = await load;
    console.log(`# reloads under wrk: ${JSON.stringify(summary)}; ${moved.size} of 200 tunnels re-homed`);
    assert.ok(summary.requests > 1000, 'wrk ran');
    assert.equal(summary.non2xx, 0, 'no request failed');
    assert.equal(summary.connect + summary.read + summary.write + summary.timeout, 0, 'no connection failed');
    assert.match(lb.output(), /"errors":\["lb.yaml: unknown setting 'hash_fucntion'/);
  });
});
