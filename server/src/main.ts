import { hostname } from 'node:os';
import { pino } from 'pino';
import { buildServer } from './app.js';
import { buildGrpcServer, listenGrpc } from './grpc.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'server' } });

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 5000;
  const port = Number(raw);
  // 0 asks the OS for a free port; the process driver uses it and reads the port back over IPC.
  if (!/^\d+$/.test(raw) || port > 65535) {
    log.fatal(`PORT must be an integer in 0..65535 (got '${raw}')`);
    process.exit(2);
  }
  return port;
}

const id = process.env.SERVER_ID || hostname();
const port = parsePort(process.env.PORT);
const host = process.env.HOST || '0.0.0.0';
/** REPLICA_PROTOCOL=h2c: the replica speaks gRPC over HTTP/2 cleartext; otherwise HTTP/1.1 (Fastify). */
const protocol = process.env.REPLICA_PROTOCOL || 'http1';
if (protocol !== 'http1' && protocol !== 'h2c') {
  log.fatal(`REPLICA_PROTOCOL must be http1 or h2c (got '${protocol}')`);
  process.exit(2);
}

let stopping = false;
function onStop(close: () => Promise<void>): void {
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping: finishing in-flight requests');
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Started by the LB's process driver: exit with it, even if it was SIGKILLed.
  process.on('disconnect', () => void stop('parent gone'));
}

function listening(boundPort: number): void {
  log.info({ id, port: boundPort, protocol }, 'replica listening');
  process.send?.({ type: 'listening', port: boundPort });
}

if (protocol === 'h2c') {
  const grpc = buildGrpcServer(id);
  onStop(() => new Promise((resolve) => grpc.tryShutdown(() => resolve())));
  listening(await listenGrpc(grpc, host, port));
} else {
  const app = buildServer({ id, logger: log });
  onStop(() => app.close());
  await app.listen({ port, host });
  const address = app.server.address();
  listening(typeof address === 'object' && address ? address.port : port);
}
