import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { spawnLb, waitFor } from '../../../kit/src/lb.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

describe("the LB's own log lines", () => {
  it('piped (a container, a collector): one JSON object a line, none naming the internal socket', async () => {
    const envs: Record<string, string>[] = [
      { N: '1', LOG_LEVEL: 'debug' },
      { N: '1', LB_WORKERS: '2' },
    ];
    for (const env of envs) {
      const lb = await spawnLb(env);
      await lb.stop();
      const lines = lb
        .output()
        .split('\n')
        .filter((line) => line !== '');
      assert.ok(lines.length >= 3, lb.output());
      for (const line of lines) {
        const parsed = JSON.parse(line);
        assert.equal(typeof parsed.msg, 'string', line);
        assert.doesNotMatch(line, /\\u0000|consistent-hash-lb-/, line);
      }
      assert.ok(lines.some((line) => JSON.parse(line).msg === "the LB's own routes are ready"));
    }
  });

  it('on a terminal: readable lines (pino-pretty), not JSON', { skip: !hasScript && 'no `script` here' }, async () => {
    // `script` gives the LB a pseudo-terminal, as a shell would; `exec` makes the LB its child.
    const term = spawn('script', ['-qfc', `exec ${process.execPath} dist/lb.js`, '/dev/null'], {
      env: { ...process.env, PORT: '0', N: '1' },
    });
    let out = '';
    term.stdout.on('data', (chunk) => (out += chunk));
    try {
      await waitFor('the LB to listen', () => /listening on http/.test(out) || undefined, 20_000);
    } finally {
      const lb = Number(spawnSync('pgrep', ['-P', String(term.pid)], { encoding: 'utf8' }).stdout.trim());
      if (lb > 0) process.kill(lb, 'SIGTERM');
      await new Promise((resolve) => term.once('exit', resolve));
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's colour codes
    const plain = out.replace(/\u001b\[\d+m/g, '').replace(/\r/g, '');
    const lines = plain.split('\n').filter((line) => line.trim() !== '');
    assert.ok(
      lines.some((line) =>
        /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: load balancer listening on http:\/\/127\.0\.0\.1:\d+/.test(line),
      ),
      plain,
    );
    assert.ok(
      lines.some((line) => /^\[[\d:.]+\] INFO \(Server-1\): replica added/.test(line)),
      plain,
    );
    assert.equal(
      lines.some((line) => line.startsWith('{')),
      false,
      plain,
    );
  });
});
