import { spawnSync } from 'node:child_process';

/**
 * An LB in Docker under names this caller owns (LB id, network, LB container, replica
 * prefix, compose project, host port), so `make stop` removes exactly what it started.
 */
export function isolatedDocker(id: string, port: number, settings: Record<string, string>) {
  const env = {
    ...process.env,
    LB_ID: id,
    NETWORK: `${id}-net`,
    LB_CONTAINER: `${id}-lb`,
    CONTAINER_PREFIX: `${id}-`,
    COMPOSE_PROJECT_NAME: id,
    LB_PORT: String(port),
    ...settings,
  };
  const make = (target: string): string => {
    const run = spawnSync('make', [target], { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`make ${target} failed:\n${run.stdout}\n${run.stderr}`);
    return run.stdout;
  };
  return { env, make, url: `http://127.0.0.1:${port}`, container: (replica: string) => `${id}-${replica}` };
}
