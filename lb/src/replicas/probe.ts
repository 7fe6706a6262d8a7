import { Agent, request } from 'undici';

/**
 * Heartbeats use their own agents so they never queue behind proxied traffic, one per timeout:
 * the connect timeout must be the heartbeat's too (an abort does not cut undici's connect short,
 * and a vanished task's overlay address never answers: 10 s per heartbeat otherwise).
 */
const agents = new Map<number, Agent>();
function agentFor(timeoutMs: number): Agent {
  // Timeouts in 250 ms steps: a handful of agents, however many distinct timeouts callers pass.
  const step = Math.min(Math.max(Math.ceil(timeoutMs / 250) * 250, 250), 10_000);
  let agent = agents.get(step);
  if (!agent) {
    agent = new Agent({ keepAliveTimeout: 10_000, connections: 4, connect: { timeout: step } });
    agents.set(step, agent);
  }
  return agent;
}

/** What a heartbeat asks: GET `path` answers a status in one of `statuses` (inclusive ranges). */
export interface HealthCheck {
  readonly path: string;
  readonly statuses: readonly (readonly [number, number])[];
}

/** This project's server: GET /heartbeat answers 200. */
export const DEFAULT_HEALTH_CHECK: HealthCheck = { path: '/heartbeat', statuses: [[200, 200]] };

/** The probe of `check`: true when the replica answers it within `timeoutMs`. */
export function healthProbe(check: HealthCheck): Probe {
  return async (url, timeoutMs) => {
    try {
      const res = await request(`${url}${check.path}`, {
        dispatcher: agentFor(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return check.statuses.some(([from, to]) => res.statusCode >= from && res.statusCode <= to);
    } catch {
      return false;
    }
  };
}

/** True when `GET <url>/heartbeat` answers 200 within `timeoutMs`. */
export const probeHeartbeat: Probe = healthProbe(DEFAULT_HEALTH_CHECK);

export type Probe = (url: string, timeoutMs: number) => Promise<boolean>;

/** Polls the heartbeat until it answers; rejects after `timeoutMs`. */
export async function waitForHeartbeat(url: string, timeoutMs: number, probe: Probe = probeHeartbeat): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no heartbeat from ${url} within ${timeoutMs} ms`);
    if (await probe(url, Math.min(left, 1000))) return;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
  }
}
