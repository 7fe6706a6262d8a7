import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { given, Ring } from '../lb/src/routing/index.js';

/**
 * REPLICA_DRIVER=swarm against a private Docker engine made a swarm manager for this test
 * (scripts/private-swarm.sh: own network namespace, data root and socket; the machine's own
 * engine is never touched). This kernel has no IPVS, so nothing is published: the LB and a
 * test client run as containers on the swarm's attachable overlay network.
 */
const id = `t${process.pid % 100_000}`;
const octet = String(150 + (process.pid % 50));
const NET = `lbsw${id}-net`;
const LB = `lbsw${id}-lb`;
const OWNER = `lbsw${id}`;
let socket = '';

const swarm = (...args: string[]) =>
  execFileSync('docker', ['-H', `unix://${socket}`, ...args], { encoding: 'utf8' }).trim();
const model = (names: string[]) =>
  Ring.of(
    { slots: 512, virtualServers: 9, hash: given },
    names.map((name, k) => ({ index: k + 1, name })),
  );

/** Runs `script` (an async function body, ESM) with node in a container on the overlay; returns what it prints, parsed. */
function inOverlay<T>(script: string): T {
  const out = swarm(
    'run',
    '--rm',
    '--network',
    NET,
    '--user',
    '0',
    'lb-server',
    'node',
    '--input-type=module',
    '-e',
    `const LB = 'http://${LB}:5000';\n${script}`,
  );
  return JSON.parse(out.split('\n').at(-1)!) as T;
}

const canRun =
  process.getuid?.() === 0 &&
  spawnSync('sh', ['-c', 'command -v ip && command -v dockerd'], { stdio: 'ignore' }).status === 0;

