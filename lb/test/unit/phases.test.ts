import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLIENT_MOVES } from '../../src/proxy/http1/client-connection.js';
import { UPSTREAM_MOVES } from '../../src/proxy/http1/upstream-connection.js';
import { move, type Transitions } from '../../src/proxy/phase.js';

/** Every phase reachable from `start` through the table's moves. */
function reachable<P extends string>(table: Transitions<P>, start: P): Set<P> {
  const seen = new Set<P>([start]);
  for (const phase of seen) for (const next of table[phase]) seen.add(next);
  return seen;
}

describe('connection phases', () => {
  it('throws on a move its table does not list (the test runner sets LB_ASSERT=1)', () => {
    assert.equal(process.env.LB_ASSERT, '1');
    assert.equal(move(CLIENT_MOVES, 'client', 'open', 'lingering'), 'lingering');
    assert.throws(() => move(CLIENT_MOVES, 'client', 'closed', 'open'), /client: closed -> open is not a legal move/);
    assert.throws(() => move(UPSTREAM_MOVES, 'upstream', 'idle', 'answered'), /idle -> answered/);
  });

  it('a client connection reaches every phase from open, and ends switched or closed', () => {
    assert.deepEqual([...reachable(CLIENT_MOVES, 'open')].sort(), Object.keys(CLIENT_MOVES).sort());
    const terminal = Object.entries(CLIENT_MOVES).filter(([, moves]) => (moves as string[]).length === 0);
    assert.deepEqual(terminal.map(([phase]) => phase).sort(), ['closed', 'switched']);
    // Every phase that still has a socket can close.
    for (const [phase, moves] of Object.entries(CLIENT_MOVES)) {
      if (phase !== 'closed' && phase !== 'switched') assert.ok((moves as string[]).includes('closed'), phase);
    }
  });

  it('an upstream connection reaches every phase from connecting; idle is reached again only after an answer', () => {
    assert.deepEqual([...reachable(UPSTREAM_MOVES, 'connecting')].sort(), Object.keys(UPSTREAM_MOVES).sort());
    const intoIdle = Object.entries(UPSTREAM_MOVES).filter(([, moves]) => (moves as string[]).includes('idle'));
    assert.deepEqual(intoIdle.map(([phase]) => phase).sort(), ['answered', 'connecting']);
    for (const [phase, moves] of Object.entries(UPSTREAM_MOVES)) {
      if (phase !== 'dead' && phase !== 'switched') assert.ok((moves as string[]).includes('dead'), phase);
    }
  });
});
