import Docker from 'dockerode';
import pLimit from 'p-limit';
import type { ReplicaHandle } from '../membership/replica.js';
import {
  type DockerEngineOptions,
  dockerMessage,
  ensureNetwork,
  isOwnedBy,
  LABEL_OWNER,
  nameConflict,
  ownerFilter,
  ownerLabels,
  replicaEnv,
  replicaOf,
  replicaUrl,
  statusOf,
} from './docker-engine.js';
import { driverError, type ReplicaDriver } from './driver.js';

/** A new task answers in under a second here; pulling an image on a new node takes longer. */
const TASK_WAIT_MS = 60_000;

/** The fields of a swarm task this driver reads (`@types/dockerode` types tasks as any). */
interface Task {
  readonly ID: string;
  readonly Status: { readonly State: string };
  readonly NetworksAttachments?: {
    readonly Network: { readonly Spec: { readonly Name: string } };
    readonly Addresses?: string[];
  }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Replicas as Docker Swarm services, one task each, named as the replica and labelled with
 * owner, name and ring index, on an attachable overlay network. Swarm restarts a dead task by
 * itself; a flatlined replica is redeployed in place (a forced update of its service), so its
 * name and index never change. The LB reaches a replica at its running task's overlay address
 * (fresh DNS names are slow to resolve here, and a task's address is known the moment it runs).
 */
/** swarmkit's isValidDNSName. */
const SWARM_SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

export class SwarmDriver implements ReplicaDriver {
  readonly kind = 'swarm';
  private readonly limit = pLimit(4);
  /** The URL last handed out per replica: a running task elsewhere means swarm replaced it already. */
  private readonly handedOut = new Map<string, string>();

  constructor(
    private readonly docker: Docker,
    private readonly options: DockerEngineOptions,
  ) {}

  /** Connects to a swarm manager's engine and ensures the overlay network. */
  static async connect(options: DockerEngineOptions, docker = new Docker()): Promise<SwarmDriver> {
    let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    try {
      info = await docker.info();
    } catch (error) {
      throw driverError(`cannot reach the Docker engine: ${dockerMessage(error)}`);
    }
    if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable) {
      throw driverError('REPLICA_DRIVER=swarm needs the Docker engine of a swarm manager (docker swarm init)');
    }
    const driver = new SwarmDriver(docker, options);
    await driver.ensureNetwork();
    return driver;
  }

  serviceName(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  /** Swarm's rule for service names (swarmkit's validateAnnotations): a DNS name component, 63 at most. */
  nameProblem(name: string): string | undefined {
    const service = this.serviceName(name);
    if (SWARM_SERVICE_NAME.test(service) && service.length <= 63) return undefined;
    return `swarm refuses the service name '${service}' (CONTAINER_PREFIX + name): use letters, digits, '-' and '_', ending with a letter or digit, at most 63 in all`;
  }

  async start(name: string, index: number, weight: number): Promise<ReplicaHandle> {
    return this.limit(async () => {
      try {
        await this.docker.createService(this.spec(name, index, weight));
      } catch (error) {
        throw driverError(`cannot create service '${this.serviceName(name)}': ${dockerMessage(error)}`);
      }
      return this.handle({ name, index, weight }, await this.taskUrl(name));
    });
  }

  /** A flatlined replica: its service is force-updated (a new task, same name and index). */
  async restart(name: string, index: number, weight: number): Promise<ReplicaHandle> {
    return this.limit(async () => {
      const service = this.docker.getService(this.serviceName(name));
      let spec: { Version: { Index: number }; Spec: { TaskTemplate: { ForceUpdate?: number } } };
      try {
        spec = await service.inspect();
      } catch (error) {
        if (statusOf(error) !== 404)
          throw driverError(`cannot inspect service '${this.serviceName(name)}': ${dockerMessage(error)}`);
        await this.docker.createService(this.spec(name, index, weight));
        return this.handle({ name, index, weight }, await this.taskUrl(name));
      }
      const running = await this.runningTasks(name);
      // Swarm restarts a dead task by itself (at a new address): use that one rather than redeploy.
      const replaced = running
        .map((t) => this.urlOf(t))
        .find((url) => url !== undefined && url !== this.handedOut.get(name));
      if (replaced) return this.handle({ name, index, weight }, replaced);
      const before = new Set(running.map((t) => t.ID));
      const template = spec.Spec.TaskTemplate;
      // The version makes a concurrent redeploy by another controller fail ("update out of sequence").
      await service.update({
        version: spec.Version.Index,
        ...spec.Spec,
        TaskTemplate: { ...template, ForceUpdate: (template.ForceUpdate ?? 0) + 1 },
      });
      return this.handle({ name, index, weight }, await this.taskUrl(name, before));
    });
  }

  async stop(name: string): Promise<void> {
    await this.limit(async () => {
      try {
        const service = this.docker.getService(this.serviceName(name));
        const info = await service.inspect();
        if (!isOwnedBy(info.Spec.Labels, this.options.lbId))
          throw driverError(`service '${this.serviceName(name)}' is not managed by this load balancer; left alone`);
        await service.remove();
      } catch (error) {
        if (statusOf(error) === 404) return;
        throw error instanceof Error && !statusOf(error)
          ? error
          : driverError(`cannot remove service '${this.serviceName(name)}': ${dockerMessage(error)}`);
      }
    });
  }

  async list(): Promise<ReplicaHandle[]> {
    const services = await this.docker.listServices({
      filters: ownerFilter(this.options.lbId),
    });
    const handles: ReplicaHandle[] = [];
    for (const service of services) {
      const replica = replicaOf(service.Spec?.Labels ?? {});
      if (!replica) continue;
      const { name, index, weight } = replica;
      const [task] = await this.runningTasks(name);
      // No running task: the name still resolves on the overlay once one runs; heartbeats decide.
      handles.push(this.handle({ name, index, weight }, (task && this.urlOf(task)) ?? replicaUrl(name, this.options)));
    }
    return handles;
  }

  conflict(name: string): Promise<string | undefined> {
    const inspect = async () => (await this.docker.getService(this.serviceName(name)).inspect()).Spec.Labels;
    return nameConflict('service', inspect, this.options.lbId);
  }

  /** Services keep running: a restarted controller adopts them. */
  async close(): Promise<void> {}

  private ensureNetwork(): Promise<void> {
    const { network, lbId, log } = this.options;
    const labels = { [LABEL_OWNER]: lbId };
    return ensureNetwork(this.docker, log, { Name: network, Driver: 'overlay', Attachable: true, Labels: labels });
  }

  private spec(name: string, index: number, weight: number) {
    const labels = ownerLabels(this.options.lbId, { name, index, weight });
    return {
      Name: this.serviceName(name),
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: this.options.image,
          Hostname: name,
          Env: replicaEnv(name, this.options),
          Labels: labels,
          Init: true,
          StopGracePeriod: this.options.stopTimeoutMs * 1e6,
          // The LB's heartbeats watch the replica; the image's own check would hold a new task "starting" for 10 s.
          HealthCheck: { Test: ['NONE'] },
        },
        RestartPolicy: { Condition: 'any', Delay: 0 },
        Networks: [{ Target: this.options.network, Aliases: [name] }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      // No virtual IP: this kernel has no IPVS, and the LB addresses tasks itself.
      EndpointSpec: { Mode: 'dnsrr' },
    };
  }

  private async runningTasks(name: string): Promise<Task[]> {
    const tasks = (await this.docker.listTasks({
      filters: { service: [this.serviceName(name)], 'desired-state': ['running'] },
    })) as Task[];
    return tasks.filter((t) => t.Status.State === 'running');
  }

  /** The URL of the service's running task (a new one when `except` lists the old ones). */
  private async taskUrl(name: string, except: ReadonlySet<string> = new Set()): Promise<string> {
    const deadline = Date.now() + TASK_WAIT_MS;
    while (Date.now() < deadline) {
      const task = (await this.runningTasks(name)).find((t) => !except.has(t.ID));
      const url = task && this.urlOf(task);
      if (url) return url;
      await sleep(50);
    }
    throw driverError(`service '${this.serviceName(name)}' has no running task after ${TASK_WAIT_MS} ms`);
  }

  private urlOf(task: Task): string | undefined {
    const attachment = task.NetworksAttachments?.find((n) => n.Network.Spec.Name === this.options.network);
    const address = attachment?.Addresses?.[0]?.split('/')[0];
    return address ? replicaUrl(address, this.options) : undefined;
  }

  private handle(replica: { name: string; index: number; weight: number }, url: string): ReplicaHandle {
    this.handedOut.set(replica.name, url);
    return { ...replica, url };
  }
}
