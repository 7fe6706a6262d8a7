import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** The middle value (the mean of the two middle ones for an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface Sample {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
}

/** utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux: 10 ms each). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

const TICK_US = 10_000;

/** CPU microseconds the processes spent while `run` ran. */
export async function withCpu<T>(pids: () => number[], run: () => Promise<T>): Promise<{ result: T; cpuUs: number }> {
  const ids = pids();
  const before = ids.map(cpuTicks);
  const result = await run();
  const after = ids.map(cpuTicks);
  return { result, cpuUs: after.reduce((sum, t, k) => sum + (t - before[k]!), 0) * TICK_US };
}

/** One autocannon run; every request gets a random id, as clients of a hashing LB would send. */
export async function autocannonRun(
  port: number,
  seconds: number,
  connections: number,
  cookie = false,
): Promise<Sample> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/home`,
    connections,
    duration: seconds,
    requests: [
      {
        setupRequest: (req) => {
          const id = String(100000 + Math.floor(Math.random() * 900000));
          const key = cookie ? { cookie: `theme=dark; sid=user-${id}` } : {};
          return { ...req, headers: { ...req.headers, 'x-request-id': id, ...key } };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    requests: result.requests.total,
  };
}

const WRK_SCRIPT = `request = function()
  return wrk.format(nil, nil, { ["X-Request-Id"] = tostring(math.random(100000, 999999)) })
end
`;
/** The same, plus a random string session cookie (the key of HASH_KEY=cookie:sid). */
const WRK_COOKIE_SCRIPT = `request = function()
  local id = tostring(math.random(100000, 999999))
  return wrk.format(nil, nil, { ["X-Request-Id"] = id, ["Cookie"] = "theme=dark; sid=user-" .. id })
end
`;

/** One wrk run (a C load generator: it leaves the CPU to the proxies), random ids, 1 thread. */
export function wrkRun(port: number, seconds: number, connections: number, cookie = false): Promise<Sample> {
  const script = join(tmpdir(), cookie ? 'lb-bench-wrk-cookie.lua' : 'lb-bench-wrk.lua');
  writeFileSync(script, cookie ? WRK_COOKIE_SCRIPT : WRK_SCRIPT);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      script,
      `http://127.0.0.1:${port}/home`,
    ]);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', () => {
      const number = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        rps: number(/Requests\/sec:\s+([\d.]+)/),
        p50_ms: latencyMs(/50%\s+([\d.]+)(us|ms|s)/.exec(out)),
        p99_ms: latencyMs(/99%\s+([\d.]+)(us|ms|s)/.exec(out)),
        errors:
          number(/Non-2xx or 3xx responses: (\d+)/) +
          (socketErrors ? socketErrors.slice(1).reduce((a, n) => a + Number(n), 0) : 0),
        requests: number(/(\d+) requests in/),
      });
    });
  });
}

function latencyMs(match: RegExpExecArray | null): number {
  if (!match) return 0;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/**
 * The ratios the bench prints pair the LB with the floor and with its access log: those three are
 * measured back to back (floor, LB, LB with the log), so in every round each pair is at most one
 * round's duration apart and the machine's drift between them is least. The rest keep their order.
 */
export function measuringOrder(names: readonly string[]): string[] {
  const together = ['node-floor', 'lb', 'lb-log'].filter((name) => names.includes(name));
  const at = names.findIndex((name) => together.includes(name));
  const rest = names.filter((name) => !together.includes(name));
  return at === -1 ? [...names] : [...rest.slice(0, at), ...together, ...rest.slice(at)];
}
