import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isolatedDocker } from '../kit/src/docker.js';
import { send, waitFor } from '../kit/src/lb.js';
import { runLoad } from '../kit/src/load.js';
import { freePort } from '../kit/src/net.js';
import { given, Ring } from '../lb/src/routing/index.js';

/** Names this run owns and removes: its LB id, network, container prefix and compose project. */
const id = `lbt${process.pid}`;
const prefix = `${id}-`;
const foreign = `${prefix}foreign`;

const docker = (...args: string[]) =>
  execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const lines = (text: string) => text.split('\n').filter(Boolean);
const containersOf = () => lines(docker('ps', '-aq', '--filter', `label=io.consistent-hash-lb.owner=${id}`));
const containerId = (name: string) => docker('inspect', '-f', '{{.Id}}', `${prefix}${name}`);
const isRunning = (name: string) => {
  try {
    return docker('inspect', '-f', '{{.State.Running}}', name) === 'true';
  } catch {
    return false;
  }
};

const engineUp = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

describe('Docker end to end (make up, containers, make stop)', { skip: !engineUp && 'no Docker engine' }, () => {
  let lb: ReturnType<typeof isolatedDocker>;
  let url = '';
  const make = (target: string) => lb.make(target);
  const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    send(url, method, path, body, headers);
  const model = (names: string[]) =>
    Ring.of(
      { slots: 512, virtualServers: 9, hash: given },
      names.map((name, k) => ({ index: k + 1, name })),
    );

  before(async () => {
    lb = isolatedDocker(id, await freePort(), { HASH_FUNCTION: 'given', HEARTBEAT_INTERVAL_MS: '500', N: '3' });
    url = lb.url;
    make('up');
  });

  after(() => {
    spawnSync('docker', ['rm', '-f', foreign], { stdio: 'ignore' });
    spawnSync('make', ['stop'], { env: lb.env, stdio: 'ignore' });
  });

  it('make up starts Server-1..3 as labelled, running containers', async () => {
    const rep = await call('GET', '/rep');
    assert.deepEqual(rep.json, {
      message: { N: 3, replicas: ['Server-1', 'Server-2', 'Server-3'] },
      status: 'successful',
    });
    for (const name of ['Server-1', 'Server-2', 'Server-3']) {
      assert.ok(isRunning(`${prefix}${name}`), name);
      const labels = JSON.parse(docker('inspect', '-f', '{{json .Config.Labels}}', `${prefix}${name}`));
      assert.equal(labels['io.consistent-hash-lb.owner'], id);
      assert.equal(labels['io.consistent-hash-lb.name'], name);
    }
    assert.equal(containersOf().length, 4); // three replicas and the LB
  });

  it('routes fixed ids to the replica the ring module names', async () => {
    const ring = model(['Server-1', 'Server-2', 'Server-3']);
    for (const rid of [1, 42, 100000, 123456, 271828, 500000, 999999, 31337, 654321, 2 ** 35]) {
      const res = await call('GET', '/home', undefined, { 'x-request-id': String(rid) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-served-by'), ring.lookup(rid)!.name, `id ${rid}`);
      assert.equal(res.json.message, `Hello from Server: ${ring.lookup(rid)!.name}`);
    }
    const missing = await call('GET', '/nothing');
    assert.equal(missing.status, 400);
    assert.equal(missing.json.message, "<Error> '/nothing' endpoint does not exist in server replicas");
  });

  it('docker kill Server-2 under load: no failed GET, and a new Server-2 container serves within 10 s', async () => {
    const ring = model(['Server-1', 'Server-2', 'Server-3']);
    const toServer2 = [...Array(2000).keys()].find((k) => ring.lookup(k + 100000)!.name === 'Server-2')! + 100000;
    const before = containerId('Server-2');
    const load = runLoad({ url, requests: 3000, concurrency: 20, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    docker('kill', `${prefix}Server-2`);
    const killedAt = Date.now();
    await waitFor(
      'a new Server-2 to answer',
      async () => {
        const res = await call('GET', '/home', undefined, { 'x-request-id': String(toServer2) });
        return res.headers.get('x-served-by') === 'Server-2' && res.status === 200 ? true : undefined;
      },
      10_000,
    );
    const after = containerId('Server-2');
    assert.notEqual(after, before);
    const summary = await load;
    assert.equal(summary.failed, 0, `${summary.failed} of ${summary.requests} requests failed`);
    assert.ok(Date.now() - killedAt < 10_000);
    assert.equal((await call('GET', '/rep')).json.message.N, 3);
  });

  it('/add and /rm create and remove containers', async () => {
    const added = await call('POST', '/add', { n: 2, hostnames: ['S5'] });
    assert.deepEqual(added.json.message, { N: 5, replicas: ['Server-1', 'Server-2', 'Server-3', 'S5', 'Server-4'] });
    assert.ok(isRunning(`${prefix}S5`) && isRunning(`${prefix}Server-4`));
    const res = await call('GET', '/home', undefined, { 'x-request-id': '7' });
    assert.equal(
      res.headers.get('x-served-by'),
      model(['Server-1', 'Server-2', 'Server-3', 'S5', 'Server-4']).lookup(7)!.name,
    );
    const removed = await call('DELETE', '/rm', { n: 2, hostnames: ['S5', 'Server-4'] });
    assert.deepEqual(removed.json.message, { N: 3, replicas: ['Server-1', 'Server-2', 'Server-3'] });
    assert.equal(isRunning(`${prefix}S5`), false);
    assert.equal(isRunning(`${prefix}Server-4`), false);
    assert.equal(containersOf().length, 4);
  });

  it('a container the LB does not own is never removed or reused', async () => {
    docker('run', '-d', '--name', foreign, '--network', `${id}-net`, '-e', 'SERVER_ID=foreign', 'lb-server');
    const rm = await call('DELETE', '/rm', { n: 1, hostnames: ['foreign'] });
    assert.equal(rm.status, 400);
    assert.equal(rm.json.message, "<Error> Hostname 'foreign' is not a replica of this load balancer");
    const add = await call('POST', '/add', { n: 1, hostnames: ['foreign'] });
    assert.equal(add.status, 400);
    assert.equal(
      add.json.message,
      "<Error> Hostname 'foreign' cannot be used: a container this load balancer does not manage already has that name",
    );
    assert.ok(isRunning(foreign));
    assert.equal((await call('GET', '/rep')).json.message.N, 3);
  });

  it('restarting the LB container adopts every replica and keeps it: same containers past MAX_FAIL_COUNT heartbeats, no respawn', async () => {
    const before = ['Server-1', 'Server-2', 'Server-3'].map(containerId);
    const restartedAt = Math.floor(Date.now() / 1000);
    docker('restart', `${id}-lb`);
    await waitFor(
      'the LB to come back',
      async () => {
        try {
          return (await call('GET', '/rep')).json.message.N === 3 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    // A wrongly flatlined adoptee is replaced after MAX_FAIL_COUNT (3) heartbeats of 500 ms: wait well past that.
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(['Server-1', 'Server-2', 'Server-3'].map(containerId), before);
    assert.equal(containersOf().length, 4);
    const metrics = (await call('GET', '/metrics')).text;
    assert.deepEqual(metrics.match(/^lb_respawns_total\{.*$/gm) ?? [], [], 'no replica was respawned');
    assert.match(metrics, /^lb_replicas\{state="healthy"\} 3$/m);
    const logs = spawnSync('docker', ['logs', '--since', String(restartedAt), `${id}-lb`], { encoding: 'utf8' });
    const restarted = (logs.stdout + logs.stderr)
      .split('\n')
      .filter((line) => /replica (respawned|flatlined)/.test(line));
    assert.deepEqual(restarted, []);
    assert.equal((await call('GET', '/home', undefined, { 'x-request-id': '3' })).status, 200);
  });

  const networkExists = () =>
    spawnSync('docker', ['network', 'inspect', `${id}-net`], { stdio: 'ignore' }).status === 0;

  it('make up again, with the LB running on its port, changes nothing', async () => {
    make('up');
    assert.equal((await call('GET', '/rep')).json.message.N, 3);
  });

  it('make stop removes the LB and its replicas but no foreign container (nor the network it uses)', () => {
    const out = make('stop');
    assert.deepEqual(containersOf(), []);
    assert.ok(isRunning(foreign), 'a foreign container survives make stop');
    assert.ok(networkExists());
    assert.match(out, new RegExp(`kept network ${id}-net: still used by ${foreign}`));
  });

  it('make stop then removes the network, and is safe to run again', () => {
    docker('rm', '-f', foreign);
    make('stop');
    assert.equal(networkExists(), false);
    make('stop');
    assert.deepEqual(containersOf(), []);
  });
});

describe('make up with the LB port taken', { skip: !engineUp && 'no Docker engine' }, () => {
  it('fails with one line naming LB_PORT and leaves no container and no network behind', async () => {
    const other = `${id}p`;
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    const lb = isolatedDocker(other, port, { N: '1' });
    try {
      const run = spawnSync('make', ['up'], { env: lb.env, encoding: 'utf8' });
      assert.notEqual(run.status, 0);
      assert.match(
        run.stderr,
        new RegExp(
          `^make: port ${port} on 127\\.0\\.0\\.1 is already in use: stop what holds it, or choose another: make up LB_PORT=<port>$`,
          'm',
        ),
      );
      assert.equal(run.stderr.match(/already in use/g)?.length, 1, 'said once');
      assert.deepEqual(lines(docker('ps', '-aq', '--filter', `label=io.consistent-hash-lb.owner=${other}`)), []);
      assert.deepEqual(lines(docker('ps', '-aq', '--filter', `name=^${other}-lb$`)), []);
      assert.equal(spawnSync('docker', ['network', 'inspect', `${other}-net`], { stdio: 'ignore' }).status, 1);
    } finally {
      holder.close();
      spawnSync('make', ['stop'], { env: lb.env, stdio: 'ignore' });
    }
  });
});
