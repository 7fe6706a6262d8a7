import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hashFunctionByName, Ring } from '../../src/routing/index.js';
import { isAlive, send, spawnLb, waitFor } from '../../../kit/src/lb.js';

const childPids = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const serverIdOf = (pid: number) => /SERVER_ID=([^\0]+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];

describe('graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish (here by failing over off a hung replica), then stops every replica', async () => {
    const lb = await spawnLb({ N: '3', HASH_FUNCTION: 'given', UPSTREAM_TIMEOUT_MS: '1000', STOP_TIMEOUT_MS: '1000' });
    const url = lb.url;
    const replicas = childPids(lb.pid);
    const server1 = replicas.find((pid) => serverIdOf(pid) === 'Server-1')!;
    const ring = Ring.of({ slots: 512, virtualServers: 9, hash: hashFunctionByName('given') }, [1, 2, 3].map((i) => ({ index: i, name: `Server-${i}` })));
    const id = [...Array(1000).keys()].map((k) => k + 100000).find((k) => ring.lookup(k)!.name === 'Server-1')!;

    process.kill(server1, 'SIGSTOP'); // accepts connections, never answers
    const inFlight = send(url, 'GET', '/home', undefined, { 'x-request-id': String(id) });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const exited = lb.stop('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.notEqual(answer.headers.get('x-served-by'), 'Server-1');
    assert.equal(await exited, 0);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `shutdown took ${took} ms`);
    await waitFor('replicas gone', () => replicas.every((pid) => !isAlive(pid)) || undefined, 3000);
  });
});
