import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { rawExchange, recordingServer, type Seen, statuses } from '../helpers/raw.js';
import { StaticDriver } from '../helpers/upstream.js';

/**
 * The data plane against a plain node:http server, request for request: the same
 * accept/reject decision, and for accepted requests the same method, target, headers and
 * body at the replica. Where the LB is deliberately stricter, the case says so.
 */

const CRLF = '\r\n';
const H = 'Host: lb';

interface Case {
  readonly name: string;
  readonly raw: string;
  /** The LB refuses what node:http serves (RFC 9112 or "cannot forward"), with this status. */
  readonly stricter?: number;
}

/** The corpus: valid requests in many shapes, and hostile framings. */
function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, raw: string, stricter?: number) =>
    cases.push(stricter === undefined ? { name, raw } : { name, raw, stricter });
  const req = (line: string, headers: string[], body = '') =>
    `${line}${CRLF}${headers.map((h) => h + CRLF).join('')}${CRLF}${body}`;

  // Valid: methods, targets, versions.
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'PUT', 'POST']) {
    for (const target of ['/home', '/a/b?c=d&e=%20f', '/x;p=1?q', '/%E2%82%AC', '/?', '//double']) {
      add(`${method} ${target}`, req(`${method} ${target} HTTP/1.1`, [H, 'Content-Length: 0']));
    }
  }
  add('HTTP/1.0 without Host', req('GET /home HTTP/1.0', []));
  add('HTTP/1.0 keep-alive', req('GET /home HTTP/1.0', [H, 'Connection: keep-alive']));
  add('header name cases', req('GET /home HTTP/1.1', ['hOsT: lb', 'X-MiXeD: v', 'x-lower: w']));
  add('empty header value', req('GET /home HTTP/1.1', [H, 'X-Empty:']));
  add('spaces around value', req('GET /home HTTP/1.1', [H, 'X-Pad:    padded   ']));
  add('obs-text in value', req('GET /home HTTP/1.1', [H, 'X-Latin: caf\xe9']));
  add('tab in value', req('GET /home HTTP/1.1', [H, 'X-Tab: a\tb']));
  add('repeated headers', req('GET /home HTTP/1.1', [H, 'Cookie: a=1', 'Cookie: b=2', 'Accept: x', 'Accept: y']));
  add('100 headers', req('GET /home HTTP/1.1', [H, ...Array.from({ length: 100 }, (_, k) => `X-H${k}: ${k}`)]));
  add('8 KiB header value', req('GET /home HTTP/1.1', [H, `X-Big: ${'v'.repeat(8192)}`]));
  add('client X-Forwarded-For', req('GET /home HTTP/1.1', [H, 'X-Forwarded-For: 10.0.0.9']));
  add('Connection-listed header', req('GET /home HTTP/1.1', [H, 'Connection: X-Drop', 'X-Drop: 1', 'X-Keep: 2']));
  add(
    'Upgrade request (not done, served plainly)',
    req('GET /home HTTP/1.1', [H, 'Upgrade: websocket', 'Connection: Upgrade']),
  );

  // Valid bodies.
  for (const size of [1, 10, 1000, 70_000]) {
    const body = 'b'.repeat(size);
    add(`POST Content-Length ${size}`, req('POST /home HTTP/1.1', [H, `Content-Length: ${size}`], body));
    add(
      `POST chunked ${size}`,
      req(
        'POST /home HTTP/1.1',
        [H, 'Transfer-Encoding: chunked'],
        `${size.toString(16)}${CRLF}${body}${CRLF}0${CRLF}${CRLF}`,
      ),
    );
  }
  add(
    'chunked in pieces',
    req(
      'POST /home HTTP/1.1',
      [H, 'Transfer-Encoding: chunked'],
      `3${CRLF}abc${CRLF}1${CRLF}d${CRLF}A${CRLF}0123456789${CRLF}0${CRLF}${CRLF}`,
    ),
  );
  add(
    'chunk extension',
    req('POST /home HTTP/1.1', [H, 'Transfer-Encoding: chunked'], `3;ext=1${CRLF}abc${CRLF}0${CRLF}${CRLF}`),
  );
  add(
    'chunked with trailer',
    req(
      'POST /home HTTP/1.1',
      [H, 'Transfer-Encoding: chunked'],
      `3${CRLF}abc${CRLF}0${CRLF}X-Trailer: t${CRLF}${CRLF}`,
    ),
  );
  add(
    'upper-case hex chunk size',
    req('POST /home HTTP/1.1', [H, 'Transfer-Encoding: chunked'], `A${CRLF}0123456789${CRLF}0${CRLF}${CRLF}`),
  );
  add(
    'leading zeros in chunk size',
    req('POST /home HTTP/1.1', [H, 'Transfer-Encoding: chunked'], `003${CRLF}abc${CRLF}0${CRLF}${CRLF}`),
  );
  add('Content-Length leading zeros', req('POST /home HTTP/1.1', [H, 'Content-Length: 003'], 'abc'));
  add('GET with a body', req('GET /home HTTP/1.1', [H, 'Content-Length: 3'], 'abc'));
  add('Expect: 100-continue', req('POST /home HTTP/1.1', [H, 'Content-Length: 3', 'Expect: 100-continue'], 'abc'));
  add(
    'body that looks like a request',
    req('POST /home HTTP/1.1', [H, 'Content-Length: 35'], `GET /smuggled HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`),
  );

  // Pipelines.
  const get = (path: string) => req(`GET ${path} HTTP/1.1`, [H]);
  add('pipelined GETs', get('/1') + get('/2') + get('/3'));
  add('pipelined POST then GET', req('POST /p HTTP/1.1', [H, 'Content-Length: 2'], 'hi') + get('/after'));
  add(
    'pipelined chunked then GET',
    req('POST /p HTTP/1.1', [H, 'Transfer-Encoding: chunked'], `2${CRLF}hi${CRLF}0${CRLF}${CRLF}`) + get('/after'),
  );
  add('Connection: close stops the pipeline', req('GET /1 HTTP/1.1', [H, 'Connection: close']) + get('/never'));

  // Hostile framing: smuggling attempts.
  const te = (value: string, body: string, extra: string[] = []) =>
    req('POST /home HTTP/1.1', [H, `Transfer-Encoding: ${value}`, ...extra], body);
  const chunkedBody = `3${CRLF}abc${CRLF}0${CRLF}${CRLF}`;
  add('CL + TE', te('chunked', chunkedBody, ['Content-Length: 6']));
  add(
    'TE + CL (other order)',
    req('POST /home HTTP/1.1', [H, 'Content-Length: 6', 'Transfer-Encoding: chunked'], chunkedBody),
  );
  add(
    'CL + TE with a smuggled GET',
    te('chunked', `0${CRLF}${CRLF}GET /smuggled HTTP/1.1${CRLF}${H}${CRLF}${CRLF}`, ['Content-Length: 4']),
  );
  for (const value of [
    'chunked, chunked',
    'gzip, chunked',
    'chunked, gzip',
    'gzip',
    'identity',
    ' chunked',
    'CHUNKED',
    'xchunked',
    'chunked;x',
    'chunk',
    'chunked\t',
  ]) {
    add(`TE '${value}'`, te(value, chunkedBody));
  }
  add(
    'two TE headers',
    req('POST /home HTTP/1.1', [H, 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], chunkedBody),
  );
  add('TE obs-fold', req('POST /home HTTP/1.1', [H, 'Transfer-Encoding:', ' chunked'], chunkedBody));
  for (const value of ['3, 3', '3,4', '+3', '-3', '0x3', '3a', ' 3 ', '3.0', '', '99999999999999999999']) {
    add(`Content-Length '${value}'`, req('POST /home HTTP/1.1', [H, `Content-Length: ${value}`], 'abc'));
  }
  add('two equal CL', req('POST /home HTTP/1.1', [H, 'Content-Length: 3', 'Content-Length: 3'], 'abc'));
  add('two different CL', req('POST /home HTTP/1.1', [H, 'Content-Length: 3', 'Content-Length: 4'], 'abcd'));
  for (const size of ['g', '-1', '0x3', '3 ', ' 3', '3\t', 'ffffffffffffffffff', '']) {
    add(`chunk size '${size}'`, te('chunked', `${size}${CRLF}abc${CRLF}0${CRLF}${CRLF}`));
  }
  add('chunk without CRLF after data', te('chunked', `3${CRLF}abcX0${CRLF}${CRLF}`));
  add('chunk longer than its size', te('chunked', `3${CRLF}abcdef${CRLF}0${CRLF}${CRLF}`));
  add('chunk extension with control char', te('chunked', `3;\x01${CRLF}abc${CRLF}0${CRLF}${CRLF}`));
  add('bare LF chunk lines', te('chunked', `3\nabc\n0\n\n`));

  // Hostile heads.
  add('bare LF line endings', 'GET /home HTTP/1.1\nHost: lb\n\n');
  add('CR without LF', 'GET /home HTTP/1.1\rHost: lb\r\r');
  add('obs-fold', req('GET /home HTTP/1.1', [H, 'X-Fold: a', ' b']));
  add('space before colon', req('GET /home HTTP/1.1', [H, 'X-Space : v']));
  add('space in header name', req('GET /home HTTP/1.1', [H, 'X Space: v']));
  for (const ch of ['@', '(', '"', '/', '[', '{', '\x7f', '\x00', '\xe9']) {
    add(`header name with ${JSON.stringify(ch)}`, req('GET /home HTTP/1.1', [H, `X${ch}Y: v`]));
  }
  for (const ch of ['\x00', '\x01', '\x0b', '\x7f', '\r']) {
    add(`header value with ${JSON.stringify(ch)}`, req('GET /home HTTP/1.1', [H, `X-V: a${ch}b`]));
  }
  add('header without colon', req('GET /home HTTP/1.1', [H, 'NoColon']));
  add('empty header name', req('GET /home HTTP/1.1', [H, ': v']));
  add('missing Host on 1.1', req('GET /home HTTP/1.1', []));
  add('empty Host', req('GET /home HTTP/1.1', ['Host:']));
  add('two Hosts', req('GET /home HTTP/1.1', ['Host: a', 'Host: b']), 400);
  add('two Hosts, same value', req('GET /home HTTP/1.1', ['Host: a', 'Host: a']), 400);
  add('head over 16 KiB', req('GET /home HTTP/1.1', [H, `X-Huge: ${'h'.repeat(17_000)}`]));
  add('head just under 16 KiB', req('GET /home HTTP/1.1', [H, `X-Big: ${'h'.repeat(16_000)}`]));
  add(
    '1,200 header fields',
    req('GET /home HTTP/1.1', [H, ...Array.from({ length: 1200 }, (_, k) => `A${k}: ${k}`)]),
    431,
  );

  // Hostile request lines.
  for (const line of [
    'get /home HTTP/1.1',
    'FOO /home HTTP/1.1',
    'GET  /home HTTP/1.1',
    'GET /home  HTTP/1.1',
    'GET /home HTTP/1.1 ',
    ' GET /home HTTP/1.1',
    'GET /ho me HTTP/1.1',
    'GET /home\x00 HTTP/1.1',
    'GET /home\x7f HTTP/1.1',
    'GET /home HTTP/1.2',
    'GET /home HTTP/1',
    'GET /home HTTPS/1.1',
    'GET /home http/1.1',
    'GET',
    'GET /home#frag HTTP/1.1',
    'GET /home?a=\xe9 HTTP/1.1',
    'GET \t/home HTTP/1.1',
    'G\x00T /home HTTP/1.1',
  ]) {
    add(`line ${JSON.stringify(line)}`, req(line, [H]));
  }
  add('HTTP/0.9', `GET /home${CRLF}${CRLF}`, 400);
  add('HTTP/0.9 with a header-like line', `GET /home${CRLF}${H}${CRLF}${CRLF}`, 400);
  add('HTTP/2.0 in HTTP/1 syntax', req('GET /home HTTP/2.0', [H]), 505);
  add('HTTP/3.0', req('GET /home HTTP/3.0', [H]));
  add('asterisk-form', req('OPTIONS * HTTP/1.1', [H]), 400);
  add('CONNECT (node:http closes without an answer; the LB says 400)', req('CONNECT lb:443 HTTP/1.1', [H]));
  add('authority-form GET', req('GET lb:443 HTTP/1.1', [H]));
  add('relative target', req('GET home HTTP/1.1', [H]));
  add('Expect: something else', req('POST /home HTTP/1.1', [H, 'Content-Length: 3', 'Expect: 200-ok'], 'abc'));
  // Sizes around node's limits.
  add('URL of 8 KiB', req(`GET /${'u'.repeat(8192)} HTTP/1.1`, [H]));
  add('URL of 17 KiB', req(`GET /${'u'.repeat(17_000)} HTTP/1.1`, [H]));
  // Request smuggling probes in the style of published ones: each must be refused whole or read alike.
  const smuggle = `GET /smuggled HTTP/1.1${CRLF}${H}${CRLF}${CRLF}`;
  for (const [name, headers, body] of [
    ['TE.CL', ['Content-Length: 3', 'Transfer-Encoding: chunked'], `8${CRLF}SMUGGLED${CRLF}0${CRLF}${CRLF}`],
    ['CL.TE', ['Transfer-Encoding: chunked', 'Content-Length: 6'], `0${CRLF}${CRLF}G`],
    ['TE with space before colon', ['Transfer-Encoding : chunked'], `0${CRLF}${CRLF}${smuggle}`],
    ['TE vertical tab', ['Transfer-Encoding:\x0bchunked'], `0${CRLF}${CRLF}${smuggle}`],
    ['TE quoted', ['Transfer-Encoding: "chunked"'], `0${CRLF}${CRLF}${smuggle}`],
    ['CL with tab', ['Content-Length:\t3'], 'abc'],
    ['CL obs-fold', ['Content-Length:', ' 3'], 'abc'],
    ['chunk size overflow', ['Transfer-Encoding: chunked'], `10000000000000001${CRLF}a${CRLF}0${CRLF}${CRLF}`],
    ['zero chunk then smuggle', ['Transfer-Encoding: chunked'], `0${CRLF}${CRLF}${smuggle}`],
    ['LF-only zero chunk', ['Transfer-Encoding: chunked'], `0\n\n${smuggle}`],
    ['trailer smuggle', ['Transfer-Encoding: chunked'], `0${CRLF}Content-Length: 5${CRLF}${CRLF}${smuggle}`],
    ['CL 0 with body', ['Content-Length: 0'], smuggle],
    ['GET with CL then pipeline', ['Content-Length: 5'], `hello${smuggle}`],
  ] as const) {
    add(`smuggling: ${name}`, req('POST /home HTTP/1.1', [H, ...headers], body));
  }
  for (const value of ['0', '1', '1024', '65536'])
    add(
      `Content-Length ${value} exact`,
      req('PUT /home HTTP/1.1', [H, `Content-Length: ${value}`], 'z'.repeat(Number(value))),
    );
  for (const name of [
    'Content-Type',
    'Accept-Encoding',
    'Authorization',
    'Cookie',
    'User-Agent',
    'Referer',
    'Origin',
    'If-None-Match',
    'Range',
    'Cache-Control',
  ]) {
    add(`common header ${name}`, req('GET /home HTTP/1.1', [H, `${name}: value-${name.length}`]));
  }
  return cases;
}

