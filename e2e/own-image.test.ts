import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isolatedDocker } from '../kit/src/docker.js';
import { send, waitFor } from '../kit/src/lb.js';
import { freePort } from '../kit/src/net.js';

/** Names this run owns and removes. */
const id = `lbo${process.pid}`;
const image = `${id}-app:test`;

const docker = (...args: string[]) =>
  execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const engineUp = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

/** A service that is not this project's server: port 8080, health at /healthz (204), its own 404. */
const APP = `
const http = require('node:http');
const port = Number(process.env.PORT);
http.createServer((req, res) => {
  if (req.url === '/healthz') { res.writeHead(204); return res.end(); }
  if (req.url.startsWith('/who')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ name: process.env.SERVER_ID, greeting: process.env.GREETING, port }));
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not here\\n');
}).listen(port, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;

describe('your own image with the Docker driver (REPLICA_PORT, REPLICA_ENV, HEALTH_*, weights in labels)', {
  skip: !engineUp && 'no Docker engine',
}, () => {
  let lb: ReturnType<typeof isolatedDocker>;
  let dir = '';
  const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    send(lb.url, method, path, body, headers);
  const containerId = (name: string) => docker('inspect', '-f', '{{.Id}}', lb.container(name));

  before(async () => {
    // Built offline, in the test, from the same local base image as the project's own images.
    const base = execFileSync('scripts/base-image.sh', { encoding: 'utf8' }).trim();
    dir = await mkdtemp(join(tmpdir(), 'lb-own-image-'));
    await writeFile(join(dir, 'app.cjs'), APP);
    await writeFile(
      join(dir, 'Dockerfile'),
      `FROM ${base}\nCOPY app.cjs /app.cjs\nUSER 1000:1000\nCMD ["node", "/app.cjs"]\n`,
    );
    docker('build', '-q', '-t', image, dir);
    lb = isolatedDocker(id, await freePort(), {
      SERVER_IMAGE: image,
      REPLICA_PORT: '8080',
      REPLICA_ENV: 'GREETING=hello,PORT=1',
      HEALTH_PATH: '/healthz',
      HEALTH_STATUS: '204',
      UPSTREAM_404: 'pass',
      HASH_KEY: 'query:user',
      HEARTBEAT_INTERVAL_MS: '500',
      N: '3',
    });
    lb.make('up');
  });

  after(async () => {
    spawnSync('make', ['stop'], { env: lb.env, stdio: 'ignore' });
    spawnSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });

  it('routes to the service on its own port, with REPLICA_ENV and its name; its 404 passes through', async () => {
    const seen = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const answer = await call('GET', `/who?user=u${k}`);
      assert.equal(answer.status, 200, answer.text);
      const servedBy = answer.headers.get('x-served-by')!;
      // SERVER_ID and PORT are the LB's, whatever REPLICA_ENV says.
      assert.deepEqual(answer.json, { name: servedBy, greeting: 'hello', port: 8080 });
      seen.add(servedBy);
      const again = await call('GET', `/who?user=u${k}`);
      assert.equal(again.headers.get('x-served-by'), servedBy, 'the same key reaches the same replica');
    }
    assert.deepEqual([...seen].sort(), ['Server-1', 'Server-2', 'Server-3']);
    const missing = await call('GET', '/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, 'not here\n');
  });

  it('a weight-2 replica is labelled with it; docker kill: respawned with its name, index and weight', async () => {
    const added = await call('POST', '/add', { n: 1, hostnames: ['Big'], weight: 2 });
    assert.equal(added.status, 200, added.text);
    assert.equal(
      docker('inspect', '-f', '{{index .Config.Labels "io.consistent-hash-lb.weight"}}', lb.container('Big')),
      '2',
    );
    const old = containerId('Server-2');
    docker('kill', lb.container('Server-2'));
    await waitFor(
      'a new Server-2 container that answers',
      async () => {
        try {
          if (containerId('Server-2') === old) return undefined;
          const members = (await call('GET', '/membership')).json.members as { name: string }[];
          return members.some((m) => m.name === 'Server-2') ? true : undefined;
        } catch {
          return undefined;
        }
      },
      15_000,
    );
  });

  it('restarting the LB adopts every container: same ids, weights from the labels, no respawn', async () => {
    const names = ['Server-1', 'Server-2', 'Server-3', 'Big'];
    const before = names.map(containerId);
    docker('restart', `${id}-lb`);
    await waitFor(
      'the LB to come back with 4 members',
      async () => {
        try {
          return (await call('GET', '/membership')).json.members.length === 4 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    // Past MAX_FAIL_COUNT (3) heartbeats of 500 ms: a wrongly flatlined adoptee would be replaced by now.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(names.map(containerId), before);
    const members = (await call('GET', '/membership')).json.members as {
      name: string;
      index: number;
      weight: number;
    }[];
    assert.deepEqual(
      members.map((m) => [m.name, m.index, m.weight]),
      [
        ['Server-1', 1, 1],
        ['Server-2', 2, 1],
        ['Server-3', 3, 1],
        ['Big', 4, 2],
      ],
    );
    assert.doesNotMatch((await call('GET', '/metrics')).text, /^lb_respawns_total\{/m);
  });
});
