import { request } from 'undici';

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly ms: number;
  readonly servedBy: string | undefined;
}

export class UnreachableError extends Error {}

/** Sends one request to the LB; a refused or silent LB becomes an UnreachableError. */
export async function callLb(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<Reply> {
  const started = performance.now();
  try {
    const res = await request(`${baseUrl}${path}`, {
      method: method as 'GET',
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? '' : JSON.parse(text);
    } catch {
      // not JSON: show the text as it came
    }
    const servedBy = res.headers['x-served-by'];
    return {
      status: res.statusCode,
      body: parsed,
      ms: performance.now() - started,
      servedBy: typeof servedBy === 'string' ? servedBy : undefined,
    };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    throw new UnreachableError(`cannot reach the load balancer at ${baseUrl} (${e.code ?? e.message})`);
  }
}
