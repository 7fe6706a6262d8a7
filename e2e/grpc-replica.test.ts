import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { isolatedDocker } from '../kit/src/docker.js';
import { grpcClient, unary } from '../kit/src/grpc-client.js';
import { waitFor } from '../kit/src/lb.js';
import { freePort } from '../kit/src/net.js';
import { Ring, routingIdOf, sha256 } from '../lb/src/routing/index.js';

/** The container this run owns and removes. */
const name = `lbg${process.pid}`;
const docker = (...args: string[]) =>
  execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const engineUp = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

describe('the replica image in gRPC mode (REPLICA_PROTOCOL=h2c)', { skip: !engineUp && 'no Docker engine' }, () => {
  let address = '';
  before(async () => {
    execFileSync('make', ['-s', 'images'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const port = await freePort();
    docker(
      'run',
      '-d',
      '--rm',
      '--name',
      name,
      '-p',
      `127.0.0.1:${port}:5000`,
      '-e',
      'REPLICA_PROTOCOL=h2c',
      '-e',
      'SERVER_ID=Server-4',
      'lb-server',
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => {
    spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  });

  it('serves Who and the health check from the .proto files the image carries', async () => {
    const health = grpcClient('health.proto', ['grpc', 'health', 'v1', 'Health'], address);
    // The container needs a moment to listen; the health check is what says it does.
    let served: { status?: string } = {};
    for (let k = 0; k < 50 && served.status !== 'SERVING'; k++) {
      served = await unary<{ status: string }>(health, 'Check', { service: '' }).catch(() => ({}));
      if (served.status !== 'SERVING') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    health.close();
    assert.equal(served.status, 'SERVING');
    const echo = grpcClient('echo.proto', ['lb', 'v1', 'Echo'], address);
    assert.deepEqual(await unary(echo, 'Who', { key: 'k-1' }), { server: 'Server-4', key: 'k-1' });
    echo.close();
  });
});

describe('make up REPLICA_PROTOCOL=h2c: gRPC through the LB in Docker', {
  skip: !engineUp && 'no Docker engine',
}, () => {
  const id = `lbh${process.pid}`;
  let lb: ReturnType<typeof isolatedDocker>;
  before(async () => {
    lb = isolatedDocker(id, await freePort(), {
      REPLICA_PROTOCOL: 'h2c',
      HASH_KEY: 'header:x-user',
      HEARTBEAT_INTERVAL_MS: '300',
      N: '3',
    });
    lb.make('up');
  });
  after(() => {
    spawnSync('make', ['stop'], { env: lb.env, stdio: 'ignore' });
  });

  it("a key in metadata reaches the ring model's replica; a killed replica is replaced by the gRPC health check", async () => {
    const model = Ring.of(
      { slots: 512, virtualServers: 9, hash: sha256 },
      ['Server-1', 'Server-2', 'Server-3'].map((name, k) => ({ index: k + 1, name })),
    );
    const echo = grpcClient('echo.proto', ['lb', 'v1', 'Echo'], new URL(lb.url).host);
    const who = (user: string) => {
      const metadata = new Metadata();
      metadata.set('x-user', user);
      return new Promise<{ server: string }>((resolve, reject) =>
        echo.Who({ key: user }, metadata, (error: Error | null, reply: { server: string }) =>
          error ? reject(error) : resolve(reply),
        ),
      );
    };
    for (let k = 0; k < 60; k++) {
      const user = `user-${k}`;
      assert.equal((await who(user)).server, model.lookup(routingIdOf(user))!.name, user);
    }
    const before = docker('inspect', '-f', '{{.Id}}', lb.container('Server-2'));
    docker('kill', lb.container('Server-2'));
    await waitFor(
      'Server-2 respawned',
      () => {
        try {
          const now = docker('inspect', '-f', '{{.Id}} {{.State.Running}}', lb.container('Server-2'));
          return now !== `${before} true` && now.endsWith(' true') ? true : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    const user = [...Array(60).keys()]
      .map((k) => `user-${k}`)
      .find((u) => model.lookup(routingIdOf(u))!.name === 'Server-2')!;
    await waitFor(
      'Server-2 answering again',
      () =>
        who(user).then(
          (r) => r.server === 'Server-2' || undefined,
          () => undefined,
        ),
      20_000,
    );
    echo.close();
  });
});
