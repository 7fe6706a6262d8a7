// A controller in its own process whose "replicas" are upstreams the test started
// (REPLICAS=name=url,...), so the test can SIGKILL the controller and the replicas live on.
import { pino } from 'pino';
import { parseConfig } from '../../src/config.js';
import { createLoadBalancer } from '../../src/lb.js';
import { StaticDriver } from './upstream.js';

const replicas = new Map((process.env.REPLICAS ?? '').split(',').map((pair) => pair.split('=') as [string, string]));
const config = parseConfig(process.env, { driver: 'process' });
const lb = await createLoadBalancer(config, { driver: new StaticDriver(replicas), log: pino({ level: 'warn' }) });
const url = await lb.start();
console.log(`listening on ${url}`);
process.on('SIGTERM', () => void lb.stop().then(() => process.exit(0)));
