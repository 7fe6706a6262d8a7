import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { type RunningLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance, type DataPlaneInstance } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { Ring, routingIdOf, sha256 } from '../../src/routing/index.js';

/** A WebSocket client: the replica that named itself on open, and the messages that followed. */
interface Room {
  readonly ws: WebSocket;
  readonly server: string;
  next(): Promise<{ data: Buffer; binary: boolean }>;
  readonly closed: Promise<number>;
}

async function openRoom(base: string, room: string): Promise<Room> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?room=${encodeURIComponent(room)}`, { maxPayload: 0 });
  const queue: { data: Buffer; binary: boolean }[] = [];
  const waiters: ((m: { data: Buffer; binary: boolean }) => void)[] = [];
  ws.on('message', (data: Buffer, binary) => {
    const waiter = waiters.shift();
    if (waiter) waiter({ data, binary });
    else queue.push({ data, binary });
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const next = () =>
    queue.length > 0
      ? Promise.resolve(queue.shift()!)
      : new Promise<{ data: Buffer; binary: boolean }>((r) => waiters.push(r));
  await once(ws, 'open');
  const server = JSON.parse((await next()).data.toString()).server as string;
  return { ws, server, next, closed };
}

const model = (members: readonly ReplicaHandle[]) => Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, members);
const ownerOf = (members: readonly ReplicaHandle[], room: string) => model(members).lookup(routingIdOf(room))!.name;

describe('WebSocket tunnels through the LB (HASH_KEY=query:room)', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '3', HASH_KEY: 'query:room', REHOME_GRACE_MS: '200' });
  });
  after(() => lb.stop());

  it("echoes text and binary (1 MiB too) on the room's replica, named in X-Served-By and by the replica", async () => {
    const served: string[] = [];
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/ws?room=lobby`);
    ws.on('upgrade', (res) => served.push(String(res.headers['x-served-by'])));
    await once(ws, 'open');
    ws.close();
    const room = await openRoom(lb.url, 'lobby');
    assert.equal(room.server, ownerOf(lb.lb.manager.router.members, 'lobby'));
    assert.deepEqual(served, [room.server]);
    room.ws.send('hello');
    const text = await room.next();
    assert.deepEqual([text.data.toString(), text.binary], ['hello', false]);
    const big = Buffer.alloc(1024 * 1024);
    for (let k = 0; k < big.length; k++) big[k] = k % 251;
    room.ws.send(big);
    const echoed = await room.next();
    assert.ok(echoed.binary && echoed.data.equals(big), '1 MiB binary echoed unchanged');
    room.ws.close();
    assert.equal(await room.closed, 1005);
  });

  it("500 tunnels at once, each echoing on its own key's replica", async () => {
    const members = lb.lb.manager.router.members;
    const rooms = await Promise.all(Array.from({ length: 500 }, (_, k) => openRoom(lb.url, `room-${k}`)));
    await waitFor(
      '500 tunnels open in /metrics',
      async () => {
        const text = (await lb.call('GET', '/metrics')).text;
        const open = [...text.matchAll(/^lb_tunnels_open\{replica="[^"]+"\} (\d+)$/gm)].reduce(
          (a, m) => a + Number(m[1]),
          0,
        );
        return open === 500 ? true : undefined;
      },
      5000,
    );
    const state = (await lb.call('GET', '/dashboard/state')).json as { replicas: { tunnels: number }[] };
    assert.equal(
      state.replicas.reduce((sum, r) => sum + r.tunnels, 0),
      500,
      'the dashboard counts them',
    );
    await Promise.all(
      rooms.map(async (room, k) => {
        assert.equal(room.server, ownerOf(members, `room-${k}`), `room-${k}`);
        room.ws.send(`message ${k}`);
        assert.equal((await room.next()).data.toString(), `message ${k}`);
      }),
    );
    for (const room of rooms) room.ws.close();
    await Promise.all(rooms.map((room) => room.closed));
  });

  it("half-close: a client that ends its side gets the replica's end in turn, then the tunnel closes", async () => {
    const port = Number(new URL(lb.url).port);
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(socket, 'connect');
    socket.write(
      'GET /ws?room=half HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    await waitFor('the 101 and the first frame', () => (received.includes('{"server":') ? true : undefined), 3000);
    assert.match(received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(received, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    const ended = once(socket, 'end');
    socket.end(); // FIN to the LB, which passes it on; the replica ends its side too
    await ended;
    await once(socket, 'close');
  });

  it('a replica killed under open tunnels: they close; reconnecting reaches the next owner', async () => {
    const members = lb.lb.manager.router.members;
    const victim = 'Server-2';
    const keys = Array.from({ length: 60 }, (_, k) => `kill-${k}`)
      .filter((k) => ownerOf(members, k) === victim)
      .slice(0, 10);
    assert.ok(keys.length >= 5, `keys on ${victim}: ${keys.length}`);
    const rooms = await Promise.all(keys.map((k) => openRoom(lb.url, k)));
    for (const room of rooms) assert.equal(room.server, victim);
    process.kill(lb.pid(victim), 'SIGKILL');
    const codes = await Promise.all(rooms.map((room) => room.closed));
    assert.ok(
      codes.every((c) => c === 1006),
      `closed abnormally: ${codes}`,
    );
    for (const key of keys) {
      const again = await openRoom(lb.url, key);
      const next = model(members)
        .candidates(routingIdOf(key))
        .find((m) => m.name !== victim)!.name;
      assert.equal(again.server, next, `${key} failed over to the next replica clockwise`);
      again.ws.close();
    }
    await waitFor('the killed replica respawned', () => (lb.lb.manager.router.has(victim) ? true : undefined), 10_000);
  });
});

describe('re-homing: after /add, exactly the tunnels whose key moved are closed (two data-plane instances too)', () => {
  let controller: RunningLb;
  const planes: { instance: DataPlaneInstance; url: string }[] = [];
  before(async () => {
    controller = await startLb({ N: '3', HASH_KEY: 'query:room', REHOME_GRACE_MS: '300' });
    for (let k = 0; k < 2; k++) {
      const config = parseConfig(
        {
          PORT: '0',
          LB_ROLE: 'data-plane',
          CONTROLLER_URL: controller.url,
          HASH_KEY: 'query:room',
          REHOME_GRACE_MS: '300',
        },
        { driver: 'process' },
      );
      const instance = createDataPlaneInstance(config, { log: pino({ level: 'silent' }) });
      planes.push({ instance, url: await instance.start() });
    }
  });
  after(async () => {
    for (const plane of planes) await plane.instance.stop();
    await controller.stop();
  });

  it('300 tunnels (100 through each entry point); /add: the moved ones close, every other still echoes', async () => {
    const before = controller.lb.manager.router.members;
    const entries = [controller.url, ...planes.map((p) => p.url)];
    const rooms = await Promise.all(
      Array.from({ length: 300 }, (_, k) =>
        openRoom(entries[k % 3]!, `doc-${k}`).then((room) => ({ key: `doc-${k}`, room })),
      ),
    );
    for (const { key, room } of rooms) assert.equal(room.server, ownerOf(before, key));
    const closedEarly = rooms.filter(({ room }) => room.ws.readyState !== WebSocket.OPEN);
    assert.deepEqual(closedEarly, []);

    const added = await controller.call('POST', '/add', { n: 1 });
    assert.equal(added.status, 200, added.text);
    const after = controller.lb.manager.router.members;
    const moved = new Set(
      rooms.filter(({ key }) => ownerOf(after, key) !== ownerOf(before, key)).map(({ key }) => key),
    );
    assert.ok(moved.size > 20 && moved.size < 200, `${moved.size} of 300 keys moved`);
    // Past the grace (300 ms) and the data planes' long poll.
    await new Promise((r) => setTimeout(r, 1500));
    const closed = new Set(rooms.filter(({ room }) => room.ws.readyState !== WebSocket.OPEN).map(({ key }) => key));
    assert.deepEqual([...closed].sort(), [...moved].sort(), 'exactly the moved tunnels closed');
    await Promise.all(
      rooms
        .filter(({ key }) => !moved.has(key))
        .map(async ({ key, room }) => {
          room.ws.send(`still ${key}`);
          assert.equal((await room.next()).data.toString(), `still ${key}`);
          room.ws.close();
        }),
    );
    for (const key of [...moved].slice(0, 20)) {
      const again = await openRoom(entries[0]!, key);
      assert.equal(again.server, ownerOf(after, key), `${key} reconnects to its new owner`);
      again.ws.close();
    }
    const metrics = (await controller.call('GET', '/metrics')).text;
    assert.match(metrics, /^lb_tunnels_closed_total\{reason="rehome"\} \d+$/m);
  });
});
