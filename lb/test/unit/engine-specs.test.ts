import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { pino } from 'pino';
import { DockerDriver } from '../../src/replicas/docker-driver.js';
import type { DockerEngineOptions } from '../../src/replicas/docker-engine.js';
import type { ReplicaDriver } from '../../src/replicas/driver.js';
import { SwarmDriver } from '../../src/replicas/swarm-driver.js';

const options: DockerEngineOptions = {
  network: 'appnet',
  image: 'my-app:1',
  lbId: 'lb7',
  prefix: 't-',
  stopTimeoutMs: 5000,
  replicaPort: 8080,
  replicaEnv: ['MODE=prod', 'PORT=1'],
  log: pino({ level: 'silent' }),
};

interface ServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: { ContainerSpec: { Env: string[]; Image: string } };
}
interface ContainerSpec {
  name: string;
  Image: string;
  Hostname: string;
  Env: string[];
  Labels: Record<string, string>;
}

/** What the drivers ask of the engine, recorded; a service's task runs at 10.0.9.7 at once. */
function fakeEngine() {
  const calls: { createService?: ServiceSpec; createContainer?: ContainerSpec } = {};
  const engine = {
    createService: async (spec: ServiceSpec) => {
      calls.createService = spec;
    },
    listTasks: async () => [
      {
        ID: 'task1',
        Status: { State: 'running' },
        NetworksAttachments: [{ Network: { Spec: { Name: 'appnet' } }, Addresses: ['10.0.9.7/24'] }],
      },
    ],
    createContainer: async (spec: ContainerSpec) => {
      calls.createContainer = spec;
      return { start: async () => undefined };
    },
  };
  return { engine: engine as unknown as Docker, calls };
}

describe('your own image and weights in the engine specs (Docker and swarm drivers, fake engine)', () => {
  it('swarm: the service runs the image with REPLICA_ENV, SERVER_ID and REPLICA_PORT, labelled with index and weight', async () => {
    const { engine, calls } = fakeEngine();
    const handle = await new SwarmDriver(engine, options).start('Big', 4, 2);
    assert.deepEqual(handle, { name: 'Big', index: 4, weight: 2, url: 'http://10.0.9.7:8080' });
    const spec = calls.createService!;
    assert.equal(spec.Name, 't-Big');
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Env, ['MODE=prod', 'PORT=1', 'SERVER_ID=Big', 'PORT=8080']);
    assert.equal(spec.TaskTemplate.ContainerSpec.Image, 'my-app:1');
    assert.deepEqual(spec.Labels, {
      'io.consistent-hash-lb.managed': 'true',
      'io.consistent-hash-lb.owner': 'lb7',
      'io.consistent-hash-lb.name': 'Big',
      'io.consistent-hash-lb.index': '4',
      'io.consistent-hash-lb.weight': '2',
    });
  });

  it('docker: the container likewise, reached by its name on REPLICA_PORT', async () => {
    const { engine, calls } = fakeEngine();
    const handle = await new DockerDriver(engine, options).start('Big', 4, 2);
    assert.deepEqual(handle, { name: 'Big', index: 4, weight: 2, url: 'http://Big:8080' });
    const spec = calls.createContainer!;
    assert.deepEqual([spec.name, spec.Image, spec.Hostname], ['t-Big', 'my-app:1', 'Big']);
    assert.deepEqual(spec.Env, ['MODE=prod', 'PORT=1', 'SERVER_ID=Big', 'PORT=8080']);
    assert.equal(spec.Labels['io.consistent-hash-lb.weight'], '2');
  });

  it('swarm: names swarm would refuse for the service (CONTAINER_PREFIX + name) are named before anything starts', () => {
    const { engine } = fakeEngine();
    const swarm = new SwarmDriver(engine, options);
    for (const name of ['Big', 'a_b', 'Server-12', 'x'.repeat(61)])
      assert.equal(swarm.nameProblem(name), undefined, name);
    for (const name of ['a.b', 'ends-', 'ends_', 'x'.repeat(62)]) {
      assert.match(
        swarm.nameProblem(name) ?? '',
        /^swarm refuses the service name 't-.+' \(CONTAINER_PREFIX \+ name\)/,
        name,
      );
    }
    // The Docker driver's container names (prefix + any contract-valid name) are all valid: no extra rule.
    assert.equal((new DockerDriver(engine, options) as ReplicaDriver).nameProblem, undefined);
  });
});
