import type { Client } from '@grpc/grpc-js';
import { credentials, type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { Probe } from './probe.js';

/**
 * grpc.health.v1 (grpc/grpc doc/health-checking.md), the part a heartbeat asks: `Check` of the
 * server as a whole (service ""). Declared here, not read from a .proto file, so the bundle
 * carries it.
 */
const HEALTH_PROTOCOL = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: {
                  methods: { Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' } },
                },
              },
            },
          },
        },
      },
    },
  },
};

type HealthClient = Client & {
  Check(
    request: { service: string },
    options: { deadline: number },
    done: (error: Error | null, reply?: { status: string }) => void,
  ): void;
};

let Health: ServiceClientConstructor | undefined;
function healthClient(address: string): HealthClient {
  Health ??= (
    loadPackageDefinition(fromJSON(HEALTH_PROTOCOL as Parameters<typeof fromJSON>[0], { enums: String })) as {
      grpc: { health: { v1: GrpcObject } };
    }
  ).grpc.health.v1.Health as ServiceClientConstructor;
  return new Health(address, credentials.createInsecure()) as unknown as HealthClient;
}

/** One channel per replica, kept between heartbeats (a failed one is closed and made anew). */
const clients = new Map<string, HealthClient>();
const MAX_CLIENTS = 1024;

/** The heartbeat of an h2c replica: `grpc.health.v1.Health/Check` answers SERVING within `timeoutMs`. */
export const grpcHealthProbe: Probe = (url, timeoutMs) => {
  const address = new URL(url).host;
  let client = clients.get(address);
  if (client === undefined) {
    if (clients.size >= MAX_CLIENTS) forgetAll();
    client = healthClient(address);
    clients.set(address, client);
  }
  const asked = client;
  return new Promise((resolve) => {
    asked.Check({ service: '' }, { deadline: Date.now() + timeoutMs }, (error, reply) => {
      if (error) forget(address, asked);
      resolve(!error && reply?.status === 'SERVING');
    });
  });
};

function forget(address: string, client: HealthClient): void {
  if (clients.get(address) === client) clients.delete(address);
  client.close();
}

function forgetAll(): void {
  for (const [address, client] of clients) forget(address, client);
}
