// The Node floor: node:http in, undici Pool.request out, the answer piped back. No routing
// logic beyond id mod N, no header rules, no failover: what Node's stack costs by itself.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, ...upstreams] = process.argv.slice(2).map(Number);
const pools = upstreams.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 128 }));

createServer(async (req, res) => {
  const pool = pools[Number(req.headers['x-request-id'] ?? 0) % pools.length]!;
  try {
    const answer = await pool.request({
      path: req.url!,
      method: 'GET',
      headers: { 'x-request-id': String(req.headers['x-request-id']) },
    });
    res.writeHead(answer.statusCode, answer.headers as Record<string, string>);
    for await (const chunk of answer.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502).end();
  }
}).listen(port, '127.0.0.1');