describe('replicas on Docker Swarm (private engine)', {
  skip: canRun ? false : 'needs root, iproute2 and dockerd',
}, () => {
  before(async () => {
    execFileSync('make', ['images'], { stdio: 'ignore' });
    socket = execFileSync('scripts/private-swarm.sh', ['up', id, octet], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .at(-1)!;
    execFileSync('sh', ['-c', `docker save lb-server lb-balancer | docker -H unix://${socket} load`], {
      stdio: 'ignore',
    });
    swarm('network', 'create', '-d', 'overlay', '--attachable', NET);
    swarm(
      'run',
      '-d',
      '--name',
      LB,
      '--network',
      NET,
      '-v',
      `${socket}:/var/run/docker.sock`,
      '--user',
      '0',
      '-e',
      'REPLICA_DRIVER=swarm',
      '-e',
      `NETWORK=${NET}`,
      '-e',
      `LB_ID=${OWNER}`,
      '-e',
      'HASH_FUNCTION=given',
      '-e',
      'HEARTBEAT_INTERVAL_MS=500',
      '-e',
      'N=3',
      'lb-balancer',
    );
  });
  after(() => {
    if (socket) spawnSync('scripts/private-swarm.sh', ['down', id], { stdio: 'ignore' });
  });

  const services = () =>
    swarm('service', 'ls', '--filter', `label=io.consistent-hash-lb.owner=${OWNER}`, '--format', '{{.Name}}')
      .split('\n')
      .filter(Boolean)
      .sort();

  it('starts Server-1..3 as labelled services and routes fixed ids exactly as the ring model', () => {
    const rep = inOverlay<{ message: { replicas: string[] } }>(`
      for (let k = 0; k < 120; k++) {
        try { const r = await fetch(LB + '/rep'); if (r.ok) { const b = await r.json(); if (b.message.N === 3) { console.log(JSON.stringify(b)); process.exit(0); } } } catch {}
        await new Promise((r) => setTimeout(r, 250));
      }
      console.log('{}');`);
    assert.deepEqual(rep.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    assert.deepEqual(services(), ['Server-1', 'Server-2', 'Server-3']);
    assert.equal(
      swarm('service', 'inspect', 'Server-2', '--format', '{{index .Spec.Labels "io.consistent-hash-lb.index"}}'),
      '2',
    );
    const ids = [1, 42, 7777, 100000, 123456, 271828, 500000, 999999];
    const served = inOverlay<string[]>(`
      const out = [];
      for (const id of ${JSON.stringify(ids)}) out.push((await fetch(LB + '/home', { headers: { 'x-request-id': String(id) } })).headers.get('x-served-by'));
      console.log(JSON.stringify(out));`);
    const ring = model(['Server-1', 'Server-2', 'Server-3']);
    assert.deepEqual(
      served,
      ids.map((k) => ring.lookup(k)!.name),
    );
  });

  it('/add and /rm create and remove services', () => {
    const answers = inOverlay<unknown[]>(`
      const call = async (method, path, body) => (await fetch(LB + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
      const added = await call('POST', '/add', { n: 1, hostnames: ['S9'] });
      const served = (await fetch(LB + '/home', { headers: { 'x-request-id': '3' } })).status;
      console.log(JSON.stringify([added, served]));`);
    assert.deepEqual(answers[0], {
      message: { N: 4, replicas: ['Server-1', 'Server-2', 'Server-3', 'S9'] },
      status: 'successful',
    });
    assert.deepEqual(services(), ['S9', 'Server-1', 'Server-2', 'Server-3']);
    const removed = inOverlay<unknown>(`
      console.log(JSON.stringify(await (await fetch(LB + '/rm', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"n":1,"hostnames":["S9"]}' })).json()));`);
    assert.deepEqual(removed, {
      message: { N: 3, replicas: ['Server-1', 'Server-2', 'Server-3'] },
      status: 'successful',
    });
    assert.deepEqual(services(), ['Server-1', 'Server-2', 'Server-3']);
  });

  it('a killed task: the same name and index serve again, with no failed GET meanwhile', () => {
    const ring = model(['Server-1', 'Server-2', 'Server-3']);
    const toServer2 = [...Array(5000).keys()].find((k) => ring.lookup(k)!.name === 'Server-2')!;
    const before = swarm('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=Server-2');
    // The kill runs beside the client (which blocks this process): 1 s after the client starts polling.
    spawn('sh', ['-c', `sleep 1; docker -H unix://${socket} kill ${before}`], { stdio: 'ignore' });
    const result = inOverlay<{ failed: number; sent: number; backMs: number }>(`
      let failed = 0, sent = 0, t0 = 0, backMs = -1;
      const started = Date.now();
      while (Date.now() - started < 30000) {
        const r = await fetch(LB + '/home', { headers: { 'x-request-id': '${toServer2}' } }).catch(() => null);
        sent++;
        if (!r || r.status !== 200) failed++;
        const by = r && r.headers.get('x-served-by');
        if (by !== 'Server-2' && t0 === 0) t0 = Date.now();
        if (by === 'Server-2' && t0 !== 0) { backMs = Date.now() - t0; break; }
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(JSON.stringify({ failed, sent, backMs }));`);
    const after = swarm('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=Server-2');
    assert.notEqual(after, before, 'a new task container');
    assert.equal(result.failed, 0, `${result.failed} of ${result.sent} GETs failed`);
    assert.ok(result.backMs > 0 && result.backMs < 15_000, `Server-2 served again after ${result.backMs} ms`);
    console.log(
      `# swarm: a killed Server-2 task served again ${result.backMs} ms after its ids moved away (${result.sent} GETs, 0 failed)`,
    );
    const rep = inOverlay<{ message: { replicas: string[] } }>(
      `console.log(JSON.stringify(await (await fetch(LB + '/rep')).json()));`,
    );
    assert.deepEqual(rep.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    assert.equal(
      swarm('service', 'inspect', 'Server-2', '--format', '{{index .Spec.Labels "io.consistent-hash-lb.index"}}'),
      '2',
    );
  });

  it('a restarted controller adopts the services and keeps them: same services and tasks past MAX_FAIL_COUNT heartbeats, no respawn', () => {
    const ids = () =>
      swarm('service', 'ls', '-q', '--filter', `label=io.consistent-hash-lb.owner=${OWNER}`).split('\n').sort();
    const tasks = () =>
      ['Server-1', 'Server-2', 'Server-3'].map((name) =>
        swarm('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${name}`),
      );
    const before = ids();
    const tasksBefore = tasks();
    swarm('restart', LB);
    const seen = inOverlay<{ rep: { message: { replicas: string[] } }; respawns: string[] }>(`
      let rep = {};
      for (let k = 0; k < 120; k++) {
        try { const r = await fetch(LB + '/rep'); if (r.ok) { rep = await r.json(); break; } } catch {}
        await new Promise((r) => setTimeout(r, 250));
      }
      // A wrongly flatlined adoptee is redeployed after MAX_FAIL_COUNT (3) heartbeats of 500 ms: wait well past that.
      await new Promise((r) => setTimeout(r, 4000));
      const metrics = await (await fetch(LB + '/metrics')).text();
      console.log(JSON.stringify({ rep, respawns: metrics.match(/^lb_respawns_total\\{.*$/gm) ?? [] }));`);
    assert.deepEqual(seen.rep.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    assert.deepEqual(seen.respawns, [], 'no replica was respawned');
    assert.deepEqual(ids(), before, 'the same services, none added');
    assert.deepEqual(tasks(), tasksBefore, 'the same task containers');
  });

  it('make swarm-deploy runs the stack (controller + 2 data planes) routing as the ring model; make swarm-stop leaves nothing', () => {
    const make = (target: string) =>
      execFileSync(
        'make',
        [target, 'STACK=stk', `LB_ID=stk${id}`, 'SWARM_NETWORK=stknet', 'N=3', 'HASH_FUNCTION=given'],
        {
          encoding: 'utf8',
          env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_SOCKET: socket, CONTAINER_PREFIX: 'stk-' },
        },
      );
    make('swarm-deploy');
    const ids = [1, 42, 7777, 100000, 123456, 271828, 500000, 999999];
    // No IPVS here: the routing mesh cannot be reached; each data-plane task is, by its address on the overlay.
    const seen = JSON.parse(
      swarm(
        'run',
        '--rm',
        '--network',
        'stknet',
        '--user',
        '0',
        'lb-server',
        'node',
        '--input-type=module',
        '-e',
        `
        import { lookup } from 'node:dns/promises';
        const started = Date.now();
        let planes = [];
        while (Date.now() - started < 90000) {
          planes = (await lookup('tasks.stk_dataplane', { all: true }).catch(() => [])).map((a) => a.address);
          const ready = await Promise.all(planes.map((ip) => fetch('http://' + ip + ':5000/rep').then((r) => r.json()).then((b) => b.message.N === 3, () => false)));
          if (planes.length === 2 && ready.every(Boolean)) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        const out = [];
        for (const ip of planes) {
          const row = [];
          for (const id of ${JSON.stringify(ids)}) row.push((await fetch('http://' + ip + ':5000/home', { headers: { 'x-request-id': String(id) } })).headers.get('x-served-by'));
          out.push(row);
        }
        console.log(JSON.stringify(out));`,
      )
        .split('\n')
        .at(-1)!,
    ) as string[][];
    const ring = model(['Server-1', 'Server-2', 'Server-3']);
    assert.equal(seen.length, 2, 'two data-plane tasks');
    for (const row of seen)
      assert.deepEqual(
        row,
        ids.map((k) => ring.lookup(k)!.name),
      );
    make('swarm-stop');
    assert.equal(swarm('service', 'ls', '-q', '--filter', `label=io.consistent-hash-lb.owner=stk${id}`), '');
    assert.equal(swarm('service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=stk'), '');
    assert.equal(swarm('network', 'ls', '-q', '--filter', 'name=stknet'), '');
    make('swarm-stop'); // safe to run twice
  });

  it('a service of the same name that this LB does not own is refused and left alone', () => {
    swarm('service', 'create', '-d', '--name', 'Foreign', '--network', NET, '--no-resolve-image', 'lb-server');
    const refused = inOverlay<{ message: string }>(`
      console.log(JSON.stringify(await (await fetch(LB + '/add', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"hostnames":["Foreign"]}' })).json()));`);
    assert.match(
      refused.message,
      /^<Error> Hostname 'Foreign' cannot be used: a service this load balancer does not manage/,
    );
    assert.equal(swarm('service', 'ls', '-q', '--filter', 'name=Foreign').length > 0, true);
    swarm('service', 'rm', 'Foreign');
  });
});

describe('replicas on a two-node swarm (two private engines, linked namespaces)', {
  skip: canRun ? false : 'needs root, iproute2 and dockerd',
}, () => {
  const manager = `m${process.pid % 100_000}`;
  const worker = `w${process.pid % 100_000}`;
  const octet = String(100 + (process.pid % 40));
  let managerSocket = '';
  let workerSocket = '';
  const on = (sock: string, ...args: string[]) =>
    execFileSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8' }).trim();

  before(() => {
    execFileSync('make', ['images'], { stdio: 'ignore' });
    managerSocket = execFileSync('scripts/private-swarm.sh', ['up', manager, octet], { encoding: 'utf8' }).trim();
    workerSocket = execFileSync('scripts/private-swarm.sh', ['join', worker, manager, octet], {
      encoding: 'utf8',
    }).trim();
    for (const sock of [managerSocket, workerSocket])
      execFileSync('sh', ['-c', `docker save lb-server lb-balancer | docker -H unix://${sock} load`], {
        stdio: 'ignore',
      });
    on(managerSocket, 'network', 'create', '-d', 'overlay', '--attachable', 'two-net');
    on(
      managerSocket,
      'run',
      '-d',
      '--name',
      'two-lb',
      '--network',
      'two-net',
      '-v',
      `${managerSocket}:/var/run/docker.sock`,
      '--user',
      '0',
      '-e',
      'REPLICA_DRIVER=swarm',
      '-e',
      'NETWORK=two-net',
      '-e',
      'LB_ID=two',
      '-e',
      'HASH_FUNCTION=given',
      '-e',
      'N=4',
      'lb-balancer',
    );
  });
  after(() => {
    if (workerSocket) spawnSync('scripts/private-swarm.sh', ['down', worker], { stdio: 'ignore' });
    if (managerSocket) spawnSync('scripts/private-swarm.sh', ['down', manager], { stdio: 'ignore' });
  });

  it('places replicas on both nodes and routes every id as the ring model, across the overlay', () => {
    const out = on(
      managerSocket,
      'run',
      '--rm',
      '--network',
      'two-net',
      '--user',
      '0',
      'lb-server',
      'node',
      '--input-type=module',
      '-e',
      `
      const started = Date.now();
      while (Date.now() - started < 60000) {
        const rep = await fetch('http://two-lb:5000/rep').then((r) => r.json(), () => null);
        if (rep && rep.message.N === 4) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const served = [];
      for (let id = 0; id < 600; id += 3) served.push((await fetch('http://two-lb:5000/home', { headers: { 'x-request-id': String(id) } })).headers.get('x-served-by'));
      console.log(JSON.stringify(served));`,
    );
    const served = JSON.parse(out.split('\n').at(-1)!) as string[];
    const ring = model(['Server-1', 'Server-2', 'Server-3', 'Server-4']);
    assert.deepEqual(
      served,
      Array.from({ length: 200 }, (_, k) => ring.lookup(k * 3)!.name),
    );
    const nodes = new Set(
      ['Server-1', 'Server-2', 'Server-3', 'Server-4'].map((name) =>
        on(
          managerSocket,
          'inspect',
          on(managerSocket, 'service', 'ps', '-q', name).split('\n')[0]!,
          '--format',
          '{{.NodeID}}',
        ),
      ),
    );
    assert.equal(nodes.size, 2, 'replicas run on both nodes');
  });
});
