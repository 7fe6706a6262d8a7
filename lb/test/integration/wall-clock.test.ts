import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { StaticDriver, startUpstream } from '../helpers/upstream.js';

const NAMES = ['Server-1', 'Server-2', 'Server-3'];
const HOUR_MS = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One keep-alive connection to the LB: `ask` sends a GET and resolves with the next whole answer. */
function keepAlive(port: number) {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  let check: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    check?.();
  });
  socket.on('close', () => {
    closed = true;
    check?.();
  });
  socket.on('error', () => undefined);
  const whole = (): string | undefined => {
    const end = text.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
    if (text.length < end + 4 + length) return undefined;
    const answer = text.slice(0, end + 4 + length);
    text = text.slice(end + 4 + length);
    return answer;
  };
  const ask = (path: string) =>
    new Promise<string>((resolve, reject) => {
      check = () => {
        const answer = whole();
        if (answer !== undefined) resolve(answer);
        else if (closed) reject(new Error(`the LB closed the connection (${text || 'no answer'})`));
        else return;
        check = undefined;
      };
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  return { ask, closed: () => closed, close: () => socket.destroy() };
}

const statusOf = (answer: string) => Number(answer.split(' ', 2)[1]);

describe('deadlines on the monotonic clock: a step of the wall clock cuts nothing', () => {
  const upstreams: Awaited<ReturnType<typeof startUpstream>>[] = [];
  const realNow = Date.now;
  let lb: RunningLb;

  before(async () => {
    for (const name of NAMES) upstreams.push(await startUpstream(name));
    const driver = new StaticDriver(new Map(NAMES.map((name, k) => [name, upstreams[k]!.url])));
    lb = await startLb({ N: '3' }, driver);
  });
  afterEach(() => {
    Date.now = realNow;
  });
  after(async () => {
    await lb.stop();
    for (const upstream of upstreams) await upstream.close();
  });

  const port = () => Number(new URL(lb.url).port);
  /** The wall clock jumps `ms` ahead (NTP stepping it, a VM resumed), for this process. */
  const stepWallClock = (ms: number) => {
    Date.now = () => realNow() + ms;
  };

  it('an idle keep-alive connection stays open when the wall clock jumps an hour ahead, and serves the next request', async () => {
    const client = keepAlive(port());
    try {
      assert.equal(statusOf(await client.ask('/slow?ms=0')), 200);
      stepWallClock(HOUR_MS);
      await sleep(300); // six sweeps of the deadlines
      assert.equal(client.closed(), false, 'the keep-alive connection was closed');
      assert.equal(statusOf(await client.ask('/slow?ms=0')), 200);
    } finally {
      client.close();
    }
  });

  it('a request in flight when the wall clock jumps an hour ahead is answered by its replica, not timed out and sent again', async () => {
    const client = keepAlive(port());
    const path = '/slow?ms=400&in-flight';
    try {
      const answer = client.ask(path);
      await sleep(100);
      stepWallClock(HOUR_MS);
      const text = await answer;
      assert.equal(statusOf(text), 200, text);
      const servedBy = /\r\nx-served-by: (\S+)\r\n/i.exec(text)?.[1];
      const sentTo = NAMES.filter((_, k) => upstreams[k]!.log.requests.some((r) => r.url === path));
      assert.deepEqual(sentTo, [servedBy], 'the request went to one replica, the one that answered');
      assert.deepEqual(
        upstreams.flatMap((u) => u.log.abandoned),
        [],
        'no replica had the request abandoned',
      );
    } finally {
      client.close();
    }
  });
});
