import { WebSocket } from 'ws';
import { UnreachableError } from './api.js';

export interface TunnelResult {
  /** What the tunnel received, in order: text as it came, binary as `<binary N bytes>`. */
  readonly received: string[];
  /** The replica that answered the upgrade (X-Served-By). */
  readonly servedBy: string | undefined;
}

/**
 * Opens a WebSocket through the LB to `path`, waits for the replica's first message, then sends
 * each of `messages` and waits for one message back for each; closes and returns what came.
 */
export async function openTunnel(
  baseUrl: string,
  path: string,
  messages: readonly string[],
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<TunnelResult> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`, { headers, handshakeTimeout: timeoutMs });
  const received: string[] = [];
  let servedBy: string | undefined;
  const waiting: (() => void)[] = [];
  ws.on('upgrade', (res) => {
    const by = res.headers['x-served-by'];
    servedBy = typeof by === 'string' ? by : undefined;
  });
  ws.on('message', (data: Buffer, binary) => {
    received.push(binary ? `<binary ${data.length} bytes>` : data.toString());
    waiting.shift()?.();
  });
  const nextMessage = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
      waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  try {
    const greeting = nextMessage();
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new UnreachableError(`the load balancer did not open a tunnel to ${path}: ${res.statusCode}`)),
      );
    });
    await greeting;
    for (const message of messages) {
      const echoed = nextMessage();
      ws.send(message);
      await echoed;
    }
    return { received, servedBy };
  } catch (error) {
    if (error instanceof UnreachableError) throw error;
    const e = error as { code?: string; message?: string };
    throw new UnreachableError(`tunnel to ${baseUrl}${path} failed (${e.code ?? e.message})`);
  } finally {
    ws.terminate();
  }
}
