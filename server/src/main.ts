import { hostname } from 'node:os';
import { pino } from 'pino';
import { buildServer } from './app.js';

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
const app = buildServer({ id, logger: log });

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'stopping: finishing in-flight requests');
  await app.close();
  process.exit(0);
}

process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// Started by the LB's process driver: exit with it, even if it was SIGKILLed.
process.on('disconnect', () => void stop('parent gone'));

await app.listen({ port, host });
const address = app.server.address();
const boundPort = typeof address === 'object' && address ? address.port : port;
log.info({ id, port: boundPort }, 'replica listening');
process.send?.({ type: 'listening', port: boundPort });
