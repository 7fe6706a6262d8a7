import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance, type DataPlaneInstance } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { MaglevTable, Ring, type Router, sha256 } from '../../src/routing/index.js';
import { modelRoutingId } from '../helpers/ring.js';

const quiet = pino({ level: 'silent' });
const KEYS = 1000;

const modelId = modelRoutingId;

async function dataPlane(controller: string, env: Record<string, string>) {
  const config = parseConfig(
    { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: controller, ...env },
    { driver: 'process' },
  );
  const instance = createDataPlaneInstance(config, { log: quiet });
  return { instance, url: await instance.start() };
}

/** How each source's key is put into a request. */
const SOURCES: Record<string, (key: string) => { path: string; headers: Record<string, string> }> = {
  'header:x-tenant': (key) => ({ path: '/home', headers: { 'x-tenant': key } }),
  'cookie:sid': (key) => ({ path: '/home', headers: { cookie: `theme=dark; sid=${key}; lang=en` } }),
  'query:room': (key) => ({ path: `/home?x=1&room=${encodeURIComponent(key)}`, headers: {} }),
  path: (key) => ({ path: key, headers: {} }),
  'segment:1': (key) => ({ path: `/${key}/ignored`, headers: {} }),
};
/** A distinct key for each source: strings of several kinds, and digit-only ones (their own value). */
const keyFor = (source: string, k: number) => {
  if (source === 'path') return `/home${k % 7 === 0 ? '' : `/users/${k}`}`;
  if (k % 10 === 0) return String(1_000_000 + k);
  // Path segments are keys as sent (not decoded): no spaces or non-ASCII there.
  if (source.startsWith('segment')) return k % 3 === 0 ? `tenant.${k}~x` : `user-${k}`;
  return k % 3 === 0 ? `tenant ${k} é` : `user-${k}`;
};

