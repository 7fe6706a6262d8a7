import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monotonicMs, readBegins, readEnds } from '../../src/clock.js';
import { Deadlines } from '../../src/proxy/deadlines.js';
import { type Head, HttpParser, type ParserHandler } from '../../src/proxy/http1/parser.js';

/** Waits `ms` without leaving the current callback (a read is handled synchronously). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const REQUEST = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');

function parserWith(on: Partial<ParserHandler>): HttpParser {
  return new HttpParser('request', {
    onMessageBegin: () => undefined,
    onHead: (_head: Head) => 0,
    onBody: () => undefined,
    onMessageComplete: () => undefined,
    ...on,
  });
}

describe('the clock', () => {
  it('reads anew on every call outside a read', () => {
    const first = monotonicMs();
    spin(2);
    assert.ok(monotonicMs() >= first + 2);
  });

  it('is one reading for everything one read does, and reads anew once the read is handled', () => {
    const seen: number[] = [];
    const parser = parserWith({
      onHead: () => {
        seen.push(monotonicMs());
        spin(2);
        seen.push(monotonicMs());
        return 0;
      },
      onMessageComplete: () => seen.push(monotonicMs()),
    });
    assert.equal(parser.execute(REQUEST), REQUEST.length);
    // Two requests, each head and end: one time for the whole read.
    assert.equal(seen.length, 6);
    assert.equal(new Set(seen).size, 1);
    spin(2);
    assert.ok(monotonicMs() >= seen[0]! + 2 * 2 + 2);
    parser.close();
  });

  it('reads anew within a read once its parser was released from its own callback (a switched protocol)', () => {
    let before = 0;
    let after = 0;
    const parser = parserWith({
      onHead: () => {
        before = monotonicMs();
        parser.release(false);
        spin(2);
        after = monotonicMs();
        return 0;
      },
    });
    parser.execute(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.ok(after >= before + 2, `${before} then ${after}`);
  });

  it('holds the time of a read whose end was never heard of one deadline sweep at most', async () => {
    const deadlines = new Deadlines(10);
    try {
      readBegins(); // a callback that threw: its parser never said the read was handled
      const stuck = monotonicMs();
      await new Promise((resolve) => setTimeout(resolve, 40));
      assert.ok(monotonicMs() >= stuck + 30, 'the sweep ended the read');
    } finally {
      deadlines.close();
      readEnds();
    }
  });
});
