import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config.js';

describe('configuration', () => {
  it('has the contract defaults', () => {
    const c = parseConfig({}, { driver: 'process' });
    assert.deepEqual(
      [c.port, c.driver, c.n, c.hashFunction, c.slots, c.virtualServers, c.heartbeatIntervalMs, c.heartbeatTimeoutMs],
      [5000, 'process', 3, 'sha256', 512, 9, 1000, 500],
    );
    assert.deepEqual(
      [c.maxFailCount, c.stopTimeoutMs, c.network, c.serverImage, c.maxReplicas, c.logLevel, c.adminToken],
      [3, 5000, 'net1', 'lb-server', 56, 'info', undefined],
    );
    assert.equal(parseConfig({}, { driver: 'docker' }).driver, 'docker');
  });

  it('derives K = floor(log2 SLOTS) and MAX_REPLICAS = floor(SLOTS / K)', () => {
    const c = parseConfig({ SLOTS: '1024' }, { driver: 'process' });
    assert.equal(c.virtualServers, 10);
    assert.equal(c.maxReplicas, 102);
    assert.equal(parseConfig({ SLOTS: '100', K: '4' }, { driver: 'process' }).maxReplicas, 25);
  });

  const bad: [Record<string, string>, string][] = [
    [{ PORT: 'http' }, "PORT must be an integer in 0..65535 (got 'http')"],
    [{ PORT: '70000' }, "PORT must be an integer in 0..65535 (got '70000')"],
    [{ N: '-1' }, "N must be an integer in 0..56 (got '-1')"],
    [{ N: '57' }, "N must be an integer in 0..56 (got '57')"],
    [{ N: '2.5' }, "N must be an integer in 0..56 (got '2.5')"],
    [{ HASH_FUNCTION: 'md5' }, "HASH_FUNCTION must be one of given, modified, sha256 (got 'md5')"],
    [{ REPLICA_DRIVER: 'k8s' }, "REPLICA_DRIVER must be one of process, docker, swarm (got 'k8s')"],
    [{ SLOTS: '1' }, "SLOTS must be an integer in 2..1048576 (got '1')"],
    [{ K: '600' }, "K must be an integer in 1..512 (got '600')"],
    [{ MAX_REPLICAS: '57' }, "MAX_REPLICAS must be an integer in 1..56 (got '57')"],
    [{ HEARTBEAT_INTERVAL_MS: '1s' }, "HEARTBEAT_INTERVAL_MS must be an integer in 10..3600000 (got '1s')"],
    [{ MAX_FAIL_COUNT: '0' }, "MAX_FAIL_COUNT must be an integer in 1..1000 (got '0')"],
    [{ LOG_LEVEL: 'loud' }, "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got 'loud')"],
    [{ NETWORK: 'my net' }, "NETWORK must be a Docker network name ([A-Za-z0-9][A-Za-z0-9_.-]*) (got 'my net')"],
    [{ TUNNEL_IDLE_TIMEOUT_MS: '-5' }, "TUNNEL_IDLE_TIMEOUT_MS must be an integer in 0..86400000 (got '-5')"],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      assert.throws(
        () => parseConfig(env, { driver: 'process' }),
        (e: unknown) => e instanceof ConfigError && e.message === message,
      );
    });
  }

  it('the LB exits non-zero with one line naming the variable', () => {
    const run = spawnSync(process.execPath, ['dist/lb.js'], {
      env: { ...process.env, HASH_FUNCTION: 'md5' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 2);
    assert.equal(
      run.stderr,
      "lb: configuration error: HASH_FUNCTION must be one of given, modified, sha256 (got 'md5')\n",
    );
  });

  it('reads routing keys and what replicas are (HASH_KEY, REPLICA_*, HEALTH_*, UPSTREAM_404), with their defaults', () => {
    const d = parseConfig({}, { driver: 'process' });
    assert.deepEqual(d.hashKey, [{ kind: 'request-id' }]);
    assert.deepEqual(d.replicas, {
      port: 5000,
      env: [],
      command: undefined,
      healthPath: '/heartbeat',
      healthStatus: [[200, 399]],
    });
    assert.equal(d.upstream404, 'contract');
    assert.deepEqual([d.drainTimeoutMs, d.rehomeGraceMs, d.slowStartMs], [30_000, 1000, 0]);
    const c = parseConfig(
      {
        PATH: process.env.PATH,
        HASH_KEY: 'cookie:sid, request-id',
        REPLICA_PORT: '8080',
        REPLICA_ENV: 'MODE=prod, EMPTY=,URL=http://x/?a=b',
        REPLICA_COMMAND: `python3 -m http.server {port} --bind '127.0.0.1'`,
        HEALTH_PATH: '/',
        HEALTH_STATUS: '200, 204-206',
        UPSTREAM_404: 'pass',
      },
      { driver: 'process' },
    );
    assert.deepEqual(c.hashKey, [{ kind: 'cookie', name: 'sid' }, { kind: 'request-id' }]);
    assert.deepEqual(c.replicas, {
      port: 8080,
      env: ['MODE=prod', 'EMPTY=', 'URL=http://x/?a=b'],
      command: ['python3', '-m', 'http.server', '{port}', '--bind', '127.0.0.1'],
      healthPath: '/',
      healthStatus: [
        [200, 200],
        [204, 206],
      ],
    });
    assert.equal(c.upstream404, 'pass');
  });

  it('refuses bad routing keys and replica settings with one line naming the variable', () => {
    for (const [env, message] of [
      [{ HASH_KEY: 'cookie' }, "HASH_KEY: 'cookie:NAME' needs a name (got 'cookie')"],
      [{ HASH_KEY: 'segment:0' }, "HASH_KEY: 'segment:N' needs N from 1 to 1000 (got 'segment:0')"],
      [{ HASH_KEY: 'ip' }, "HASH_KEY: unknown key source 'ip'"],
      [{ HEALTH_STATUS: '200-99' }, 'HEALTH_STATUS must be statuses or ranges of 100..599'],
      [{ HEALTH_STATUS: 'ok' }, 'HEALTH_STATUS must be statuses or ranges of 100..599'],
      [{ HEALTH_PATH: 'heartbeat' }, "HEALTH_PATH must be a path starting with / (got 'heartbeat')"],
      [{ REPLICA_COMMAND: "python3 'unbalanced" }, 'REPLICA_COMMAND must be a command line (unbalanced quotes'],
      [
        { REPLICA_COMMAND: 'no-such-program-here {port}' },
        "REPLICA_COMMAND: 'no-such-program-here' is not an executable program",
      ],
      [{ REPLICA_ENV: 'novalue' }, "REPLICA_ENV must be K=V pairs separated by commas (got 'novalue')"],
      [{ REPLICA_PORT: '0' }, "REPLICA_PORT must be an integer in 1..65535 (got '0')"],
      [{ UPSTREAM_404: 'drop' }, "UPSTREAM_404 must be one of contract, pass (got 'drop')"],
      [{ DRAIN_TIMEOUT_MS: '-1' }, "DRAIN_TIMEOUT_MS must be an integer in 0..3600000 (got '-1')"],
      [{ REHOME_GRACE_MS: '600001' }, "REHOME_GRACE_MS must be an integer in 0..600000 (got '600001')"],
      [{ SLOW_START_MS: 'soon' }, "SLOW_START_MS must be an integer in 0..3600000 (got 'soon')"],
    ] as const) {
      assert.throws(
        () => parseConfig({ PATH: process.env.PATH, ...env }, { driver: 'process' }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(message),
        `${JSON.stringify(env)} -> ${message}`,
      );
    }
  });

  it('reads ACCESS_LOG, and whether tracing is on (an OTLP endpoint set) with which sampler; both off by default', () => {
    const read = (env: Record<string, string>) => {
      const c = parseConfig(env, { driver: 'process' });
      return [c.accessLog, c.tracing];
    };
    assert.deepEqual(read({}), [undefined, false]);
    assert.deepEqual(read({ ACCESS_LOG: 'off' }), [undefined, false]);
    assert.deepEqual(read({ ACCESS_LOG: 'stdout' }), ['stdout', false]);
    assert.deepEqual(read({ ACCESS_LOG: '/var/log/lb/access.log' }), [{ path: '/var/log/lb/access.log' }, false]);
    const everyRequest = { sampler: 'parentbased_always_on', ratio: 1 };
    assert.deepEqual(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), [undefined, everyRequest]);
    assert.deepEqual(read({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/v1/traces' }), [undefined, everyRequest]);
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.deepEqual(read({ ...on, OTEL_TRACES_SAMPLER: 'traceidratio' }), [
      undefined,
      { sampler: 'traceidratio', ratio: 1 },
    ]);
    const onePercent = { ...on, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' };
    assert.deepEqual(read(onePercent), [undefined, { sampler: 'parentbased_traceidratio', ratio: 0.01 }]);
    // The ratio belongs to the ratio samplers only (as in the SDK).
    assert.deepEqual(read({ ...on, OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.5' }), [
      undefined,
      { sampler: 'always_on', ratio: 1 },
    ]);
    assert.deepEqual(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), [
      undefined,
      false,
    ]);
    assert.deepEqual(read({ OTEL_TRACES_SAMPLER: 'nonsense' }), [undefined, false]); // no endpoint: not read
  });

  it('refuses OpenTelemetry settings the SDK would silently replace by a default', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    for (const [env, message] of [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL'],
      [{ ...on, OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER must be one of always_on, always_off,'],
      [
        { ...on, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
        "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, e.g. 0.01 (got '1.5')",
      ],
      [
        { ...on, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' },
        "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, e.g. 0.01 (got 'half')",
      ],
    ] as const) {
      assert.throws(
        () => parseConfig(env, { driver: 'process' }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(message),
        `${JSON.stringify(env)} -> ${message}`,
      );
    }
  });

  it('a bad HASH_KEY stops the built LB at start: exit 2, one line', () => {
    const run = spawnSync(process.execPath, ['dist/lb.js'], {
      env: { ...process.env, HASH_KEY: 'segment:0' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 2);
    assert.equal(
      run.stderr,
      "lb: configuration error: HASH_KEY: 'segment:N' needs N from 1 to 1000 (got 'segment:0')\n",
    );
  });

  it('TUNNEL_IDLE_TIMEOUT_MS is off (0) by default', () => {
    assert.equal(parseConfig({}, { driver: 'process' }).tunnelIdleTimeoutMs, 0);
    assert.equal(parseConfig({ TUNNEL_IDLE_TIMEOUT_MS: '60000' }, { driver: 'process' }).tunnelIdleTimeoutMs, 60_000);
  });

  it('a set but blank ADMIN_TOKEN stops the built LB at start: exit 2, one line (never read as "no token")', () => {
    for (const blank of ['', '   ', '\t']) {
      const run = spawnSync(process.execPath, ['dist/lb.js'], {
        env: { ...process.env, ADMIN_TOKEN: blank, PORT: '0', N: '0' },
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(run.status, 2, `ADMIN_TOKEN=${JSON.stringify(blank)}`);
      assert.equal(
        run.stderr,
        'lb: configuration error: ADMIN_TOKEN is set but blank; set a token, or unset the variable to leave admin calls open\n',
      );
    }
    assert.equal(parseConfig({ ADMIN_TOKEN: ' s3cret ' }, { driver: 'process' }).adminToken, 's3cret');
    assert.equal(parseConfig({}, { driver: 'process' }).adminToken, undefined);
  });
});