describe('routing keys (HASH_KEY) through two data-plane instances', () => {
  let controller: RunningLb;
  const planes: DataPlaneInstance[] = [];
  const ring = (members: readonly ReplicaHandle[]): Router<ReplicaHandle> =>
    Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, members);

  before(async () => {
    // The controller serves 404 for paths other than /home: path keys go where the model says, then 400.
    controller = await startLb({ N: '3' });
  });
  after(async () => {
    for (const plane of planes) await plane.stop();
    await controller.stop();
  });

  /** Sends each key three times through each of `urls`; every answer names the model's replica. */
  async function routesAsModel(source: string, urls: string[], model: Router<ReplicaHandle>, keys: string[]) {
    const request = SOURCES[source]!;
    for (let from = 0; from < keys.length; from += 100) {
      const batch = keys.slice(from, from + 100);
      await Promise.all(
        batch.map(async (key) => {
          const want = model.lookup(modelId(key))!.name;
          const { path, headers } = request(key);
          for (const url of urls) {
            for (let t = 0; t < 3; t++) {
              const answer = await send(url, 'GET', path, undefined, headers);
              assert.equal(answer.headers.get('x-served-by'), want, `${source} key ${JSON.stringify(key)} via ${url}`);
            }
          }
        }),
      );
    }
  }

  for (const source of Object.keys(SOURCES)) {
    it(`${source}: 1,000 distinct keys, each three times on two instances, reach the model's replica`, async () => {
      const pair = [
        await dataPlane(controller.url, { HASH_KEY: source }),
        await dataPlane(controller.url, { HASH_KEY: source }),
      ];
      planes.push(...pair.map((p) => p.instance));
      const keys = Array.from({ length: KEYS }, (_, k) => keyFor(source, k));
      await routesAsModel(
        source,
        pair.map((p) => p.url),
        ring(controller.lb.manager.router.members),
        keys,
      );
    });
  }

  it('Maglev (ROUTING=maglev) routes header keys as its model too', async () => {
    const pair = [
      await dataPlane(controller.url, { HASH_KEY: 'header:x-tenant', ROUTING: 'maglev' }),
      await dataPlane(controller.url, { HASH_KEY: 'header:x-tenant', ROUTING: 'maglev' }),
    ];
    planes.push(...pair.map((p) => p.instance));
    const model = MaglevTable.of(65537, controller.lb.manager.router.members);
    const keys = Array.from({ length: 300 }, (_, k) => keyFor('header', k));
    await routesAsModel(
      'header:x-tenant',
      pair.map((p) => p.url),
      model,
      keys,
    );
  });

  it('a killed replica comes back under its name and index, and every key goes where it went before', async () => {
    const plane = await dataPlane(controller.url, { HASH_KEY: 'cookie:sid' });
    planes.push(plane.instance);
    const before = controller.lb.manager.router.members;
    const keys = Array.from({ length: 300 }, (_, k) => keyFor('cookie', k));
    const owners = new Map(keys.map((key) => [key, ring(before).lookup(modelId(key))!.name]));
    const victim = 'Server-2';
    const old = controller.pid(victim);
    process.kill(old, 'SIGKILL');
    await waitFor(
      'Server-2 respawned and routed to',
      () => {
        const pid = controller.pid(victim);
        return controller.lb.manager.router.has(victim) && pid !== undefined && pid !== old ? true : undefined;
      },
      10_000,
    );
    await waitFor(
      'the data plane to follow',
      () => (plane.instance.follower.router.has(victim) ? true : undefined),
      5000,
    );
    const after = controller.lb.manager.router.members;
    assert.deepEqual(
      after.map((m) => [m.name, m.index]),
      before.map((m) => [m.name, m.index]),
    );
    await routesAsModel('cookie:sid', [plane.url], ring(after), keys);
    for (const key of keys) assert.equal(ring(after).lookup(modelId(key))!.name, owners.get(key));
  });

  it('the fallback order: the first source that yields wins; none yields: the request id (random when not an integer)', async () => {
    const plane = await dataPlane(controller.url, { HASH_KEY: 'cookie:sid,query:room,request-id' });
    planes.push(plane.instance);
    const model = ring(controller.lb.manager.router.members);
    const served = async (path: string, headers: Record<string, string>) => {
      const answer = await send(plane.url, 'GET', path, undefined, headers);
      assert.equal(answer.status, 200, answer.text);
      return { by: answer.headers.get('x-served-by'), id: answer.headers.get('x-request-id')! };
    };
    // Keys chosen so the three sources point at three different replicas.
    const picked: string[] = [];
    for (const key of ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf']) {
      const owner = model.lookup(modelId(key))!.name;
      if (!picked.some((p) => model.lookup(modelId(p))!.name === owner)) picked.push(key);
    }
    const [cookie, room, id] = picked;
    const idKey = String((Number(modelId(id!)) % 900_000) + 100_000);
    const owner = (key: string) => model.lookup(modelId(key))!.name;
    assert.equal(
      (await served(`/home?room=${room}`, { cookie: `sid=${cookie}`, 'x-request-id': idKey })).by,
      owner(cookie!),
    );
    assert.equal((await served(`/home?room=${room}`, { 'x-request-id': idKey })).by, owner(room!));
    const byId = await served('/home', { 'x-request-id': idKey });
    assert.deepEqual(byId, { by: owner(idKey), id: idKey }, 'an integer X-Request-Id is the key, and is echoed');
    for (let k = 0; k < 20; k++) {
      const random = await served('/home', { 'x-request-id': 'not-a-number' });
      assert.match(random.id, /^[1-9]\d{5}$/);
      assert.equal(random.by, owner(random.id), 'no source yields: the random id routes the request');
    }
    // The id the replica and the client see is the request's own (random here), whichever key routed it.
    const keyed = await served('/home', { cookie: `sid=${cookie}` });
    assert.match(keyed.id, /^[1-9]\d{5}$/);
    assert.equal(keyed.by, owner(cookie!));
  });

  it('client-ip: each client address is a key (clients bound to 30 loopback addresses)', async () => {
    const plane = await dataPlane(controller.url, { HASH_KEY: 'client-ip' });
    planes.push(plane.instance);
    const model = ring(controller.lb.manager.router.members);
    const port = Number(new URL(plane.url).port);
    for (let k = 2; k < 32; k++) {
      const address = `127.0.0.${k}`;
      for (let t = 0; t < 3; t++) {
        const servedBy = await new Promise<string | undefined>((resolve, reject) => {
          get({ host: '127.0.0.1', port, path: '/home', localAddress: address, agent: false }, (res) => {
            res.resume();
            resolve(res.headers['x-served-by'] as string | undefined);
          }).on('error', reject);
        });
        assert.equal(servedBy, model.lookup(modelId(address))!.name, address);
      }
    }
  });
});

describe('routing keys past ASCII, as the bytes arrive', () => {
  it('a header sent as raw UTF-8 and the same text percent-encoded in the query reach the model’s replica', async () => {
    const lb = await startLb({ N: '3', HASH_KEY: 'header:x-key,query:k' });
    try {
      const port = Number(new URL(lb.url).port);
      const served = (head: Buffer) =>
        new Promise<string | undefined>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => socket.write(head));
          let got = '';
          socket.on('data', (chunk) => (got += chunk.toString('latin1')));
          socket.on('error', reject);
          socket.on('close', () => resolve(/\r\nx-served-by: ([^\r]+)/i.exec(got)?.[1]));
        });
      const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
      for (const text of ['café', 'Łódź', '日本語', 'emoji 🎲']) {
        const expected = model.lookup(modelId(text))!.name;
        const viaHeader = await served(
          Buffer.concat([
            Buffer.from('GET /home HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nX-Key: '),
            Buffer.from(text, 'utf8'),
            Buffer.from('\r\n\r\n'),
          ]),
        );
        const viaQuery = await served(
          Buffer.from(`GET /home?k=${encodeURIComponent(text)} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n`),
        );
        assert.deepEqual([viaHeader, viaQuery], [expected, expected], text);
      }
    } finally {
      await lb.stop();
    }
  });
});
