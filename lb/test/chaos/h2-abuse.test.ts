import assert from 'node:assert/strict';
import { constants } from 'node:http2';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  FLAG,
  FRAME,
  frame,
  get,
  headerBlock,
  PREFACE,
  type RawH2,
  rawH2,
  rstStream,
  settings,
} from '../../../kit/src/h2-frames.js';
import { type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { StaticDriver, startUpstream } from '../helpers/upstream.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM } = constants;
const NAMES = ['Server-1', 'Server-2'];
const POST_HOME = headerBlock([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/home'],
  [':authority', 'lb'],
]);

/** What the attack's connection got: the GOAWAY code, and whether the LB closed it within `ms`. */
async function outcome(client: RawH2, ms = 3000): Promise<{ goaway: number | undefined; closed: boolean }> {
  const closed = await Promise.race([
    client.closed.then(() => true),
    new Promise<false>((r) => setTimeout(r, ms, false)),
  ]);
  client.socket.destroy();
  return { goaway: client.goawayCode(), closed };
}

/** RST_STREAM codes the LB sent on a connection. */
const resets = (client: RawH2) =>
  client.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => f.payload.readUInt32BE(0));

describe('HTTP/2 abuse: each gets a bounded answer, and other clients are served meanwhile', () => {
  const upstreams = new Map<string, Awaited<ReturnType<typeof startUpstream>>>();
  let lb: RunningLb;
  let port = 0;
  const forwarded = () => NAMES.reduce((sum, name) => sum + upstreams.get(name)!.log.requests.length, 0);
  /** Another client, on a connection of its own, during or right after the attack. */
  const othersServed = async () => {
    const answer = await send(lb.url, 'GET', '/bytes?n=16');
    assert.equal(answer.status, 200);
  };

  before(async () => {
    for (const name of NAMES) upstreams.set(name, await startUpstream(name));
  });
  after(async () => {
    for (const upstream of upstreams.values()) await upstream.close();
  });
  beforeEach(async () => {
    for (const upstream of upstreams.values()) upstream.log.requests.length = 0;
    const driver = new StaticDriver(new Map(NAMES.map((n) => [n, upstreams.get(n)!.url])));
    lb = await startLb({ N: '2', H2_MAX_CONCURRENT_STREAMS: '100', REQUEST_TIMEOUT_MS: '1000' }, driver);
    port = Number(new URL(lb.url).port);
  });
  afterEach(() => lb.stop());

  it('rapid reset (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM and closed, after at most a few hundred streams reached a replica', async () => {
    const client = await rawH2(port);
    const frames: Buffer[] = [];
    for (let stream = 1; stream < 40_000; stream += 2) frames.push(get(stream, '/home'), rstStream(stream, 8));
    client.send(Buffer.concat(frames));
    const during = othersServed();
    assert.deepEqual(await outcome(client), { goaway: NGHTTP2_ENHANCE_YOUR_CALM, closed: true });
    await during;
    assert.ok(forwarded() <= 400, `${forwarded()} of 20,000 reset streams reached a replica`);
  });

  for (const [name, flood] of [
    ['SETTINGS', () => settings()],
    ['PING', () => frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
  ] as const) {
    it(`a ${name} flood: GOAWAY ENHANCE_YOUR_CALM and closed`, async () => {
      const client = await rawH2(port);
      const one = flood();
      client.send(Buffer.concat(Array.from({ length: 20_000 }, () => one)));
      const during = othersServed();
      assert.deepEqual(await outcome(client), { goaway: NGHTTP2_ENHANCE_YOUR_CALM, closed: true });
      await during;
    });
  }

  it('a CONTINUATION flood (CVE-2024-27316), empty frames or not: GOAWAY ENHANCE_YOUR_CALM and closed, nothing forwarded', async () => {
    for (const piece of [headerBlock([['x-a', 'b']]), Buffer.alloc(0)]) {
      const client = await rawH2(port);
      const cont = frame(FRAME.CONTINUATION, 0, 1, piece);
      client.send(
        Buffer.concat([frame(FRAME.HEADERS, 0, 1, POST_HOME), ...Array.from({ length: 20_000 }, () => cont)]),
      );
      assert.deepEqual(await outcome(client), { goaway: NGHTTP2_ENHANCE_YOUR_CALM, closed: true });
    }
    await othersServed();
    assert.equal(forwarded(), 1); // the other client's
  });

  it('streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM); the first 100 are served, the session goes on', async () => {
    const client = await rawH2(port);
    const opened: Buffer[] = [];
    for (let stream = 1; stream < 600; stream += 2)
      opened.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, POST_HOME));
    client.send(Buffer.concat(opened));
    await waitFor('the answers', () => (resets(client).length >= 300 ? true : undefined), 5000);
    assert.equal(resets(client).filter((code) => code === NGHTTP2_REFUSED_STREAM).length, 200);
    assert.equal(forwarded(), 100);
    // The session is still good: a new stream (its id above every refused one) is answered.
    client.send(get(601, '/home'));
    await waitFor(
      'stream 601 answered',
      () => (client.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 601) ? true : undefined),
      3000,
    );
    assert.equal(client.goawayCode(), undefined);
    client.socket.destroy();
  });

  for (const [what, fields] of [
    ['an uppercase header name', [['X-Upper', 'a']]],
    ['a connection-specific header', [['connection', 'keep-alive']]],
    ['a transfer-encoding header', [['transfer-encoding', 'chunked']]],
  ] as const) {
    it(`${what}: RST_STREAM PROTOCOL_ERROR, never forwarded; the session goes on`, async () => {
      const client = await rawH2(port);
      client.send(get(1, '/home', fields));
      await waitFor('the reset', () => (resets(client).length > 0 ? true : undefined), 3000);
      assert.deepEqual(resets(client), [NGHTTP2_PROTOCOL_ERROR]);
      client.send(get(3, '/home'));
      await waitFor('stream 3 answered', () => (forwarded() === 1 ? true : undefined), 3000);
      client.socket.destroy();
    });
  }

  it(':path missing: RST_STREAM PROTOCOL_ERROR, never forwarded', async () => {
    const client = await rawH2(port);
    const block = headerBlock([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':authority', 'lb'],
    ]);
    client.send(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, block));
    await waitFor('the reset', () => (resets(client).length > 0 ? true : undefined), 3000);
    assert.deepEqual(resets(client), [NGHTTP2_PROTOCOL_ERROR]);
    assert.equal(forwarded(), 0);
    client.socket.destroy();
  });

  it('a client that never opens its window (and reads nothing) holds the replica back; the LB buffers little and serves others', async () => {
    const n = 64 << 20;
    const path = `/bytes?n=${n}`;
    // INITIAL_WINDOW_SIZE 0, and no WINDOW_UPDATE ever: not one byte of the answer may be sent to it.
    const client = await rawH2(port, Buffer.concat([PREFACE, settings([[4, 0]])]));
    client.send(get(1, path));
    await waitFor('the replica to start', () => (forwarded() === 1 ? true : undefined), 3000);
    await new Promise((r) => setTimeout(r, 1000));
    const [sent] = NAMES.map((name) => upstreams.get(name)!.log.sent.get(path) ?? 0).filter((bytes) => bytes > 0);
    assert.ok(
      sent !== undefined && sent < 16 << 20,
      `the replica sent ${sent} of ${n} bytes to a client that opened no window`,
    );
    await othersServed();
    client.socket.destroy();
  });
});
