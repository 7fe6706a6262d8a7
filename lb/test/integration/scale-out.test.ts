import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { runLoad } from '../../../kit/src/load.js';
import { freePort } from '../../../kit/src/net.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance, type DataPlaneInstance } from '../../src/lb.js';
import { given, Ring } from '../../src/routing/index.js';
import { members } from '../helpers/ring.js';
import { startUpstream } from '../helpers/upstream.js';

const quiet = pino({ level: 'silent' });

/** A data-plane instance on 127.0.0.1 following `controller`. */
async function dataPlane(
  controller: string,
  env: Record<string, string> = {},
): Promise<{ instance: DataPlaneInstance; url: string }> {
  const config = parseConfig(
    { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: controller, HASH_FUNCTION: 'given', ...env },
    { driver: 'process' },
  );
  const instance = createDataPlaneInstance(config, { log: quiet });
  return { instance, url: await instance.start() };
}

describe('control plane and data plane (process driver)', () => {
  let controller: RunningLb;
  const planes: { instance: DataPlaneInstance; url: string }[] = [];

  before(async () => {
    controller = await startLb({ HASH_FUNCTION: 'given', N: '3' });
    for (let k = 0; k < 3; k++) planes.push(await dataPlane(controller.url));
  });
  after(async () => {
    for (const plane of planes) await plane.instance.stop();
    await controller.stop();
  });

  it('three data-plane instances route 1,000 fixed ids identically, as the ring model says', async () => {
    const ring = Ring.of({ slots: 512, virtualServers: 9, hash: given }, members(3));
    for (let id = 100_000; id < 101_000; id++) {
      const answers = await Promise.all(
        planes.map((p) => send(p.url, 'GET', '/home', undefined, { 'x-request-id': String(id) })),
      );
      const servedBy = answers.map((a) => a.headers.get('x-served-by'));
      assert.deepEqual(
        servedBy,
        [0, 1, 2].map(() => ring.lookup(id)!.name),
        `id ${id}`,
      );
    }
  });

  it('admin calls reaching a data plane are relayed; every instance has the new membership within 200 ms of the answer', async () => {
    const delays: number[] = [];
    const changes = [
      ['POST', '/add', { n: 2 }],
      ['DELETE', '/rm', { n: 1, hostnames: ['Server-2'] }],
      ['POST', '/add', { n: 1, hostnames: ['S9'] }],
    ] as const;
    for (const [k, [method, path, body]] of changes.entries()) {
      const answer = await send(planes[k]!.url, method, path, body);
      assert.equal(answer.status, 200, answer.text);
      const answeredAt = performance.now();
      const want = controller.lb.manager.snapshot();
      await Promise.all(
        planes.map((p) =>
          waitFor(
            'the new membership',
            () => (p.instance.follower.current?.version === want.version ? true : undefined),
            2000,
          ).then(() => delays.push(performance.now() - answeredAt)),
        ),
      );
      for (const p of planes)
        assert.deepEqual(
          p.instance.follower.router.members.map((m) => m.name),
          want.members.map((m) => m.name),
        );
    }
    const worst = Math.max(...delays);
    assert.ok(worst <= 200, `slowest instance took ${worst.toFixed(1)} ms`);
    console.log(
      `# membership propagation after /add or /rm returned: max ${worst.toFixed(1)} ms over ${delays.length} instance-changes`,
    );
  });
});

describe('controller SIGKILLed under load (static stability)', () => {
  const upstreams: Awaited<ReturnType<typeof startUpstream>>[] = [];
  let controllerProcess: ChildProcess | undefined;
  let controllerUrl: string;
  let port: number;
  const planes: { instance: DataPlaneInstance; url: string }[] = [];

  async function startController(): Promise<void> {
    const replicas = upstreams.map((u, k) => `Server-${k + 1}=${u.url}`).join(',');
    const child = spawn(process.execPath, ['--import', 'tsx', 'lb/test/helpers/static-controller.ts'], {
      env: {
        ...process.env,
        PORT: String(port),
        N: '3',
        HASH_FUNCTION: 'given',
        HEARTBEAT_INTERVAL_MS: '200',
        REPLICAS: replicas,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    controllerUrl = await waitFor('the controller', () => /listening on (http:\/\/[\d.:]+)/.exec(out)?.[1], 20_000);
    controllerProcess = child;
  }

  before(async () => {
    for (let k = 1; k <= 3; k++) upstreams.push(await startUpstream(`Server-${k}`));
    port = await freePort();
    await startController();
    for (let k = 0; k < 2; k++) planes.push(await dataPlane(controllerUrl));
  });
  after(async () => {
    for (const plane of planes) await plane.instance.stop();
    controllerProcess?.kill('SIGKILL');
    for (const u of upstreams) await u.close();
  });

  it('data planes keep serving with no failed GET, admin calls get a 503 naming the controller, and all recover when it is back', async () => {
    const seen = new Map<number, number>();
    const load = runLoad({
      url: planes[0]!.url,
      path: '/echo',
      requests: 3000,
      concurrency: 20,
      onResult: (r) => seen.set(r.status, (seen.get(r.status) ?? 0) + 1),
    });
    await new Promise((r) => setTimeout(r, 100));
    controllerProcess!.kill('SIGKILL');
    await new Promise<void>((r) => controllerProcess!.once('exit', () => r()));
    await load;
    assert.deepEqual([...seen], [[200, 3000]], 'every GET during and after the kill answered 200');
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, k) =>
        send(planes[1]!.url, 'GET', '/echo', undefined, { 'x-request-id': String(k) }).then((a) => a.status),
      ),
    );
    assert.deepEqual([...new Set(statuses)], [200], 'served on the last membership');

    const refused = await send(planes[0]!.url, 'POST', '/add', { n: 1 });
    assert.equal(refused.status, 503);
    assert.match(
      refused.json.message,
      new RegExp(`^<Error> The controller \\(${controllerUrl.replaceAll('.', '\\.')}\\) is unavailable: ECONNREFUSED`),
    );
    assert.equal(refused.json.status, 'failure');

    await startController();
    const back = await waitFor(
      'admin calls to work again',
      async () => {
        const answer = await send(planes[0]!.url, 'GET', '/rep');
        return answer.status === 200 ? answer : undefined;
      },
      10_000,
    );
    assert.deepEqual(back.json.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    await waitFor(
      'both followers on the new controller',
      () => planes.every((p) => p.instance.follower.reachable) || undefined,
      5000,
    );
  });
});
