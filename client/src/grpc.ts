import { credentials, Metadata, status } from '@grpc/grpc-js';
import { loadService } from '../../server/src/grpc.js';
import { UnreachableError } from './api.js';

export interface WhoReply {
  readonly server: string;
  readonly key: string;
}

/** A gRPC call that failed: its status by name, and its message. */
export class GrpcCallError extends Error {}

/**
 * `lb.v1.Echo/Who` through the LB at `baseUrl` (HTTP/2 cleartext; the LB's replicas speak h2c),
 * `headers` as metadata: which replica answered `key`.
 */
export function whoOverGrpc(
  baseUrl: string,
  key: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<WhoReply> {
  const Echo = loadService('echo.proto', ['lb', 'v1', 'Echo']);
  const client = new Echo(new URL(baseUrl).host, credentials.createInsecure()) as unknown as EchoClient;
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return new Promise((resolve, reject) => {
    client.Who({ key }, metadata, { deadline: Date.now() + timeoutMs }, (error: GrpcError | null, reply: WhoReply) => {
      client.close();
      if (!error) resolve(reply);
      else if (error.code === status.UNAVAILABLE && error.details.startsWith('No connection established')) {
        const cause = /\b(E[A-Z]+)\b/.exec(error.details)?.[1] ?? 'no connection';
        reject(new UnreachableError(`cannot reach the load balancer at ${baseUrl} (${cause})`));
      } else reject(new GrpcCallError(`${status[error.code]} (${error.code}): ${error.details}`));
    });
  });
}

interface EchoClient {
  Who(
    request: { key: string },
    metadata: Metadata,
    options: { deadline: number },
    done: (error: GrpcError | null, reply: WhoReply) => void,
  ): void;
  close(): void;
}

interface GrpcError extends Error {
  readonly code: status;
  readonly details: string;
}
