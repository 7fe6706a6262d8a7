import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { send, spawnLb } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance } from '../../src/lb.js';

describe('admin calls relayed by a data plane to a stalled controller', () => {
  it('get a 503 within ADMIN_RELAY_TIMEOUT_MS that names the controller and says the outcome is unknown; forwarding goes on', async () => {
    const controller = await spawnLb({ N: '2', HASH_FUNCTION: 'given' });
    const config = parseConfig(
      {
        PORT: '0',
        LB_ROLE: 'data-plane',
        CONTROLLER_URL: controller.url,
        HASH_FUNCTION: 'given',
        ADMIN_RELAY_TIMEOUT_MS: '800',
      },
      { driver: 'process' },
    );
    const plane = createDataPlaneInstance(config, { log: pino({ level: 'silent' }) });
    const url = await plane.start();
    try {
      assert.equal((await send(url, 'GET', '/rep')).status, 200);
      process.kill(controller.pid, 'SIGSTOP');
      const [rep, add] = await Promise.all([send(url, 'GET', '/rep'), send(url, 'POST', '/add', { n: 1 })]);
      for (const answer of [rep, add]) {
        assert.equal(answer.status, 503);
        assert.deepEqual(answer.json, {
          message: `<Error> The controller (${controller.url}) did not answer within 800 ms (ADMIN_RELAY_TIMEOUT_MS); the outcome of this call is unknown (GET /rep shows the membership); requests are still forwarded on the last membership`,
          status: 'failure',
        });
      }
      assert.equal(
        (await send(url, 'GET', '/home', undefined, { 'x-request-id': '7' })).status,
        200,
        'forwarding goes on',
      );
    } finally {
      process.kill(controller.pid, 'SIGCONT');
      await plane.stop();
      await controller.stop();
    }
  });
});
