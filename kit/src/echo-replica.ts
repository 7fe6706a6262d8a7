import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A replica that answers every request with what it received, as JSON (`name`, `method`, `url`,
 * `headers`, `body`): 201 with two `set-cookie` headers and a hop-by-hop `keep-alive`, 200 for its
 * heartbeat. Written into `dir`; resolves to the REPLICA_COMMAND that runs it.
 */
export async function writeEchoReplica(dir: string): Promise<string> {
  const path = join(dir, 'echo.mjs');
  await writeFile(
    path,
    `import http from 'node:http';
const [port, name] = process.argv.slice(2);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
    res.writeHead(req.url === '/heartbeat' ? 200 : 201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'keep-alive': 'timeout=5' });
    res.end(body);
  });
}).listen(Number(port), '127.0.0.1');
`,
  );
  return `node ${path} {port} {name}`;
}
