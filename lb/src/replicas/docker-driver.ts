import Docker from 'dockerode';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { driverError, type ReplicaDriver, type ReplicaHandle } from './driver.js';

/** Labels that mark a container as a replica of one particular LB. */
export const LABEL_MANAGED = 'io.consistent-hash-lb.managed';
export const LABEL_OWNER = 'io.consistent-hash-lb.owner';
export const LABEL_INDEX = 'io.consistent-hash-lb.index';
export const LABEL_NAME = 'io.consistent-hash-lb.name';

/** The port replicas listen on inside their containers. */
const REPLICA_PORT = 5000;

export interface DockerDriverOptions {
  readonly network: string;
  readonly image: string;
  readonly lbId: string;
  /** Prefix of container names (empty by default); the network alias is always the bare name. */
  readonly containerPrefix: string;
  readonly log: Logger;
}

/** Docker's error text, without dockerode's "(HTTP code 404) no such container -" preamble. */
export function dockerMessage(error: unknown): string {
  const e = error as { json?: { message?: string }; reason?: string; message?: string };
  return e.json?.message ?? e.message ?? String(error);
}

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;

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
    private readonly options: DockerDriverOptions,
  ) {}

  /** Connects to the engine (DOCKER_HOST or the socket), checks it answers, and ensures the network. */
  static async connect(config: Config, log: Logger, docker = new Docker()): Promise<DockerDriver> {
    const driver = new DockerDriver(docker, {
      network: config.network,
      image: config.serverImage,
      lbId: config.lbId,
      containerPrefix: config.containerPrefix,
      log,
    });
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
    return `${this.options.containerPrefix}${name}`;
  }

  async ensureNetwork(): Promise<void> {
    const { network } = this.options;
    const found = await this.docker.listNetworks({ filters: { name: [network] } });
    if (found.some((n) => n.Name === network)) return;
    try {
      await this.docker.createNetwork({ Name: network, Driver: 'bridge', CheckDuplicate: true, Labels: this.labels() });
      this.options.log.info({ network }, 'created network');
    } catch (error) {
      if (statusOf(error) !== 409) throw driverError(`cannot create network '${network}': ${dockerMessage(error)}`);
    }
  }

  start(name: string, index: number): Promise<ReplicaHandle> {
    return this.limit(async () => {
      const { network, image } = this.options;
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer({
          name: this.containerName(name),
          Hostname: name,
          Image: image,
          Env: [`SERVER_ID=${name}`, `PORT=${REPLICA_PORT}`],
          Labels: { ...this.labels(), [LABEL_INDEX]: String(index), [LABEL_NAME]: name },
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
      return { name, index, url: `http://${name}:${REPLICA_PORT}` };
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
      if (!this.isOurs(info.Config.Labels)) {
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
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_OWNER}=${this.options.lbId}`] },
    });
    const handles: ReplicaHandle[] = [];
    for (const c of containers) {
      const name = c.Labels[LABEL_NAME];
      const index = Number(c.Labels[LABEL_INDEX]);
      if (c.State === 'running' && name && Number.isInteger(index) && index > 0) {
        handles.push({ name, index, url: `http://${name}:${REPLICA_PORT}` });
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

  async conflict(name: string): Promise<string | undefined> {
    try {
      const info = await this.docker.getContainer(this.containerName(name)).inspect();
      return this.isOurs(info.Config.Labels)
        ? `a container of this load balancer already has that name`
        : `a container this load balancer does not manage already has that name`;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      return `the Docker engine did not answer: ${dockerMessage(error)}`;
    }
  }

  /** Replica containers outlive the LB on purpose: the next LB adopts them. */
  async close(): Promise<void> {}

  private labels(): Record<string, string> {
    return { [LABEL_MANAGED]: 'true', [LABEL_OWNER]: this.options.lbId };
  }

  private isOurs(labels: Record<string, string> | null | undefined): boolean {
    return labels?.[LABEL_MANAGED] === 'true' && labels[LABEL_OWNER] === this.options.lbId;
  }
}
