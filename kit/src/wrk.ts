import { spawn } from 'node:child_process';

/** wrk against `/home` for `seconds`; resolves to its summary (requests, non-2xx, socket errors). */
export function wrk(port: number, seconds: number, connections: number) {
  return new Promise<{
    requests: number;
    non2xx: number;
    connect: number;
    read: number;
    write: number;
    timeout: number;
  }>((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/home`]);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', () => {
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const [connect, read, write, timeout] = (errors?.slice(1) ?? [0, 0, 0, 0]).map(Number) as number[];
      resolve({
        requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        connect: connect!,
        read: read!,
        write: write!,
        timeout: timeout!,
      });
    });
  });
}
