import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { failureBody, type RunningLb, startLb, waitFor } from '../../../kit/src/lb.js';

/** Python's own HTTP server as the replica: not this project's server, another health path, its own 404. */
const python = (dir: string) => `python3 -m http.server {port} --bind 127.0.0.1 --directory ${dir}`;

describe('your own replicas with the process driver (REPLICA_COMMAND, HEALTH_PATH, UPSTREAM_404)', () => {
  let dir: string;
  let lb: RunningLb | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-own-'));
    await writeFile(join(dir, 'hello.txt'), 'hello from python\n');
  });
  after(async () => {
    await lb?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('routes to python http.server replicas, passes their 404 through, and respawns a killed one', async () => {
    lb = await startLb({ N: '3', REPLICA_COMMAND: python(dir), HEALTH_PATH: '/', UPSTREAM_404: 'pass' });
    const served = new Set<string>();
    for (let id = 100_000; id < 100_060; id++) {
      const answer = await lb.call('GET', '/hello.txt', undefined, { 'x-request-id': String(id) });
      assert.equal(answer.status, 200);
      assert.equal(answer.text, 'hello from python\n');
      assert.equal(answer.headers.get('x-request-id'), String(id));
      served.add(answer.headers.get('x-served-by')!);
    }
    assert.deepEqual([...served].sort(), ['Server-1', 'Server-2', 'Server-3']);

    const missing = await lb.call('GET', '/no-such-file');
    assert.equal(missing.status, 404, 'the service\'s own "not found" reaches the client');
    assert.match(missing.text, /File not found/);
    assert.ok(missing.headers.get('x-served-by'));

    const old = lb.pid('Server-2');
    process.kill(old, 'SIGKILL');
    await waitFor(
      'Server-2 respawned',
      () => {
        const pid = lb!.pid('Server-2');
        return lb!.lb.manager.router.has('Server-2') && pid !== undefined && pid !== old ? true : undefined;
      },
      10_000,
    );
    const again = await lb.call('GET', '/hello.txt');
    assert.equal(again.status, 200);
    await lb.stop();
    lb = undefined;
  });

  it("UPSTREAM_404=contract (the default) turns the service's 404 into the contract's 400", async () => {
    lb = await startLb({ N: '1', REPLICA_COMMAND: python(dir), HEALTH_PATH: '/', HEALTH_STATUS: '200' });
    const missing = await lb.call('GET', '/no-such-file');
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, failureBody("<Error> '/no-such-file' endpoint does not exist in server replicas"));
    await lb.stop();
    lb = undefined;
  });

  it('a REPLICA_COMMAND that exits, or never answers its health check, fails /add with a 500 naming the replica', async () => {
    lb = await startLb({
      N: '0',
      REPLICA_COMMAND: `python3 -c "import sys; sys.exit(3)"`,
      START_TIMEOUT_MS: '2000',
    });
    const exits = await lb.call('POST', '/add', { n: 1, hostnames: ['Quitter'] });
    assert.equal(exits.status, 500);
    assert.match(
      exits.json.message,
      /^<Error> Could not start Quitter \(replica 'Quitter' exited during start \(code 3\)\); nothing was added$/,
    );
    assert.deepEqual((await lb.call('GET', '/rep')).json.message, { N: 0, replicas: [] });
    await lb.stop();

    // Listens, but its health path answers 404: never healthy.
    lb = await startLb({ N: '0', REPLICA_COMMAND: python(dir), HEALTH_PATH: '/missing', START_TIMEOUT_MS: '1500' });
    const mute = await lb.call('POST', '/add', { n: 1, hostnames: ['Mute'] });
    assert.equal(mute.status, 500);
    assert.match(
      mute.json.message,
      /^<Error> Could not start Mute \(no heartbeat from http:\/\/127\.0\.0\.1:\d+ within 1500 ms\); nothing was added$/,
    );
    assert.deepEqual((await lb.call('GET', '/rep')).json.message, { N: 0, replicas: [] });
  });

  it("a replica's whole process group goes with it: a command that forks and exits at start, and one stopped by /rm", async () => {
    // The forked processes carry the replica's name in their environment (SERVER_ID), as every child does.
    const tag = `Fork${process.pid}`;
    await lb?.stop(); // the one the test before left for after()
    lb = await startLb({
      N: '0',
      // The server forks a sleeper into the background; at start, the shell exits at once (the LB refuses it).
      REPLICA_COMMAND: `sh -c 'sleep 300 & if [ "$SERVER_ID" = ${tag}a ]; then exit 0; fi; exec python3 -m http.server {port} --bind 127.0.0.1 --directory ${dir}'`,
      HEALTH_PATH: '/',
      START_TIMEOUT_MS: '3000',
    });
    const refused = await lb.call('POST', '/add', { n: 1, hostnames: [`${tag}a`] });
    assert.equal(refused.status, 500);
    await waitFor(
      'no process left of the refused replica',
      () => processesOf(`${tag}a`).length === 0 || undefined,
      3000,
    );

    const added = await lb.call('POST', '/add', { n: 1, hostnames: [`${tag}b`] });
    assert.equal(added.status, 200);
    assert.equal(processesOf(`${tag}b`).length, 2, 'the server and its forked sleeper run');
    assert.equal((await lb.call('DELETE', '/rm', { n: 1, hostnames: [`${tag}b`] })).status, 200);
    await waitFor(
      'no process left of the removed replica',
      () => processesOf(`${tag}b`).length === 0 || undefined,
      3000,
    );
  });
});

/** PIDs of the live processes whose environment names the replica `name` (SERVER_ID). */
function processesOf(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`SERVER_ID=${name}`)) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'latin1'))) continue; // exited, not reaped yet
      pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
