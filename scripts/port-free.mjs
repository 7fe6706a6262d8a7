// `make up` checks the host port before Docker publishes it: a port in use is one clear line
// naming LB_PORT, and nothing is created (compose would leave a created container and a network).
import { createServer } from 'node:net';

const [host = '127.0.0.1', port = '5000'] = process.argv.slice(2);
const probe = createServer();
probe.once('error', (error) => {
  const why = error.code === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${error.code ?? error.message})`;
  console.error(`make: port ${port} on ${host} ${why}: stop what holds it, or choose another: make up LB_PORT=<port>`);
  process.exit(1);
});
probe.listen(Number(port), host, () => probe.close());
