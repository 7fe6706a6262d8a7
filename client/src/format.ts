import { inspect } from 'node:util';
import type { Reply } from './api.js';

const paint = (on: boolean, code: number, text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);

/**
 * On a terminal: a colored status line and pretty JSON. Piped: the JSON body alone,
 * one document per line, so `| jq` works.
 */
export function formatReply(reply: Reply, tty: boolean): string {
  if (!tty) return typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  const ok = reply.status >= 200 && reply.status < 300;
  const by = reply.servedBy ? `  served by ${reply.servedBy}` : '';
  const head = paint(true, ok ? 32 : 31, `${reply.status}`) + paint(true, 2, `  ${reply.ms.toFixed(1)} ms${by}`);
  const body =
    typeof reply.body === 'string'
      ? reply.body
      : inspect(reply.body, { colors: true, depth: null, compact: 3, breakLength: 80 });
  return `${head}\n${body}`;
}

export function formatError(message: string, tty: boolean): string {
  return tty ? paint(true, 31, `error: ${message}`) : `error: ${message}`;
}
