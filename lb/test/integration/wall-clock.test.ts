import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Client } from 'undici';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { StaticDriver, startUpstream } from '../helpers/upstream.js';

const NAMES = ['Server-1', 'Server-2', 'Server-3'];
const HOUR_MS = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  /** One keep-alive connection to the LB, and whether it was ever closed. */
  const keepAlive = () => {
    const client = new Client(lb.url);
    let disconnects = 0;
    client.on('disconnect', () => disconnects++);
    const get = async (path: string) => {
      const { statusCode, headers, body } = await client.request({ method: 'GET', path });
      return { status: statusCode, servedBy: headers['x-served-by'], text: await body.text() };
    };
    return { get, disconnects: () => disconnects, close: () => client.close() };
  };
  /** The wall clock jumps `ms` ahead (NTP stepping it, a VM resumed), for this process. */
  const stepWallClock = (ms: number) => {
    Date.now = () => realNow() + ms;
  };

  it('an idle keep-alive connection stays open when the wall clock jumps an hour ahead, and serves the next request', async () => {
    const client = keepAlive();
    try {
      assert.equal((await client.get('/slow?ms=0')).status, 200);
      stepWallClock(HOUR_MS);
      await sleep(300); // six sweeps of the deadlines
      assert.equal(client.disconnects(), 0, 'the keep-alive connection was closed');
      assert.equal((await client.get('/slow?ms=0')).status, 200);
      assert.equal(client.disconnects(), 0, 'the second request needed a new connection');
    } finally {
      await client.close();
    }
  });

  it('a request in flight when the wall clock jumps an hour ahead is answered by its replica, not timed out and sent again', async () => {
    const client = keepAlive();
    const path = '/slow?ms=400&in-flight';
    try {
      const answer = client.get(path);
      await sleep(100);
      stepWallClock(HOUR_MS);
      const { status, servedBy, text } = await answer;
      assert.equal(status, 200, text);
      assert.equal(text, `slow ${servedBy}`);
      const sentTo = NAMES.filter((_, k) => upstreams[k]!.log.requests.some((r) => r.url === path));
      assert.deepEqual(sentTo, [servedBy], 'the request went to one replica, the one that answered');
      assert.deepEqual(
        upstreams.flatMap((u) => u.log.abandoned),
        [],
        'no replica had the request abandoned',
      );
    } finally {
      await client.close();
    }
  });
});
