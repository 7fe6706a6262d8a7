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

/** True when `GET <url>/heartbeat` answers 200 within `timeoutMs`. */
export async function probeHeartbeat(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(`${url}/heartbeat`, {
      dispatcher: agentFor(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

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