/** What a replica sees, comparable across the two paths: hop-by-hop and LB-set headers left out. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'expect',
  'x-request-id',
  'x-forwarded-for',
]);
function view(seen: Seen, dropHost: boolean) {
  const headers: string[] = [];
  // A proxy drops what Connection lists (RFC 9110 7.6.1); node:http, an origin, keeps it.
  const listed = new Set<string>();
  for (let k = 0; k < seen.rawHeaders.length; k += 2) {
    if (seen.rawHeaders[k]!.toLowerCase() === 'connection')
      for (const t of seen.rawHeaders[k + 1]!.split(',')) listed.add(t.trim().toLowerCase());
  }
  for (let k = 0; k < seen.rawHeaders.length; k += 2) {
    const name = seen.rawHeaders[k]!.toLowerCase();
    if (HOP.has(name) || listed.has(name) || (dropHost && name === 'host')) continue;
    headers.push(`${name}: ${seen.rawHeaders[k + 1]}`);
  }
  return { method: seen.method, url: seen.url, headers, body: seen.body.toString('latin1') };
}

describe('differential: the data plane and node:http decide alike', () => {
  let lb: RunningLb;
  let lbPort: number;
  let replica: Awaited<ReturnType<typeof recordingServer>>;
  let reference: Awaited<ReturnType<typeof recordingServer>>;

  before(async () => {
    replica = await recordingServer();
    reference = await recordingServer();
    const driver = new StaticDriver(new Map(['Server-1', 'Server-2', 'Server-3'].map((n) => [n, replica.url])));
    lb = await startLb({ N: '3' }, driver);
    lbPort = Number(new URL(lb.url).port);
  });
  after(async () => {
    await lb.stop();
    replica.server.close();
    reference.server.close();
  });

  /** Sends one case to both; returns the two outcomes. */
  async function both(raw: string) {
    replica.seen.length = 0;
    reference.seen.length = 0;
    const [viaLb, direct] = await Promise.all([
      rawExchange(lbPort, Buffer.from(raw, 'latin1')),
      rawExchange(reference.port, Buffer.from(raw, 'latin1')),
    ]);
    // The LB's own heartbeats reach the replica too.
    return {
      viaLb,
      direct,
      atReplica: replica.seen.filter((s) => s.url !== '/heartbeat'),
      atReference: [...reference.seen],
    };
  }

  const cases = corpus();

  it(`has at least 200 cases (${cases.length})`, () => {
    assert.ok(cases.length >= 200);
  });

  it('every corpus case: same decision, same request at the replica; refusals in the contract shape', async () => {
    const mismatches: string[] = [];
    for (const c of cases) {
      const { viaLb, direct, atReplica, atReference } = await both(c.raw);
      const lbStatuses = statuses(viaLb.text);
      if (c.stricter !== undefined) {
        // node:http serves it; the LB refuses it with a clear error and forwards nothing.
        if (atReference.length === 0) mismatches.push(`${c.name}: node:http refused it too (expected it to serve)`);
        if (atReplica.length !== 0 || lbStatuses[0] !== c.stricter)
          mismatches.push(`${c.name}: LB ${lbStatuses.join(',')} forwarded ${atReplica.length}`);
        continue;
      }
      const dropHost = !/\r\nhost:/i.test(`${c.raw.split('\r\n\r\n')[0]!}\r\n`); // the LB supplies one
      const lbViews = atReplica.map((s) => view(s, dropHost));
      const refViews = atReference.map((s) => view(s, dropHost));
      try {
        assert.deepEqual(lbViews, refViews);
      } catch {
        mismatches.push(
          `${c.name}: replica saw ${JSON.stringify(lbViews).slice(0, 300)} vs node:http ${JSON.stringify(refViews).slice(0, 300)}`,
        );
        continue;
      }
      const refusedByNode = statuses(direct.text).filter((s) => s >= 400);
      if (refusedByNode.length > 0 && atReference.length === 0) {
        const lbRefusals = lbStatuses.filter((s) => s >= 400);
        if (lbRefusals.length === 0)
          mismatches.push(`${c.name}: node:http refused (${refusedByNode}) but the LB did not`);
        // Refusals carry the contract's body.
        if (!/\{"message":"<Error> [^"]+","status":"failure"\}/.test(viaLb.text))
          mismatches.push(`${c.name}: refusal not in the contract shape: ${viaLb.text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  it('fast-check: generated framings get the same decision and the same body at the replica', async () => {
    const line = fc.constantFrom('\r\n', '\n');
    const clValue = fc.oneof(
      fc.nat(40).map(String),
      fc.constantFrom('', ' 5', '5 ', '+5', '5,5', '0x5', '-1', '05', 'abc'),
    );
    const teValue = fc.constantFrom(
      'chunked',
      'Chunked',
      ' chunked',
      'chunked, chunked',
      'gzip, chunked',
      'chunked, gzip',
      'identity',
      'gzip',
    );
    const chunkSize = fc.oneof(
      fc.nat(20).map((n) => n.toString(16)),
      fc.constantFrom('g', '-1', '0x2', '2 ', '2;x=1', '2;', 'FFFFFFFFFFFFFFFFFF'),
    );
    const framing = fc.record({
      eol: line,
      cl: fc.option(clValue, { nil: undefined }),
      cl2: fc.option(clValue, { nil: undefined }),
      te: fc.option(teValue, { nil: undefined }),
      chunks: fc.array(
        fc.tuple(
          chunkSize,
          fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x')),
        ),
        { maxLength: 3 },
      ),
      raw: fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'y')),
      trailer: fc.boolean(),
      pipelined: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(framing, async (f) => {
        const e = f.eol;
        const headers = [
          'Host: lb',
          ...(f.cl !== undefined ? [`Content-Length: ${f.cl}`] : []),
          ...(f.cl2 !== undefined ? [`Content-Length: ${f.cl2}`] : []),
          ...(f.te !== undefined ? [`Transfer-Encoding: ${f.te}`] : []),
        ];
        const body =
          f.te !== undefined
            ? f.chunks.map(([size, data]) => `${size}${e}${data}${e}`).join('') +
              `0${e}${f.trailer ? `X-T: 1${e}` : ''}${e}`
            : f.raw;
        const next = f.pipelined ? `GET /next HTTP/1.1${e}Host: lb${e}${e}` : '';
        const raw = `POST /home HTTP/1.1${e}${headers.join(e)}${e}${e}${body}${next}`;
        const { atReplica, atReference } = await both(raw);
        assert.deepEqual(
          atReplica.map((s) => view(s, false)),
          atReference.map((s) => view(s, false)),
          JSON.stringify(raw),
        );
      }),
      { numRuns: 150 },
    );
  });
});
