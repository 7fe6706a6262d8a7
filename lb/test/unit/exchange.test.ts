import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { Exchange, type ExchangeHost } from '../../src/proxy/exchange.js';
import { requestIdFrom, type RequestId } from '../../src/proxy/request-id.js';
import type { ReplicaHandle } from '../../src/replicas/driver.js';

/** What a fake replica does with one dispatch: answer, fail before answering, or break off. */
type Script =
  | { answer: number; headers?: string[]; body?: string }
  | { fail: string }
  | { breakAfter: string; length: number }
  | { hang: true };

const replica = (name: string): ReplicaHandle => ({ name, index: 1, url: `http://${name}` });

/** An ExchangeHost whose replicas follow scripts, recording what the exchange told it. */
class FakeHost implements ExchangeHost {
  readonly log: string[] = [];
  readonly sent: { replica: string; options: Dispatcher.DispatchOptions }[] = [];
  aborted = 0;
  constructor(
    private readonly scripts: Record<string, Script>,
    private readonly order: string[],
  ) {}

  dispatcher(target: ReplicaHandle): Dispatcher {
    const script = this.scripts[target.name]!;
    const host = this;
    return {
      dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
        host.sent.push({ replica: target.name, options });
        handler.onConnect!(() => {
          host.aborted++;
          handler.onError!(Object.assign(new Error('aborted'), { code: 'UND_ERR_ABORTED' }));
        });
        setImmediate(() => {
          if ('hang' in script) return;
          if ('fail' in script) return handler.onError!(Object.assign(new Error(script.fail), { code: script.fail }));
          if ('breakAfter' in script) {
            const raw = [Buffer.from('content-length'), Buffer.from(String(script.length))];
            handler.onHeaders!(200, raw, () => {}, '');
            handler.onData!(Buffer.from(script.breakAfter));
            return handler.onError!(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
          }
          const body = script.body ?? '';
          const raw = [...(script.headers ?? []), 'content-length', String(Buffer.byteLength(body))].map((s) => Buffer.from(s));
          handler.onHeaders!(script.answer, raw, () => {}, '');
          if (body) handler.onData!(Buffer.from(body));
          handler.onComplete!([]);
        });
        return true;
      },
    } as unknown as Dispatcher;
  }
  began(name: string) {
    this.log.push(`began ${name}`);
  }
  settled(name: string) {
    this.log.push(`settled ${name}`);
  }
  answered(name: string, code: number) {
    this.log.push(`answered ${name} ${code}`);
  }
  failed(name: string, error: Error) {
    this.log.push(`failed ${name} ${(error as { code?: string }).code}`);
  }
  next(_key: RequestId['key'], tried: ReadonlySet<string>) {
    const name = this.order.find((n) => !tried.has(n));
    return name === undefined ? undefined : replica(name);
  }
  exhausted(res: import('node:http').ServerResponse, id: RequestId) {
    this.log.push('exhausted');
    res.writeHead(503, { 'x-request-id': id.text }).end('none');
  }
}

let server: Server;
let url: string;
let host: FakeHost;

before(async () => {
  server = createServer((req, res) => new Exchange(host, req, res, requestIdFrom(req.headers['x-request-id'])).send(replica(host.next(0, new Set())!.name)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise((r) => server.close(r)));

function call(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { 'x-request-id': '42', ...headers }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Exchange (fake host and replicas)', () => {
  it('relays an answer with the LB headers and the replica headers filtered', async () => {
    host = new FakeHost({ A: { answer: 201, headers: ['x-app', '1', 'connection', 'x-app2', 'x-app2', 'hidden', 'x-served-by', 'fake'], body: 'hi' } }, ['A']);
    const res = await call('GET', '/home?q=1');
    assert.equal(res.status, 201);
    assert.equal(res.body, 'hi');
    assert.equal(res.headers['x-app'], '1');
    assert.equal(res.headers['x-app2'], undefined);
    assert.equal(res.headers['x-served-by'], 'A');
    assert.equal(res.headers['x-request-id'], '42');
    assert.deepEqual(host.log, ['began A', 'answered A 201', 'settled A']);
    assert.equal(host.sent[0]!.options.path, '/home?q=1');
  });

  it("turns a replica's 404 into the contract's 400", async () => {
    host = new FakeHost({ A: { answer: 404, body: 'nope' } }, ['A']);
    const res = await call('GET', '/other?x=1');
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { message: "<Error> '/other' endpoint does not exist in server replicas", status: 'failure' });
    assert.deepEqual(host.log, ['began A', 'answered A 400', 'settled A']);
  });

  it('sends a bodiless GET to the next replica when one fails before answering', async () => {
    host = new FakeHost({ A: { fail: 'ECONNREFUSED' }, B: { fail: 'ECONNRESET' }, C: { answer: 200, body: 'ok' } }, ['A', 'B', 'C']);
    const res = await call('GET', '/home');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-served-by'], 'C');
    assert.deepEqual(host.log, [
      'began A', 'settled A', 'failed A ECONNREFUSED',
      'began B', 'settled B', 'failed B ECONNRESET',
      'began C', 'answered C 200', 'settled C',
    ]);
  });

  it('never sends a POST twice: a failure is a 502 naming the replica', async () => {
    host = new FakeHost({ A: { fail: 'ECONNREFUSED' }, B: { answer: 200 } }, ['A', 'B']);
    const res = await call('POST', '/home', { 'content-type': 'text/plain' }, 'data');
    assert.equal(res.status, 502);
    assert.deepEqual(JSON.parse(res.body), { message: '<Error> Replica A failed: ECONNREFUSED', status: 'failure' });
    assert.equal(res.headers['x-served-by'], 'A');
    assert.deepEqual(host.sent.map((s) => s.replica), ['A']);
  });

  it('asks the host for its answer when every replica failed a GET', async () => {
    host = new FakeHost({ A: { fail: 'ECONNREFUSED' }, B: { fail: 'ECONNREFUSED' } }, ['A', 'B']);
    const res = await call('GET', '/home');
    assert.equal(res.status, 503);
    assert.equal(host.log.at(-1), 'exhausted');
  });

  it('a buffered answer broken off is a 502, not a short body', async () => {
    host = new FakeHost({ A: { breakAfter: 'part', length: 100 } }, ['A']);
    const res = await call('GET', '/home');
    assert.equal(res.status, 502);
    assert.deepEqual(JSON.parse(res.body), { message: '<Error> Replica A broke off its answer: UND_ERR_SOCKET', status: 'failure' });
  });

  it('a client that leaves aborts the replica request', async () => {
    host = new FakeHost({ A: { hang: true } }, ['A']);
    const req = request(`${url}/home`, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    const deadline = Date.now() + 2000;
    while (host.aborted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(host.aborted, 1);
    assert.deepEqual(host.log, ['began A', 'settled A']);
  });
});
