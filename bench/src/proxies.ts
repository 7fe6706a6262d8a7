import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A proxy process the bench started, its listen port, and the process whose CPU is its cost. */
export interface ProxyProcess {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export function has(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/** Installs Debian's packages when a binary is missing and we may (root, apt). */
export function ensureInstalled(binary: string, pkg: string, log: (line: string) => void): boolean {
  if (has(binary)) return true;
  if (process.getuid?.() !== 0 || !has('apt-get')) return false;
  log(`installing ${pkg} from Debian`);
  spawnSync('apt-get', ['install', '-y', '-qq', pkg], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return has(binary);
}

export function supervise(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
}

/** nginx, one worker, consistent hash on X-Request-Id, upstream keep-alive. */
export async function startNginx(dir: string, port: number, upstreams: number[]): Promise<ProxyProcess> {
  const root = join(dir, 'nginx');
  await mkdir(root, { recursive: true });
  const conf = `${nginxPreamble(root)}
http {
  access_log off;
  keepalive_timeout 300s;
${nginxTempPaths(root)}
  upstream replicas {
    hash $http_x_request_id consistent;
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    # WebSocket: the upgrade is hop-by-hop, so it is passed on explicitly (nginx's documented recipe).
    location /ws {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 300s;
    }
  }
}
`;
  await writeFile(join(root, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', root, '-c', join(root, 'nginx.conf'), '-e', join(root, 'error.log')], {
    stdio: 'ignore',
  });
  return { port, pid: child.pid!, stop: supervise(child) };
}

/** HAProxy's settings for every bench configuration: one thread, keep-alive both ways. */
export const HAPROXY_PREAMBLE = `global
  maxconn 9000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout http-keep-alive 300s
  timeout server 30s
  option http-keep-alive
  http-reuse always`;

/** nginx's settings for every bench configuration, with its files under `root`: one worker, no access log. */
export const nginxPreamble = (root: string) => `worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 19000; }`;

/** nginx's temporary paths under `root` (an http block's). */
export const nginxTempPaths = (root: string) => `  client_body_temp_path ${root}/body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;`;

/** HAProxy, one thread, consistent hash on X-Request-Id, keep-alive to the servers. */
export async function startHaproxy(dir: string, port: number, upstreams: number[]): Promise<ProxyProcess> {
  const file = join(dir, 'haproxy.cfg');
  const conf = `${HAPROXY_PREAMBLE}
frontend fe
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance hdr(X-Request-Id)
  hash-type consistent
${upstreams.map((p, k) => `  server s${k + 1} 127.0.0.1:${p}`).join('\n')}
`;
  await writeFile(file, conf);
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  return { port, pid: child.pid!, stop: supervise(child) };
}

/**
 * A Node reference point as its own process: `node-bare` (node:http + undici Pool + pipe: where
 * Node's own stack stops) or `node-floor` (raw sockets + llhttp, bytes relayed unchanged: the
 * least the LB's data plane could cost).
 */
export async function startNodeScript(
  name: 'node-bare' | 'node-floor',
  port: number,
  upstreams: number[],
): Promise<ProxyProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `bench/src/${name}.ts`, String(port), ...upstreams.map(String)],
    { stdio: 'ignore' },
  );
  return { port, pid: child.pid!, stop: supervise(child) };
}
