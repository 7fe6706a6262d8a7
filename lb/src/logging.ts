import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

/**
 * The LB's logger: on a terminal, readable lines (pino-pretty, as Fastify's docs show); piped, in
 * a container or under a test, one JSON object a line, as log collectors want.
 */
export function createLogger(level: string, service: string): Logger {
  const options = { level, base: { service } };
  if (!process.stdout.isTTY) return pino(options);
  return pino(
    options,
    pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', singleLine: true }),
  );
}
