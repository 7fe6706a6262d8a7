import { spawn } from 'node:child_process';

/** What one h2load run measured. */
export interface H2Sample {
  /** Requests (streams) per second; for a handshake run, connections per second. */
  rps: number;
  /** Mean time for a request, ms. */
  mean_ms: number;
  errors: number;
  requests: number;
}

export interface H2Load {
  readonly url: string;
  /** Connections, and streams in flight on each. */
  readonly clients: number;
  readonly streams: number;
  /** Run for this long; or, with `requests`, until that many are done (one per client: new connections). */
  readonly seconds?: number;
  readonly requests?: number;
  readonly headers?: readonly string[];
  /** A file sent as each request's body (POST). */
  readonly body?: string;
}

/** One h2load run (nghttp2's C load generator: HTTP/2 prior knowledge on http://, ALPN h2 on https://). */
export function h2loadRun(load: H2Load): Promise<H2Sample> {
  const args = [`-c${load.clients}`, `-m${load.streams}`];
  if (load.requests !== undefined) args.push(`-n${load.requests}`);
  else args.push(`-D${load.seconds ?? 5}`);
  for (const header of load.headers ?? []) args.push('-H', header);
  if (load.body) args.push('-d', load.body);
  args.push(load.url);
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', () => {
      const number = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
      const finished = /finished in ([\d.]+)(ms|s),/.exec(out);
      const seconds = finished ? Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1) : 0;
      const done = number(/requests: \d+ total, \d+ started, (\d+) done/);
      const failed = number(/requests: .* (\d+) failed/) + number(/requests: .* (\d+) errored/);
      const non2xx =
        number(/status codes: \d+ 2xx, (\d+) 3xx/) +
        number(/status codes: .* (\d+) 4xx/) +
        number(/status codes: .* (\d+) 5xx/);
      const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
      resolve({
        rps: seconds > 0 ? done / seconds : 0,
        mean_ms: mean ? Number(mean[1]) * (mean[2] === 'us' ? 1e-3 : mean[2] === 's' ? 1000 : 1) : 0,
        errors: failed + non2xx,
        requests: done,
      });
    });
  });
}
