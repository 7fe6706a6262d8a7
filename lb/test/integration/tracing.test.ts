import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  /** The traceparent the replica got for one request, split in its four fields. */
  const seenBy = async (url: string, headers: Record<string, string> = {}) => {
    const traceparent = (await send(url, 'GET', '/x', undefined, headers)).json.traceparent as string;
    const [version, trace, parent, flags] = traceparent.split('-') as [string, string, string, string];
    return { version, trace, parent, flags };
  };
  const exported = (spanId: string) => receiver.spans.some((s) => s.spanId === spanId);

  it("OTEL_TRACES_SAMPLER decides as OpenTelemetry's samplers do, with and without the client's traceparent", async () => {
    const parent = (flags: string) => ({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-${flags}` });
    // [sampler, arg, the client's traceparent flags (none: no traceparent), sampled?]
    const cases: [string, string, string | null, boolean][] = [
      ['parentbased_traceidratio', '0', '01', true],
      ['parentbased_traceidratio', '0', '00', false],
      ['parentbased_traceidratio', '0', null, false],
      ['parentbased_always_off', '', '01', true],
      ['parentbased_always_off', '', null, false],
      ['parentbased_always_on', '', '00', false],
      ['traceidratio', '1', '00', true],
      ['always_off', '', '01', false],
    ];
    const samplers = [...new Set(cases.map(([s, a]) => `${s}:${a}`))];
    for (const sampler of samplers) {
      const [name, arg] = sampler.split(':') as [string, string];
      const lb = await echoLb({ ...exportingTo(), OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: arg });
      const spans: string[] = [];
      try {
        for (const [, , flags, sampled] of cases.filter(([s, a]) => `${s}:${a}` === sampler)) {
          const got = await seenBy(lb.url, flags === null ? {} : parent(flags));
          const what = `${sampler} with parent flags ${flags}`;
          assert.equal(got.version, '00', what);
          if (flags !== null) assert.equal(got.trace, CLIENT_TRACE, what);
          assert.match(`${got.trace}-${got.parent}`, /^[\da-f]{32}-[\da-f]{16}$/, what);
          assert.notEqual(got.parent, CLIENT_SPAN, what);
          assert.equal(got.flags, sampled ? '01' : '00', what);
          spans.push(`${got.parent}:${sampled}`);
        }
      } finally {
        await lb.stop(); // the exporter's last flush
      }
      for (const span of spans) {
        const [id, sampled] = span.split(':') as [string, string];
        assert.equal(exported(id), sampled === 'true', `${sampler}: span ${id} exported?`);
      }
    }
  });

  it('a ratio sampler picks new traces by their trace id, and exactly the picked ones are exported', async () => {
    const lb = await echoLb({
      ...exportingTo(),
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
    });
    const seen: Awaited<ReturnType<typeof seenBy>>[] = [];
    try {
      for (let k = 0; k < 200; k++) seen.push(await seenBy(lb.url));
    } finally {
      await lb.stop();
    }
    // OpenTelemetry's TraceIdRatioBased rule: the XOR of the trace id's four 32-bit words, under ratio x 2^32.
    const picked = (trace: string) => {
      let xor = 0;
      for (let i = 0; i < 32; i += 8) xor = (xor ^ Number.parseInt(trace.slice(i, i + 8), 16)) >>> 0;
      return xor < 0.5 * 2 ** 32;
    };
    const sampled = seen.filter((s) => s.flags === '01');
    assert.ok(sampled.length > 60 && sampled.length < 140, `${sampled.length} of 200 sampled`);
    assert.equal(new Set(seen.map((s) => s.trace)).size, 200, 'a new trace each');
    for (const s of seen) {
      assert.equal(s.flags === '01', picked(s.trace), `trace ${s.trace} flags ${s.flags}`);
      const span = receiver.spans.find((x) => x.spanId === s.parent);
      assert.equal(span !== undefined, s.flags === '01', `span ${s.parent} exported?`);
      if (span) assert.equal(span.traceId, s.trace);
    }
  });

  it("the access log names each request's trace, sampled or not, as the replica got it", async () => {
    const log = join(dir, 'access.log');
    const lb = await echoLb({
      ...exportingTo(),
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
      ACCESS_LOG: log,
    });
    const seen: Record<string, string> = {};
    try {
      for (const [id, flags] of [
        ['1', '01'],
        ['2', '00'],
      ] as const) {
        const got = await seenBy(lb.url, {
          'x-request-id': id,
          traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-${flags}`,
        });
        seen[id] = `${got.trace}/${got.flags}`;
      }
      const root = await seenBy(lb.url, { 'x-request-id': '3' });
      seen['3'] = `${root.trace}/${root.flags}`;
    } finally {
      await lb.stop();
    }
    const rootTrace = seen['3']!.split('/')[0]!;
    assert.deepEqual({ ...seen }, { 1: `${CLIENT_TRACE}/01`, 2: `${CLIENT_TRACE}/00`, 3: `${rootTrace}/00` });
    const lines = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const traceOf = (id: string) => lines.find((l) => l.requestId === id)?.traceId;
    for (const id of ['1', '2', '3']) assert.equal(traceOf(id), seen[id]!.split('/')[0], `request ${id}`);
  });

  it('with LB_WORKERS each worker traces the requests it forwards', async () => {
    const lb = await echoLb({ ...exportingTo(), LB_WORKERS: '2' });
    const parents: string[] = [];
    try {
      for (let k = 0; k < 40; k++) parents.push((await seenBy(lb.url)).parent);
      for (const parent of parents) await waitFor(`span ${parent}`, () => exported(parent) || undefined, 5000);
    } finally {
      assert.equal(await lb.stop(), 0);
    }
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
