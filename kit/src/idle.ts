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

/**
 * Resident memory that `open(count)` adds to the processes `pids()`, per item opened (KiB). Each
 * side is the lowest reading over `settleMs` (every 500 ms): V8 gives back the heap its young
 * generation grew to under load (up to 32 MiB, whatever the count) only when its memory reducer runs,
 * some 10-30 s after the load stops, so a window that long measures what each item keeps.
 * `earlyKib` is the growth at the first reading after opening, that heap included.
 */
export async function growthPerItem(
  pids: () => number[],
  open: (count: number) => Promise<void>,
  count: number,
  settleMs: number,
): Promise<{ before: number; after: number; kib: number; earlyKib: number }> {
  const rss = () => pids().reduce((sum, pid) => sum + rssOf(pid), 0);
  const lowest = async () => {
    const readings: number[] = [];
    for (let waited = 0; waited < settleMs; waited += 500) {
      await new Promise((r) => setTimeout(r, 500));
      readings.push(rss());
    }
    return { first: readings[0]!, lowest: Math.min(...readings) };
  };
  const before = (await lowest()).lowest;
  await open(count);
  const { first, lowest: after } = await lowest();
  const perItem = (bytes: number) => bytes / count / 1024;
  return { before, after, kib: perItem(after - before), earlyKib: perItem(first - before) };
}
