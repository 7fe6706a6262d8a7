import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { AnswerMetrics, LATENCY_BUCKETS } from '../../src/answer-metrics.js';

/** The same answers through prom-client's own Counter and Histogram: the text /metrics printed before. */
function reference(answers: [string, number, number][]): Registry {
  const registry = new Registry();
  const requests = new Counter({
    name: 'lb_requests_total',
    help: 'Requests forwarded, by replica that answered and status code',
    labelNames: ['replica', 'code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'lb_request_duration_seconds',
    help: 'Time from receiving a request to the replica answering its headers',
    labelNames: ['replica'],
    buckets: [...LATENCY_BUCKETS],
    registers: [registry],
  });
  for (const [replica, code, ms] of answers) {
    requests.inc({ replica, code: String(code) });
    latency.observe({ replica }, ms / 1000);
  }
  return registry;
}

/** Each metric's HELP and TYPE lines, then its series sorted: Prometheus gives series order no meaning. */
function normalized(text: string): string[][] {
  return text.split(/^(?=# HELP)/m).map((block) => {
    const lines = block.trim().split('\n');
    return [...lines.slice(0, 2), ...lines.slice(2).sort()];
  });
}

describe('answer metrics', () => {
  it("print exactly what prom-client's Counter and Histogram print for the same answers", async () => {
    const answers: [string, number, number][] = [];
    // Bucket edges exactly (le is inclusive), between them, beyond the last, several codes and replicas.
    for (const le of LATENCY_BUCKETS) answers.push(['Server-1', 200, le * 1000]);
    for (let k = 0; k < 500; k++)
      answers.push([
        `Server-${1 + (k % 3)}`,
        [200, 400, 502][k % 7 === 0 ? 2 : k % 5 === 0 ? 1 : 0]!,
        Math.random() * 12_000,
      ]);
    answers.push(['S5', 503, 0]);
    const registry = new Registry();
    const metrics = new AnswerMetrics(registry);
    for (const [replica, code, ms] of answers) metrics.answered(replica, code, ms);
    assert.deepEqual(normalized(await registry.metrics()), normalized(await reference(answers).metrics()));
  });

  it('a forgotten replica leaves no series; the others keep counting', async () => {
    const registry = new Registry();
    const metrics = new AnswerMetrics(registry);
    metrics.answered('Server-1', 200, 1);
    metrics.answered('Server-2', 200, 3);
    metrics.forget('Server-1');
    metrics.answered('Server-2', 400, 7);
    assert.deepEqual(metrics.names(), ['Server-2']);
    const text = await registry.metrics();
    assert.doesNotMatch(text, /Server-1/);
    assert.deepEqual(
      normalized(text),
      normalized(
        await reference([
          ['Server-2', 200, 3],
          ['Server-2', 400, 7],
        ]).metrics(),
      ),
    );
  });

  it('counts stay monotonic across scrapes', async () => {
    const registry = new Registry();
    const metrics = new AnswerMetrics(registry);
    metrics.answered('Server-1', 200, 1);
    await registry.metrics();
    metrics.answered('Server-1', 200, 1);
    assert.match(await registry.metrics(), /^lb_requests_total\{replica="Server-1",code="200"\} 2$/m);
  });
});
