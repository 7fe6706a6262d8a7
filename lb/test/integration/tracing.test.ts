import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send, spawnLb, waitFor } from '../../../kit/src/lb.js';

/** A replica of our own (REPLICA_COMMAND) that answers every path with the headers it received. */
const ECHO_HEADERS = `
const http = require('node:http');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(req.headers));
}).listen(Number(process.argv[2]), '127.0.0.1');
`;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A small OTLP/HTTP receiver: the spans of every JSON export it is sent. */
async function otlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; server: Server }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        for (const resource of body.resourceSpans ?? [])
          for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans, server };
}

/** A span attribute's value, whatever its OTLP type. */
function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (value === undefined) return undefined;
  if ('intValue' in value) return Number(value.intValue);
  if ('arrayValue' in value)
    return ((value.arrayValue as { values?: { stringValue: string }[] }).values ?? []).map((v) => v.stringValue);
  return Object.values(value)[0];
}

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;

describe('traces: traceparent through the LB, and OpenTelemetry spans when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  let dir: string;
  let command: string;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-trace-'));
    await writeFile(join(dir, 'echo.cjs'), ECHO_HEADERS);
    command = `${process.execPath} ${join(dir, 'echo.cjs')} {port}`;
    receiver = await otlpReceiver();
  });
  /** The built LB before two header-echoing replicas. */
  const echoLb = (env: Record<string, string> = {}) =>
    spawnLb({ N: '2', REPLICA_COMMAND: command, HEALTH_PATH: '/', ...env });
  /** Tracing on, exporting to the receiver every 100 ms. */
  const exportingTo = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
  after(async () => {
    receiver.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('tracing off (the default): traceparent and tracestate reach the replica as the client sent them', async () => {
    const lb = await echoLb();
    try {
      const seen = (
        await send(lb.url, 'GET', '/anything', undefined, { traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=a' })
      ).json;
      assert.equal(seen.traceparent, CLIENT_TRACEPARENT);
      assert.equal(seen.tracestate, 'vendor=a');
    } finally {
      await lb.stop();
    }
  });

  it("a span per request, child of the client's traceparent, parent of the replica's; a new trace without one", async () => {
    const lb = await echoLb({ ...exportingTo(), OTEL_SERVICE_NAME: 'lb-under-test' });
    try {
      const answer = await send(lb.url, 'GET', '/orders?id=7', undefined, {
        traceparent: CLIENT_TRACEPARENT,
        tracestate: 'vendor=a',
        'x-request-id': '4242',
      });
      const [version, trace, parent, flags] = (answer.json.traceparent as string).split('-');
      assert.deepEqual([version, trace, flags], ['00', CLIENT_TRACE, '01']);
      assert.notEqual(parent, CLIENT_SPAN);
      assert.equal(answer.json.tracestate, 'vendor=a');
      const span = await waitFor('the LB span', () => receiver.spans.find((s) => s.spanId === parent), 5000);
      assert.equal(span.traceId, CLIENT_TRACE);
      assert.equal(span.parentSpanId, CLIENT_SPAN);
      assert.equal(span.name, 'GET');
      assert.equal(span.kind, 2); // SERVER
      assert.equal(attribute(span, 'lb.replica'), answer.headers.get('x-served-by'));
      assert.equal(attribute(span, 'lb.key_source'), 'request-id');
      assert.equal(attribute(span, 'lb.request_id'), '4242');
      assert.equal(attribute(span, 'lb.attempts'), 1);
      assert.equal(attribute(span, 'http.response.status_code'), 200);
      assert.equal(attribute(span, 'url.path'), '/orders?id=7');

      const fresh = (await send(lb.url, 'GET', '/new')).json.traceparent as string;
      const [, freshTrace, freshParent] = fresh.split('-');
      assert.notEqual(freshTrace, CLIENT_TRACE);
      const root = await waitFor('the new trace', () => receiver.spans.find((s) => s.spanId === freshParent), 5000);
      assert.equal(root.traceId, freshTrace);
      assert.equal(root.parentSpanId ?? '', '');
    } finally {
      await lb.stop();
    }
  });

  it('a collector that is gone costs spans, not requests, and not a clean stop', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(gone.address() as { port: number }).port}`;
    await new Promise((r) => gone.close(r));
    const lb = await echoLb({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '100' });
    for (let k = 0; k < 5; k++) assert.equal((await send(lb.url, 'GET', '/x')).status, 200);
    await new Promise((r) => setTimeout(r, 300)); // a few failed exports
    assert.equal(await lb.stop(), 0);
  });

  it('with a 0 sampler no span is sent; the replica still gets a traceparent, marked not sampled', async () => {
    const before = receiver.spans.length;
    const lb = await echoLb({ ...exportingTo(), OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    try {
      for (let k = 0; k < 20; k++) {
        const [, , , flags] = ((await send(lb.url, 'GET', '/x')).json.traceparent as string).split('-');
        assert.equal(flags, '00');
      }
      await new Promise((r) => setTimeout(r, 1000)); // ten export rounds
    } finally {
      await lb.stop(); // the exporter's last flush
    }
    assert.equal(receiver.spans.length, before);
  });
});
