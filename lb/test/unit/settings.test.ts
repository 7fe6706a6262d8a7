import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyRuntimeSettings, type Config, parseConfig, readConfig, restartNeeded } from '../../src/config.js';
import { shownSettings } from '../../src/settings/resolve.js';
import { fileNameOf, RUNTIME_NAMES, SETTING_NAMES, SETTINGS } from '../../src/settings/schema.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'lb-settings-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A configuration file with these lines; its path. */
function file(...lines: string[]): string {
  const path = join(dir, `lb-${++files}.yaml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const errorsOf = (env: Record<string, string>, path?: string): string[] => {
  const reading = readConfig(env, { driver: 'process', file: path });
  return 'config' in reading ? [] : reading.errors;
};
const configOf = (env: Record<string, string>, path?: string): Config =>
  parseConfig({ PATH: process.env.PATH ?? '', ...env }, { driver: 'process', file: path });

describe('the settings schema', () => {
  it('names every setting by its variable in lower camel case, each variable once, each with a doc and a group', () => {
    const variables = SETTING_NAMES.map((name) => SETTINGS[name].env);
    assert.equal(new Set(variables).size, variables.length);
    for (const name of SETTING_NAMES) {
      const setting = SETTINGS[name];
      assert.equal(name, fileNameOf(setting.env), setting.env);
      assert.ok(setting.doc.length > 5 && setting.group.length > 0, name);
    }
    assert.equal(fileNameOf('OUTLIER_CONSECUTIVE_5XX'), 'outlierConsecutive5xx');
    assert.equal(fileNameOf('H2_MAX_CONCURRENT_STREAMS'), 'h2MaxConcurrentStreams');
  });

  it('the docs agree with it: the tables of docs/configuration.md and the README, and lb.example.yaml', () => {
    const check = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/config-docs.ts', '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, check.stderr);
  });

  it('the check finds a table that disagrees (it is not blind)', () => {
    const copy = mkdtempSync(join(tmpdir(), 'lb-settings-docs-'));
    try {
      for (const path of ['README.md', 'lb.example.yaml'])
        writeFileSync(join(copy, path), readFileSync(join(ROOT, path)));
      spawnSync('mkdir', ['-p', join(copy, 'docs')]);
      const table = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
      writeFileSync(join(copy, 'docs/configuration.md'), table.replace('| 10000 |', '| 5000 |'));
      const check = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'scripts/config-docs.ts'), '--check', '--root', copy],
        { cwd: ROOT, encoding: 'utf8' },
      );
      assert.equal(check.status, 1);
      assert.match(check.stderr, /^docs\/configuration\.md: differs/m);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('lb.example.yaml, read as a file, gives every default', () => {
    const example = configOf({ LB_CONFIG: join(ROOT, 'lb.example.yaml') });
    const defaults = configOf({});
    assert.deepEqual(shownSettings(example), shownSettings(defaults));
    assert.equal(example.configFile, join(ROOT, 'lb.example.yaml'));
    // Every setting is in it (derived defaults as null).
    const text = readFileSync(join(ROOT, 'lb.example.yaml'), 'utf8');
    for (const name of SETTING_NAMES) assert.match(text, new RegExp(`^${name}: `, 'm'), name);
  });
});

describe('a configuration file', () => {
  it('precedence: defaults < file < environment', () => {
    const path = file('upstreamTimeoutMs: 2000', 'slowStartMs: 500', 'hashKey: [cookie:sid, request-id]');
    const c = configOf({ SLOW_START_MS: '700' }, path);
    assert.deepEqual([c.upstreamTimeoutMs, c.slowStartMs, c.drainTimeoutMs], [2000, 700, 30_000]);
    assert.deepEqual(c.hashKey, [{ kind: 'cookie', name: 'sid' }, { kind: 'request-id' }]);
    assert.deepEqual(
      [c.origins.upstreamTimeoutMs, c.origins.slowStartMs, c.origins.drainTimeoutMs],
      ['file', 'environment', 'default'],
    );
    // LB_CONFIG names it as --config does.
    assert.equal(configOf({ LB_CONFIG: path }).upstreamTimeoutMs, 2000);
  });

  it('takes YAML lists and maps where the variable takes a list, and reads like the variable', () => {
    const path = file(
      'hashKey: "cookie:sid, request-id"',
      'replicaEnv: {MODE: prod, EMPTY: ""}',
      'healthStatus: [200, 204-206]',
      "replicaCommand: [python3, -m, http.server, '{port}']",
      'accessLog: stdout',
      'hashBalanceFactor: 1.25',
      'otelExporterOtlpEndpoint: http://collector:4318',
      'otelTracesSampler: traceidratio',
      'otelTracesSamplerArg: 0.5',
    );
    const c = configOf({}, path);
    assert.deepEqual(c.hashKey, [{ kind: 'cookie', name: 'sid' }, { kind: 'request-id' }]);
    assert.deepEqual(c.replicas.env, ['MODE=prod', 'EMPTY=']);
    assert.deepEqual(c.replicas.healthStatus, [
      [200, 200],
      [204, 206],
    ]);
    assert.deepEqual(c.replicas.command, ['python3', '-m', 'http.server', '{port}']);
    assert.equal(c.accessLog, 'stdout');
    assert.equal(c.hashBalanceFactor, 1.25);
    assert.deepEqual(c.tracing, { sampler: 'traceidratio', ratio: 0.5 });
  });

  it('refuses unknown names with the nearest valid one, wrong types, out-of-range values: every error, one a line', () => {
    const path = file(
      'hash_fucntion: sha256',
      'UPSTREAM_TIMEOUT_MS: 5',
      'nonsenseWithNoNeighbour: 1',
      'upstreamTimeoutMs: "1000"',
      'slots: 1',
      'hashKey: [cookie]',
      'routing: round-robin',
      'maglevTableSize: 10',
    );
    assert.deepEqual(errorsOf({}, path), [
      `lb-${files}.yaml: unknown setting 'hash_fucntion' (did you mean 'hashFunction'?)`,
      `lb-${files}.yaml: unknown setting 'UPSTREAM_TIMEOUT_MS' (did you mean 'upstreamTimeoutMs'?)`,
      `lb-${files}.yaml: unknown setting 'nonsenseWithNoNeighbour'`,
      `lb-${files}.yaml: routing must be one of ring, maglev (got 'round-robin')`,
      `lb-${files}.yaml: slots must be an integer in 2..1048576 (got '1')`,
      `lb-${files}.yaml: maglevTableSize must be a prime number (got '10')`,
      `lb-${files}.yaml: hashKey: 'cookie:NAME' needs a name (got 'cookie')`,
      `lb-${files}.yaml: upstreamTimeoutMs must be an integer in 1..3600000 (got '1000')`,
    ]);
  });

  it('refuses a file that is not YAML, not a mapping, or missing, and an environment value as before', () => {
    assert.deepEqual(errorsOf({}, file('a: [1')), [
      `lb-${files}.yaml: not YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1`,
    ]);
    assert.deepEqual(errorsOf({}, file('- port: 1')), [
      `lb-${files}.yaml: must be a mapping of settings (name: value), e.g. upstreamTimeoutMs: 10000`,
    ]);
    assert.deepEqual(errorsOf({}, file('port: 1', 'port: 2')), [
      `lb-${files}.yaml: not YAML: Map keys must be unique at line 2, column 1`,
    ]);
    assert.deepEqual(errorsOf({}, join(dir, 'none.yaml')), [
      `LB_CONFIG: cannot read '${join(dir, 'none.yaml')}': ENOENT`,
    ]);
    // The file's errors and the environment's, together.
    assert.deepEqual(errorsOf({ N: 'x' }, file('upstream404: drop')), [
      "N must be an integer in 0..56 (got 'x')",
      `lb-${files}.yaml: upstream404 must be one of contract, pass (got 'drop')`,
    ]);
    // An empty file is every default.
    assert.equal(configOf({}, file('')).upstreamTimeoutMs, 10_000);
  });

  it('refuses a blank admin token in a file as in the environment', () => {
    assert.deepEqual(errorsOf({}, file('adminToken: "  "')), [
      `lb-${files}.yaml: adminToken is set but blank; set a token, or unset it to leave admin calls open`,
    ]);
  });

  it('lists the initial replicas (names, weights) instead of N', () => {
    const c = configOf({}, file('replicas:', '  - alpha-1', '  - {name: beta-2, weight: 3}'));
    assert.deepEqual(c.initialReplicas, [
      { name: 'alpha-1', weight: 1 },
      { name: 'beta-2', weight: 3 },
    ]);
    assert.deepEqual(errorsOf({}, file('replicas: [a, {name: bb, weight: 17}, bb2, BB2, {name: cc, port: 1}]')), [
      `lb-${files}.yaml: replicas: 'a' is not a replica name (2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit)`,
      `lb-${files}.yaml: replicas: 'bb' has weight 17; use 1..16`,
      `lb-${files}.yaml: replicas: 'BB2' appears more than once`,
      `lb-${files}.yaml: replicas must be a list of {name, weight} (weight 1..16, default 1) (got {"name":"cc","port":1})`,
    ]);
    assert.deepEqual(errorsOf({ N: '3' }, file('replicas: [aa, bb]')), [
      `N=3 and the 2 replicas lb-${files}.yaml lists disagree; unset N or list 3`,
    ]);
    assert.deepEqual(errorsOf({}, file('n: 2', 'replicas: [aa, bb]')), [
      `lb-${files}.yaml: n and replicas both set; a file that lists its replicas has no n`,
    ]);
    assert.deepEqual(
      errorsOf({ SLOTS: '16', K: '4' }, file('replicas: [{name: aa, weight: 3}, {name: bb, weight: 2}]')),
      [`lb-${files}.yaml: replicas weigh 5 in all, over MAX_REPLICAS (4)`],
    );
  });
});

describe('check-config', () => {
  const checkConfig = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, ['dist/lb.js', 'check-config', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });

  it('prints the effective configuration with secrets redacted and where each value came from; exit 0', () => {
    const path = file('upstreamTimeoutMs: 2500', 'hashKey: [cookie:sid]');
    const run = checkConfig({ ADMIN_TOKEN: 's3cret', SLOW_START_MS: '100' }, '--config', path);
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.stdout.includes('s3cret'), 'the token is not printed');
    assert.match(run.stdout, /^adminToken: <redacted> {2}# ADMIN_TOKEN$/m);
    assert.match(run.stdout, new RegExp(`^upstreamTimeoutMs: 2500  # ${path}$`, 'm'));
    assert.match(run.stdout, /^hashKey: \[cookie:sid\] {2}# /m);
    assert.match(run.stdout, /^slowStartMs: 100 {2}# SLOW_START_MS$/m);
    assert.match(run.stdout, /^drainTimeoutMs: 30000$/m);
  });

  it('exit 2 with every error, one a line, and nothing started', () => {
    const path = file('upstreamTimeoutMs: soon', 'hashFuncton: given');
    const run = checkConfig({ N: 'many' }, '--config', path);
    assert.equal(run.status, 2);
    assert.equal(run.stdout, '');
    assert.deepEqual(run.stderr.trim().split('\n'), [
      `lb: configuration error: lb-${files}.yaml: unknown setting 'hashFuncton' (did you mean 'hashFunction'?)`,
      "lb: configuration error: N must be an integer in 0..56 (got 'many')",
      `lb: configuration error: lb-${files}.yaml: upstreamTimeoutMs must be an integer in 1..3600000 (got 'soon')`,
    ]);
  });
});

