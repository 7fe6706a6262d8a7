import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessLine, accessLines } from '../../src/access-log/line.js';
import { requestRecord } from '../../src/proxy/observation.js';

describe('access-log line', () => {
  it('is one JSON object and a newline, every field in order, as JSON.stringify would write them', () => {
    const record = requestRecord('10.0.0.7', 'GET', '/a"b\\c\u0001?q=é');
    Object.assign(record, {
      status: 502,
      bytesIn: 3,
      bytesOut: 250,
      durationMs: 1.23456789,
      requestId: '42',
      keySource: 'cookie:sid',
      routingId: '123456789012345',
      replica: 'Server-2',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      error: 'Replica Server-2 failed: "ECONNRESET"',
    });
    record.attempts.push({ replica: 'Server-1', failure: 'refused' }, { replica: 'Server-2', failure: null });
    record.passedOver.push({ replica: 'Server-3', reason: 'ejected' });
    const line = accessLine(record);
    assert.ok(line.endsWith('}\n'));
    assert.equal(line.indexOf('\n'), line.length - 1);
    const expected = {
      time: new Date(record.time).toISOString(),
      event: 'request',
      client: '10.0.0.7',
      method: 'GET',
      path: '/a"b\\c\u0001?q=é',
      status: 502,
      bytesIn: 3,
      bytesOut: 250,
      durationMs: 1.235,
      requestId: '42',
      keySource: 'cookie:sid',
      routingId: '123456789012345',
      replica: 'Server-2',
      attempts: [
        { replica: 'Server-1', failure: 'refused' },
        { replica: 'Server-2', failure: null },
      ],
      passedOver: [{ replica: 'Server-3', reason: 'ejected' }],
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      error: 'Replica Server-2 failed: "ECONNRESET"',
      closedBy: null,
      protocol: 'h1',
      tls: false,
    };
    assert.equal(line, `${JSON.stringify(expected)}\n`);
  });

  it('a refused request: nulls where nothing is known', () => {
    const parsed = JSON.parse(accessLine(requestRecord('::1', null, null)));
    assert.deepEqual(
      [parsed.method, parsed.path, parsed.status, parsed.attempts, parsed.passedOver, parsed.replica],
      [null, null, null, [], [], null],
    );
  });
});

describe('access-log durations', () => {
  it('print as JSON.stringify prints the duration rounded to the microsecond', () => {
    for (const ms of [
      0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 1, 1.2, 1.05, 1.0004999, 12.3456, 999.9996, 1234.5, 65432.001,
    ]) {
      const record = requestRecord('::1', null, null);
      record.durationMs = ms;
      assert.equal(JSON.parse(accessLine(record)).durationMs, Math.round(ms * 1000) / 1000, String(ms));
      assert.match(accessLine(record), new RegExp(`"durationMs":${JSON.stringify(Math.round(ms * 1000) / 1000)},`));
    }
  });
});

describe('access-log batches', () => {
  it('are the lines in UTF-8, whether a batch is all ASCII or holds text past it', () => {
    const ascii = requestRecord('10.0.0.7', 'GET', '/plain');
    const wide = requestRecord('10.0.0.8', 'GET', '/caf\u00e9');
    const escaped = requestRecord('10.0.0.9', 'GET', '/"\u00ff"');
    const pair = requestRecord('10.0.0.9', 'GET', '/\u{1f600}');
    for (const batch of [[ascii], [ascii, wide], [wide, ascii], [ascii, escaped], [pair, ascii], [ascii, ascii]]) {
      const expected = Buffer.from(batch.map(accessLine).join(''), 'utf8');
      assert.deepEqual(accessLines(batch), expected, batch.map((r) => r.path).join(' '));
    }
  });
});
