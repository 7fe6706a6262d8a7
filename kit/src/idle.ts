import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';

/** A process's resident memory now (bytes), 0 when it is gone. */
export function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** `count` keep-alive connections to `port` that each made one request and now sit idle, 250 at a time. */
export async function idleConnections(port: number, count: number, into: Socket[]): Promise<void> {
  for (let k = 0; k < count; k += 250) {
    await Promise.all(
      Array.from(
        { length: Math.min(250, count - k) },
        (_, j) =>
          new Promise<void>((resolve, reject) => {
            const socket = connect({ host: '127.0.0.1', port }, () =>
              socket.write(`GET /home HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${100000 + k + j}\r\n\r\n`),
            );
            socket.once('data', () => resolve());
            socket.on('error', reject);
            into.push(socket);
          }),
      ),
    );
  }
}

/** `count` WebSocket tunnels through `port` to `/ws` (distinct rooms), open and idle after their greeting. */
export async function idleTunnels(port: number, count: number, into: WebSocket[], first = 0): Promise<void> {
  for (let k = 0; k < count; k += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, count - k) }, (_, j) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=r${first + k + j}`);
        into.push(ws);
        return new Promise<void>((resolve, reject) => {
          ws.once('message', () => resolve());
          ws.once('error', reject);
        });
      }),
    );
  }
}

/** What `open` adds to processes' resident memory, per item opened (KiB), three ways. */
export interface Growth {
  /** The lowest readings before the first batch and after the second (bytes). */
  readonly before: number;
  readonly after: number;
  /** From before to after, both settled (V8 gave back what its young generation grew to under load). */
  readonly kib: number;
  /** The first batch, read at once: V8's young generation growth (up to 32 MiB, whatever the count) included. */
  readonly earlyKib: number;
  /** The second batch over the first, both read at once: what one more item keeps (the young generation grew already). */
  readonly marginalKib: number;
}

/**
 * Opens two batches of `count` items and reads the resident memory of the processes `pids()`.
 * Settled readings are the lowest over `settleMs` (every 500 ms): V8 gives back the heap its young
 * generation grew to under load only when its memory reducer runs, some 10-30 s after the load
 * stops, and not always. The marginal figure does not depend on it.
 */
export async function growthPerItem(
  pids: () => number[],
  open: (count: number) => Promise<void>,
  count: number,
  settleMs: number,
): Promise<Growth> {
  const rss = () => pids().reduce((sum, pid) => sum + rssOf(pid), 0);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const lowest = async () => {
    let low = Number.POSITIVE_INFINITY;
    for (let waited = 0; waited < settleMs; waited += 500) {
      await sleep(500);
      low = Math.min(low, rss());
    }
    return low;
  };
  const perItem = (bytes: number, items = count) => bytes / items / 1024;
  const before = await lowest();
  await open(count);
  await sleep(1000);
  const first = rss();
  await open(count);
  await sleep(1000);
  const second = rss();
  const after = await lowest();
  return {
    before,
    after,
    kib: perItem(after - before, 2 * count),
    earlyKib: perItem(first - before),
    marginalKib: perItem(second - first),
  };
}
