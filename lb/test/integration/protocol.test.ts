import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type RunningLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { given, Ring } from '../../src/routing/index.js';
import { rawExchange, statuses } from '../helpers/raw.js';
import { members } from '../helpers/ring.js';
import { StaticDriver, startUpstream } from '../helpers/upstream.js';

const run = promisify(execFile);
const NAMES = ['Server-1', 'Server-2', 'Server-3'];
const ring = Ring.of({ slots: 512, virtualServers: 9, hash: given }, members(3));
const idOwnedBy = (name: string) => {
  for (let id = 0; ; id++)
    if (ring.lookup(id)!.name === name) return { id: String(id), next: ring.candidates(id)[1]!.name };
};
const contractBody = (text: string) =>
  JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { message: string; status: string };

/** Writes `parts` one by one, `gapMs` apart, then waits for the answer; resolves with it and the time it took. */
function trickle(port: number, parts: string[], gapMs: number): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let k = 0;
    const timer = setInterval(() => {
      if (k < parts.length && !socket.destroyed) socket.write(parts[k++]!);
    }, gapMs);
    socket.on('data', (c) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ text, ms: Date.now() - started });
    });
  });
}

describe('protocol edges and passive health', () => {
  const upstreams = new Map<string, Awaited<ReturnType<typeof startUpstream>>>();
  let lb: RunningLb;
  let port: number;
  const metric = async (pattern: RegExp) => pattern.exec((await lb.call('GET', '/metrics')).text)?.[1];

  before(async () => {
    for (const name of NAMES) upstreams.set(name, await startUpstream(name));
    const driver = new StaticDriver(new Map(NAMES.map((n) => [n, upstreams.get(n)!.url])));
    lb = await startLb(
      {
        N: '3',
        HASH_FUNCTION: 'given',
        REQUEST_TIMEOUT_MS: '1000',
        OUTLIER_CONSECUTIVE_5XX: '3',
        OUTLIER_EJECTION_MS: '1500',
        HEARTBEAT_INTERVAL_MS: '60000',
      },
      driver,
    );
    port = Number(new URL(lb.url).port);
  });
  after(async () => {
    await lb.stop();
    for (const u of upstreams.values()) await u.close();
  });

  it('Expect: 100-continue: curl uploads 1.5 MiB with its default expectation, and the replica gets every byte', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lb-upload-')), 'body.bin');
    const body = randomBytes(1.5 * 1024 * 1024);
    writeFileSync(file, body);
    const { stdout, stderr } = await run('curl', [
      '-sv',
      '-X',
      'POST',
      '--data-binary',
      `@${file}`,
      '-H',
      'content-type: application/octet-stream',
      `${lb.url}/echo`,
    ]);
    assert.match(stderr, /> Expect: 100-continue/i, 'curl sent the expectation');
    assert.match(stderr, /< HTTP\/1\.1 100 Continue/);
    const echoed = JSON.parse(stdout);
    assert.equal(echoed.length, body.length);
    assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it("requests the LB will not forward are the client's 400s in the contract shape, and no replica is blamed", async () => {
    const { id } = idOwnedBy('Server-1');
    const cases = [
      [`OPTIONS * HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${id}\r\n\r\n`, /^<Error> Asterisk-form target/],
      [`GET * HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${id}\r\n\r\n`, /^<Error> Asterisk-form target/],
      [
        `GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Request-Id: ${id}\r\n\r\n`,
        /^<Error> Request has more than one Host header$/,
      ],
      [`CONNECT lb:443 HTTP/1.1\r\nHost: lb\r\n\r\n`, /^<Error> CONNECT is not supported/],
    ] as const;
    for (let round = 0; round < 3; round++) {
      for (const [raw, message] of cases) {
        const { text, closed } = await rawExchange(port, raw);
        assert.equal(statuses(text)[0], 400, raw);
        assert.match(contractBody(text).message, message);
        assert.equal(contractBody(text).status, 'failure');
        assert.ok(closed, 'the connection closes after a refusal');
      }
    }
    assert.equal(
      await metric(/^lb_upstream_failures_total\{[^}]*\} (\d+)$/m),
      undefined,
      'no upstream failure counted',
    );
    assert.equal(await metric(/^lb_unavailable_total (\d+)$/m), '0');
    const owner = await lb.call('GET', '/echo', undefined, { 'x-request-id': id });
    assert.equal(owner.headers.get('x-served-by'), 'Server-1', 'the owner still gets its ids');
  });

  it("an absolute-form target is served as its path (here the LB's own /rep); its authority becomes Host", async () => {
    const { text } = await rawExchange(port, 'GET http://elsewhere.example/rep HTTP/1.1\r\nHost: lb\r\n\r\n');
    assert.equal(statuses(text)[0], 200);
    assert.deepEqual(contractBody(text), { message: { N: 3, replicas: NAMES }, status: 'successful' });
    const forwarded = await rawExchange(
      port,
      'GET http://elsewhere.example:8080/echo HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 7\r\n\r\n',
    );
    assert.equal(statuses(forwarded.text)[0], 200);
    const seen = NAMES.flatMap((n) => upstreams.get(n)!.log.requests)
      .filter((r) => r.url === '/echo')
      .at(-1)!;
    assert.equal(seen.headers.host, 'elsewhere.example:8080');
  });

  it('REQUEST_TIMEOUT_MS bounds a trickled head and a trickled body (forwarded or admin) with a 408 in the contract shape', async () => {
    const head = `GET /echo HTTP/1.1\r\nHost: lb\r\nX-Slow: ${'x'.repeat(40)}\r\n\r\n`;
    const cases = [
      ['head, one byte every 100 ms', head.split('')],
      [
        'forwarded body',
        ['POST /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: 100\r\n\r\n', ...'y'.repeat(100).split('')],
      ],
      [
        'admin body',
        [
          'POST /add HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n',
          ...'{"n": 1}'.padEnd(50).split(''),
        ],
      ],
    ] as const;
    for (const [what, parts] of cases) {
      const { text, ms } = await trickle(port, [...parts], 100);
      assert.equal(statuses(text).at(-1), 408, `${what}: ${text.slice(0, 100)}`);
      assert.deepEqual(contractBody(text.slice(text.lastIndexOf('HTTP/1.1 408'))), {
        message: '<Error> Request not received within 1000 ms (REQUEST_TIMEOUT_MS)',
        status: 'failure',
      });
      assert.ok(ms >= 1000 && ms < 1400, `${what}: cut after ${ms} ms`);
    }
    assert.deepEqual((await lb.call('GET', '/rep')).json.message.N, 3, 'the trickled /add changed nothing');
  });

  it('REQUEST_TIMEOUT_MS runs from the first byte of a head that came in the same read as a whole request before it', async () => {
    // One write: a whole request, then the first bytes of a second head that never ends.
    const both = 'GET /echo HTTP/1.1\r\nHost: lb\r\n\r\nGET /echo HTTP/1.1\r\nHo';
    const { text, ms } = await trickle(port, [both], 10);
    assert.deepEqual(statuses(text), [200, 408], text.slice(0, 200));
    assert.deepEqual(contractBody(text.slice(text.lastIndexOf('HTTP/1.1 408'))), {
      message: '<Error> Request not received within 1000 ms (REQUEST_TIMEOUT_MS)',
      status: 'failure',
    });
    assert.ok(ms >= 1000 && ms < 1400, `cut after ${ms} ms`);
  });

  it('protocol errors answer in the contract shape: bad method, missing Host, oversized head, too many headers', async () => {
    const cases = [
      ['get /echo HTTP/1.1\r\nHost: lb\r\n\r\n', 400, /^<Error> Malformed HTTP request: /],
      ['GET /echo HTTP/1.1\r\n\r\n', 400, /^<Error> HTTP\/1\.1 request has no Host header$/],
      [
        `GET /echo HTTP/1.1\r\nHost: lb\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
        431,
        /^<Error> Malformed HTTP request: /,
      ],
      [
        `GET /echo HTTP/1.1\r\nHost: lb\r\n${Array.from({ length: 1100 }, (_, k) => `A${k}: v\r\n`).join('')}\r\n`,
        431,
        /^<Error> Request has 1101 header fields/,
      ],
    ] as const;
    for (const [raw, status, message] of cases) {
      const { text } = await rawExchange(port, raw);
      assert.equal(statuses(text)[0], status, raw.slice(0, 40));
      assert.match(contractBody(text).message, message);
      assert.equal(contractBody(text).status, 'failure');
    }
  });

  it('a replica answering 5xx in a row is ejected from routing choices for a while, counted in metrics and the dashboard', async () => {
    const { id, next } = idOwnedBy('Server-2');
    const failing = `/status?code=500&on=Server-2`;
    const served: string[] = [];
    for (let k = 0; k < 6; k++) {
      const res = await lb.call('GET', failing, undefined, { 'x-request-id': id });
      served.push(`${res.status} ${res.headers.get('x-served-by')}`);
    }
    // Three 500s from the owner, then the next replica clockwise answers.
    assert.deepEqual(served, [
      '500 Server-2',
      '500 Server-2',
      '500 Server-2',
      `200 ${next}`,
      `200 ${next}`,
      `200 ${next}`,
    ]);
    assert.equal(await metric(/^lb_outlier_ejections_total\{replica="Server-2"\} (\d+)$/m), '1');
    assert.equal(await metric(/^lb_replicas_ejected (\d+)$/m), '1');
    const state = (await lb.call('GET', '/dashboard/state')).json;
    assert.equal(state.replicas.find((r: { name: string }) => r.name === 'Server-2').ejected, true);
    // After the ejection period the owner gets its ids again.
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(
      (await lb.call('GET', '/echo', undefined, { 'x-request-id': id })).headers.get('x-served-by'),
      'Server-2',
    );
  });

  it("a connection idle past its parser's release (1 s), twice, still serves single and pipelined requests", async () => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await once(socket, 'connect');
    const answers = async (count: number) => {
      await waitFor(
        `${count} answers`,
        () => ((text.match(/HTTP\/1\.1 200/g) ?? []).length >= count ? true : undefined),
        3000,
      );
    };
    const get = (id: number) => `GET /echo?idle HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${id}\r\n\r\n`;
    socket.write(get(1));
    await answers(1);
    for (const round of [1, 2]) {
      await new Promise((r) => setTimeout(r, 1300)); // past the release (1 s, swept every 50 ms)
      socket.write(get(10 * round));
      await answers(1 + 3 * round - 2);
      socket.write(get(10 * round + 1) + get(10 * round + 2));
      await answers(1 + 3 * round);
    }
    assert.equal((text.match(/HTTP\/1\.1 200/g) ?? []).length, 7);
    socket.destroy();
  });

  it('an Upgrade request is served plainly, and requests pipelined behind it in the same write are served too', async () => {
    const upgrade =
      'GET /echo?u HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 5\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const plain = (k: number) => `GET /echo?p${k} HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 5\r\n\r\n`;
    const { text } = await rawExchange(port, upgrade + plain(1) + upgrade + plain(2));
    assert.deepEqual(statuses(text), [200, 200, 200, 200]);
    assert.doesNotMatch(text, /^HTTP\/1\.1 101/m);
  });

  it('bytes after an Upgrade request that are not HTTP get a 400 at once (in the same write or the next), then the connection closes', async () => {
    const upgrade =
      'GET /echo?u HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 5\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const frame = '\x81\x05hello'; // a WebSocket text frame, as a client that expected 101 would send
    const sameWrite = await rawExchange(port, upgrade + frame, 300, 2000);
    const socket = connect(port, '127.0.0.1');
    const nextWrite = await new Promise<{ text: string; closed: boolean }>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve({ text, closed: false }), 2000);
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (statuses(text).length === 1) socket.write(frame);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text, closed: true });
      });
      socket.write(upgrade);
    });
    for (const { text, closed } of [sameWrite, nextWrite]) {
      assert.deepEqual(statuses(text), [200, 400]);
      assert.ok(closed, 'the connection closes after the 400');
      assert.match(
        text,
        /"<Error> Bytes after an Upgrade request are not HTTP: this load balancer does not switch protocols"/,
      );
    }
  });

  it('pipelined requests are answered in order, and 20,000 in one write neither balloon memory nor stall another client', async () => {
    const three = ['/echo?1', '/echo?2', '/echo?3']
      .map((p) => `GET ${p} HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 5\r\n\r\n`)
      .join('');
    const { text } = await rawExchange(port, three);
    assert.deepEqual(statuses(text), [200, 200, 200]);
    const flood = `GET /echo HTTP/1.1\r\nHost: lb\r\n\r\n`.repeat(20_000);
    const rssBefore = process.memoryUsage().rss;
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let answered = 0;
    socket.on('data', (c: Buffer) => (answered += (c.toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length));
    socket.write(flood);
    // Meanwhile another client is served promptly.
    const started = Date.now();
    const other = await lb.call('GET', '/echo');
    const otherMs = Date.now() - started;
    assert.equal(other.status, 200);
    assert.ok(otherMs < 500, `another client waited ${otherMs} ms`);
    const grew = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grew < 60, `RSS grew ${grew.toFixed(0)} MiB`);
    const deadline = Date.now() + 30_000;
    while (answered < 20_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    assert.equal(answered, 20_000, 'every pipelined request was answered');
    console.log(`# 20,000 pipelined GETs: another client answered in ${otherMs} ms, RSS grew ${grew.toFixed(1)} MiB`);
  });
});