describe('a reload writes run-time settings only', () => {
  it('applies the run-time ones into the same object, reports the others and leaves them', () => {
    const config = configOf({});
    const next = configOf({}, file('port: 6001', 'upstreamTimeoutMs: 1234', 'hashKey: cookie:sid', 'slots: 1024'));
    assert.deepEqual(restartNeeded(config, next), ['port', 'slots', 'k', 'maxReplicas']);
    const changed = applyRuntimeSettings(config, next, next.origins);
    assert.deepEqual([...changed].sort(), ['hashKey', 'upstreamTimeoutMs']);
    assert.deepEqual([config.port, config.slots, config.upstreamTimeoutMs], [5000, 512, 1234]);
    assert.deepEqual(config.hashKey, [{ kind: 'cookie', name: 'sid' }]);
    assert.equal(config.origins.upstreamTimeoutMs, 'file');
    // Nothing changed: nothing written.
    assert.equal(applyRuntimeSettings(config, next, next.origins).size, 0);
  });

  it('HEALTH_PATH and HEALTH_STATUS are run-time, and so the replicas view follows them', () => {
    const config = configOf({ REPLICA_PROTOCOL: 'h2c' });
    assert.equal(config.healthCheck, 'grpc');
    const next = configOf({ REPLICA_PROTOCOL: 'h2c' }, file('healthPath: /ready', 'healthStatus: "200"'));
    applyRuntimeSettings(config, next, next.origins);
    assert.equal(config.healthCheck, 'http');
    assert.deepEqual([config.replicas.healthPath, config.replicas.healthStatus], ['/ready', [[200, 200]]]);
  });

  it('the run-time settings are those the contract lists (keys, bounded loads, health, timeouts, slow start, re-homing, logs, sampling), and the hand-off', () => {
    assert.deepEqual([...RUNTIME_NAMES].sort(), [
      'accessLog',
      'adminRelayTimeoutMs',
      'drainTimeoutMs',
      'handoffPath',
      'handoffTimeoutMs',
      'hashBalanceFactor',
      'hashKey',
      'healthPath',
      'healthStatus',
      'heartbeatIntervalMs',
      'heartbeatTimeoutMs',
      'logLevel',
      'maxFailCount',
      'otelTracesSampler',
      'otelTracesSamplerArg',
      'outlierConsecutive5xx',
      'outlierEjectionMs',
      'outlierMaxEjectedPercent',
      'rehomeGraceMs',
      'requestTimeoutMs',
      'shutdownGraceMs',
      'slowStartMs',
      'startTimeoutMs',
      'stopTimeoutMs',
      'tunnelIdleTimeoutMs',
      'upstream404',
      'upstreamTimeoutMs',
    ]);
  });
});
