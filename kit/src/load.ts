import pLimit from 'p-limit';
import { Pool } from 'undici';

export interface LoadOptions {
  readonly url: string;
  readonly requests: number;
  readonly concurrency: number;
  readonly path?: string;
  readonly timeoutMs?: number;
  /** Checked before each request: once true, the rest are not sent (timed runs). */
  readonly stopWhen?: (elapsedMs: number) => boolean;
  /** Called after each request (progress bars, timelines). */
  readonly onResult?: (result: RequestResult) => void;
  /** Request number k (0-based) as sent: its own path and headers (a routing key), else `path`. */
  readonly request?: (k: number) => KeyedRequest;
}

export interface KeyedRequest {
  readonly path?: string;
  readonly headers?: Record<string, string>;
}

/** Where a routing key goes in a request: `header:NAME`, `cookie:NAME` or `query:NAME`. */
export function keyedRequest(source: string, path: string): (key: string) => KeyedRequest {
  const [kind, name] = [source.slice(0, source.indexOf(':')), source.slice(source.indexOf(':') + 1)];
  if (!name) throw new Error(`a key source is header:NAME, cookie:NAME or query:NAME (got '${source}')`);
  if (kind === 'header') return (key) => ({ path, headers: { [name]: key } });
  if (kind === 'cookie') return (key) => ({ path, headers: { cookie: `${name}=${key}` } });
  if (kind === 'query') {
    const join = path.includes('?') ? '&' : '?';
    return (key) => ({ path: `${path}${join}${encodeURIComponent(name)}=${encodeURIComponent(key)}` });
  }
  throw new Error(`a key source is header:NAME, cookie:NAME or query:NAME (got '${source}')`);
}

export interface RequestResult {
  /** Milliseconds since the run started, at completion. */
  readonly at: number;
  /** The replica named in "Hello from Server: <name>", if any. */
  readonly server: string | undefined;
  readonly status: number;
}

export interface LoadSummary {
  readonly requests: number;
  readonly counts: Record<string, number>;
  readonly failed: number;
  readonly seconds: number;
  readonly rps: number;
  /** Mean and standard deviation of the per-replica counts. */
  readonly mean: number;
  readonly sd: number;
}

const HELLO = /Hello from Server: (.+)$/;

/** Which replica answered, from the body the contract fixes. */
export function serverOf(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? HELLO.exec(message)?.[1] : undefined;
}

export function meanAndSd(values: readonly number[]): { mean: number; sd: number } {
  if (values.length === 0) return { mean: 0, sd: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return { mean, sd };
}

/**
 * Sends `requests` GETs over keep-alive connections with at most `concurrency`
 * in flight; counts answers per replica. Replicas listed in `known` count even at 0.
 */
export async function runLoad(options: LoadOptions, known: readonly string[] = []): Promise<LoadSummary> {
  const { url, requests, concurrency, path = '/home', timeoutMs = 10_000, onResult, stopWhen, request } = options;
  const pool = new Pool(url, {
    connections: concurrency,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const limit = pLimit(concurrency);
  const counts: Record<string, number> = Object.fromEntries(known.map((name) => [name, 0]));
  let failed = 0;
  let sent = 0;
  const started = performance.now();

  const one = async (k: number) => {
    if (stopWhen?.(performance.now() - started)) return;
    sent++;
    let server: string | undefined;
    let status = 0;
    try {
      const keyed = request?.(k);
      const res = await pool.request({ path: keyed?.path ?? path, method: 'GET', headers: keyed?.headers });
      status = res.statusCode;
      const body = await res.body.json().catch(() => undefined);
      server = status === 200 ? serverOf(body) : undefined;
    } catch {
      status = 0;
    }
    if (server) counts[server] = (counts[server] ?? 0) + 1;
    else failed++;
    onResult?.({ at: performance.now() - started, server, status });
  };

  try {
    await Promise.all(Array.from({ length: requests }, (_, k) => limit(() => one(k))));
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const { mean, sd } = meanAndSd(Object.values(counts));
  return { requests: sent, counts, failed, seconds, rps: sent / seconds, mean, sd };
}
