import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HAPROXY_PREAMBLE, nginxPreamble, nginxTempPaths, type ProxyProcess, supervise } from './proxies.js';

/** The ports one proxy serves HTTP/2 on: h2c to HTTP/1 replicas, h2 over TLS to them, and gRPC (h2c) to gRPC replicas. */
export interface H2Ports {
  readonly h2c: number;
  readonly tls: number;
  readonly grpc: number;
}

/** What the proxies route to: HTTP/1.1 replicas and gRPC (h2c) replicas, by port. */
export interface H2Upstreams {
  readonly http1: readonly number[];
  readonly grpc: readonly number[];
}

export interface TlsPair {
  readonly cert: string;
  readonly key: string;
}

/** One self-signed P-256 pair for every proxy (the same handshake cost for each). */
export async function makeTlsPair(dir: string): Promise<TlsPair> {
  const cert = join(dir, 'bench.crt');
  const key = join(dir, 'bench.key');
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-days',
    '2',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (made.status !== 0) throw new Error(`openssl could not make the bench's certificate: ${made.stderr}`);
  return { cert, key };
}

/** nginx, one worker: `http2` listeners, consistent hash on X-Request-Id, keep-alive upstreams, `grpc_pass`. */
export async function startNginxH2(dir: string, ports: H2Ports, up: H2Upstreams, tls: TlsPair): Promise<ProxyProcess> {
  const root = join(dir, 'nginx-h2');
  await mkdir(root, { recursive: true });
  const upstream = (name: string, list: readonly number[]) =>
    `  upstream ${name} {\n    hash $http_x_request_id consistent;\n${list.map((p) => `    server 127.0.0.1:${p};`).join('\n')}\n    keepalive 128;\n    keepalive_requests 1000000;\n  }`;
  const toHttp1 = 'proxy_pass http://replicas; proxy_http_version 1.1; proxy_set_header Connection "";';
  const conf = `${nginxPreamble(root)}
http {
  access_log off;
  keepalive_timeout 300s;
  # A client connection (h2 too) is not closed after 1,000 requests, nginx's default.
  keepalive_requests 1000000;
${nginxTempPaths(root)}
${upstream('replicas', up.http1)}
${upstream('grpc_replicas', up.grpc)}
  server { listen 127.0.0.1:${ports.h2c} http2; location / { ${toHttp1} } }
  server {
    listen 127.0.0.1:${ports.tls} ssl http2;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    location / { ${toHttp1} }
  }
  server { listen 127.0.0.1:${ports.grpc} http2; location / { grpc_pass grpc://grpc_replicas; } }
}
`;
  await writeFile(join(root, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', root, '-c', join(root, 'nginx.conf'), '-e', join(root, 'error.log')], {
    stdio: 'ignore',
  });
  return { port: ports.h2c, pid: child.pid!, stop: supervise(child) };
}

/** HAProxy, one thread: `proto h2` and `alpn h2` frontends, consistent hash on X-Request-Id, h2 to gRPC servers. */
export async function startHaproxyH2(
  dir: string,
  ports: H2Ports,
  up: H2Upstreams,
  tls: TlsPair,
): Promise<ProxyProcess> {
  const pem = join(dir, 'haproxy-h2.pem');
  await writeFile(pem, `${await readFile(tls.cert, 'utf8')}${await readFile(tls.key, 'utf8')}`);
  const backend = (name: string, list: readonly number[], proto: string) =>
    `backend ${name}\n  balance hdr(X-Request-Id)\n  hash-type consistent\n${list.map((p, k) => `  server s${k + 1} 127.0.0.1:${p}${proto}`).join('\n')}`;
  const file = join(dir, 'haproxy-h2.cfg');
  await writeFile(
    file,
    `${HAPROXY_PREAMBLE}
frontend h2c
  bind 127.0.0.1:${ports.h2c} proto h2
  default_backend replicas
frontend h2tls
  bind 127.0.0.1:${ports.tls} ssl crt ${pem} alpn h2,http/1.1
  default_backend replicas
frontend grpc
  bind 127.0.0.1:${ports.grpc} proto h2
  default_backend grpc_replicas
${backend('replicas', up.http1, '')}
${backend('grpc_replicas', up.grpc, ' proto h2')}
`,
  );
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  return { port: ports.h2c, pid: child.pid!, stop: supervise(child) };
}
