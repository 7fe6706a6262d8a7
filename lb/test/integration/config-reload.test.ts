import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningLb, replicasBody, send, startDataPlane, startLb, waitFor } from '../../../kit/src/lb.js';
import type { DataPlaneInstance } from '../../src/lb.js';

const dir = mkdtempSync(join(tmpdir(), 'lb-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

describe('GET /config and POST /config/reload', () => {
  const file = join(dir, 'lb.yaml');
  const token = { authorization: 'Bearer s3cret' };
  let lb: RunningLb;
  let plane: DataPlaneInstance;
  let planeUrl: string;
  before(async () => {
    writeFileSync(file, 'upstreamTimeoutMs: 4000\nreplicas: [alpha-1, {name: beta-2, weight: 2}]\n');
    lb = await startLb({ LB_CONFIG: file, ADMIN_TOKEN: 's3cret' });
    ({ instance: plane, url: planeUrl } = await startDataPlane(lb.url, { UPSTREAM_TIMEOUT_MS: '9000' }));
  });
  after(async () => {
    await plane?.stop();
    await lb?.stop();
  });

  it('starts the replicas the file lists, with their weights', async () => {
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(['alpha-1', 'beta-2']));
    const members = (await lb.call('GET', '/membership')).json.members;
    assert.deepEqual(
      members.map((m: { name: string; weight: number }) => [m.name, m.weight]),
      [
        ['alpha-1', 1],
        ['beta-2', 2],
      ],
    );
  });

  it('GET /config: every setting by its file name, the token redacted, version 1; a data plane keeps its own until a reload', async () => {
    const config = await lb.call('GET', '/config');
    assert.equal(config.status, 200);
    assert.equal(config.json.status, 'successful');
    const { version, settings, restartNeeded } = config.json.message;
    assert.deepEqual([version, restartNeeded], [1, []]);
    assert.deepEqual(
      [settings.upstreamTimeoutMs, settings.adminToken, settings.hashKey, settings.upstream404],
      [4000, '<redacted>', ['request-id'], 'contract'],
    );
    assert.ok(!config.text.includes('s3cret'));
    // Until a reload changes a run-time setting, a data plane's own environment means what it meant.
    assert.equal(plane.config.upstreamTimeoutMs, 9000);
    assert.deepEqual((await send(planeUrl, 'GET', '/config')).json.message.version, 1);
  });

  it('a reload needs the admin token; it applies run-time settings (here on the data plane too) and reports the rest', async () => {
    // Before: a replica's 404 is the contract's 400, on both entry points.
    for (const url of [lb.url, planeUrl]) assert.equal((await send(url, 'GET', '/nowhere')).status, 400);
    writeFileSync(
      file,
      'upstreamTimeoutMs: 4000\nupstream404: pass\nslots: 1024\nreplicas: [alpha-1, {name: beta-2, weight: 2}]\n',
    );
    const refused = await lb.call('POST', '/config/reload');
    assert.equal(refused.status, 401);
    assert.equal((await lb.call('GET', '/config')).json.message.version, 1, 'a refused call changed nothing');

    const reloaded = await lb.call('POST', '/config/reload', undefined, token);
    assert.equal(reloaded.status, 200, reloaded.text);
    assert.deepEqual(reloaded.json, {
      message: { version: 2, changed: ['upstream404'], restartNeeded: ['slots', 'k', 'maxReplicas'] },
      status: 'successful',
    });
    const config = (await lb.call('GET', '/config')).json.message;
    assert.deepEqual([config.version, config.settings.upstream404, config.settings.slots], [2, 'pass', 512]);
    assert.deepEqual(config.restartNeeded, ['slots', 'k', 'maxReplicas']);
    await waitFor('the data plane on version 2', () => (plane.config.upstream404 === 'pass' ? true : undefined), 5000);
    for (const url of [lb.url, planeUrl]) assert.equal((await send(url, 'GET', '/nowhere')).status, 404, url);
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(['alpha-1', 'beta-2']), 'membership kept');
  });

  it('a file that cannot be used: 400 with every error, nothing changed, counted; two reloads at once apply one after the other', async () => {
    writeFileSync(file, 'upstream404: drop\nupstreamTimeoutMs: -1\n');
    const bad = await lb.call('POST', '/config/reload', undefined, token);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, {
      message:
        "<Error> Configuration not reloaded, nothing changed: lb.yaml: upstream404 must be one of contract, pass (got 'drop'); lb.yaml: upstreamTimeoutMs must be an integer in 1..3600000 (got '-1')",
      status: 'failure',
    });
    const config = (await lb.call('GET', '/config')).json.message;
    assert.deepEqual(
      [config.version, config.settings.upstream404, config.settings.upstreamTimeoutMs],
      [2, 'pass', 4000],
    );
    assert.equal(metric((await lb.call('GET', '/metrics')).text, 'lb_config_reload_failures_total'), 1);

    writeFileSync(file, 'upstreamTimeoutMs: 3000\nreplicas: [alpha-1, {name: beta-2, weight: 2}]\n');
    const both = await Promise.all([1, 2].map(() => lb.call('POST', '/config/reload', undefined, token)));
    assert.deepEqual(
      both.map((answer) => answer.json.message),
      [
        { version: 3, changed: ['upstream404', 'upstreamTimeoutMs'], restartNeeded: [] },
        { version: 3, changed: [], restartNeeded: [] },
      ],
    );
    await waitFor(
      'the data plane on version 3',
      () => (plane.config.upstreamTimeoutMs === 3000 ? true : undefined),
      5000,
    );
    assert.equal(plane.config.upstream404, 'contract');
    const metrics = (await lb.call('GET', '/metrics')).text;
    assert.deepEqual([metric(metrics, 'lb_config_version'), metric(metrics, 'lb_data_plane_config_version')], [3, 3]);
  });
});
