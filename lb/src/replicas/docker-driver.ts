import Docker from 'dockerode';
import pLimit from 'p-limit';
import type { ReplicaHandle } from '../membership/replica.js';
import {
  type DockerEngineOptions,
  dockerMessage,
  ensureNetwork,
  isOwnedBy,
  nameConflict,
  ownerFilter,
  ownerLabels,
  replicaEnv,
  replicaOf,
  replicaUrl,
  statusOf,
} from './docker-engine.js';
import { driverError, type ReplicaDriver } from './driver.js';

/**
 * Replicas as containers on the LB's network, reached by name. The LB only ever
 * touches containers that carry its labels (its owner id included), so two LBs on
 * one engine, or any other container, are left alone.
 */
export class DockerDriver implements ReplicaDriver {
  readonly kind = 'docker';
  /** Bounded concurrency for engine calls: a burst of /add must not flood the daemon. */
  private readonly limit = pLimit(4);

  constructor(
    private readonly docker: Docker,
    private readonly options: DockerEngineOptions,
  ) {}

  /** Connects to the engine (DOCKER_HOST or the socket), checks it answers, and ensures the network. */
  static async connect(options: DockerEngineOptions, docker = new Docker()): Promise<DockerDriver> {
    const driver = new DockerDriver(docker, options);
    try {
      await docker.ping();
    } catch (error) {
      const hint =
        (error as { code?: string }).code === 'EACCES'
          ? " (run with the socket's group: DOCKER_GID=$(stat -c %g /var/run/docker.sock), as make up does)"
          : '';
      throw driverError(`cannot reach the Docker engine: ${dockerMessage(error)}${hint}`);
    }
    await driver.ensureNetwork();
    return driver;
  }

  containerName(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  ensureNetwork(): Promise<void> {
    const { network, lbId, log } = this.options;
    return ensureNetwork(this.docker, log, { Name: network, Driver: 'bridge', Labels: ownerLabels(lbId) });
  }

  start(name: string, index: number, weight: number): Promise<ReplicaHandle> {
    return this.limit(async () => {
      const { network, image } = this.options;
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer({
          name: this.containerName(name),
          Hostname: name,
          Image: image,
          Env: replicaEnv(name, this.options),
          Labels: ownerLabels(this.options.lbId, { name, index, weight }),
          HostConfig: { NetworkMode: network, RestartPolicy: { Name: 'no' }, Init: true },
          NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [name] } } },
        });
      } catch (error) {
        throw driverError(`cannot create container '${this.containerName(name)}': ${dockerMessage(error)}`);
      }
      try {
        await container.start();
      } catch (error) {
        await container.remove({ force: true }).catch(() => undefined);
        throw driverError(`cannot start container '${this.containerName(name)}': ${dockerMessage(error)}`);
      }
      return { name, index, weight, url: replicaUrl(name, this.options) };
    });
  }

  /** `docker stop -t` (SIGTERM, grace, SIGKILL), then remove. Refuses containers without our label. */
  stop(name: string, graceMs: number): Promise<void> {
    return this.limit(async () => {
      const container = this.docker.getContainer(this.containerName(name));
      let info: Docker.ContainerInspectInfo;
      try {
        info = await container.inspect();
      } catch (error) {
        if (statusOf(error) === 404) return;
        throw driverError(`cannot inspect '${this.containerName(name)}': ${dockerMessage(error)}`);
      }
      if (!isOwnedBy(info.Config.Labels, this.options.lbId)) {
        throw driverError(`container '${this.containerName(name)}' is not managed by this load balancer; left alone`);
      }
      try {
        if (info.State.Running && graceMs > 0) await container.stop({ t: Math.ceil(graceMs / 1000) });
        await container.remove({ force: true });
      } catch (error) {
        if (statusOf(error) !== 404 && statusOf(error) !== 304) {
          throw driverError(`cannot remove '${this.containerName(name)}': ${dockerMessage(error)}`);
        }
      }
    });
  }

  /** Our running replicas (adopted at start); our dead ones are removed. */
  async list(): Promise<ReplicaHandle[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: ownerFilter(this.options.lbId),
    });
    const handles: ReplicaHandle[] = [];
    for (const c of containers) {
      const replica = replicaOf(c.Labels);
      if (c.State === 'running' && replica) {
        handles.push({ ...replica, url: replicaUrl(replica.name, this.options) });
      } else {
        this.options.log.info({ container: c.Names[0], state: c.State }, 'removing dead replica container');
        await this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    }
    return handles;
  }

  conflict(name: string): Promise<string | undefined> {
    const inspect = async () => (await this.docker.getContainer(this.containerName(name)).inspect()).Config.Labels;
    return nameConflict('container', inspect, this.options.lbId);
  }

  /** Replica containers outlive the LB on purpose: the next LB adopts them. */
  async close(): Promise<void> {}
}
