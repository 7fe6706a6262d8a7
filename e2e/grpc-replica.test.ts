import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { grpcClient, unary } from '../kit/src/grpc-client.js';
import { freePort } from '../kit/src/net.js';

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
