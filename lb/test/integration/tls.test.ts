import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as h2connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { writeEchoReplica } from '../../../kit/src/echo-replica.js';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { ConfigError, parseConfig } from '../../src/config.js';

/** A self-signed certificate for localhost and 127.0.0.1 (openssl, as an operator makes one). */
function makePair(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const run = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(run.status, 0, `openssl failed: ${run.stderr}`);
  return { cert, key };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly json: Record<string, unknown> & { headers: Record<string, string>; name: string };
}

function https1(url: string, ca: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}/who`, { ca, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function https2(
  url: string,
  ca: Buffer,
  headers: Record<string, string>,
): Promise<Answer & { alpn: string | false | undefined }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(url, { ca });
    session.on('error', reject);
    const stream = session.request({ ':path': '/who', ...headers });
    let status = 0;
    let answer: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answer = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const alpn = session.alpnProtocol;
      session.close();
      resolve({ status, headers: answer, json: JSON.parse(Buffer.concat(chunks).toString()), alpn });
    });
    stream.on('error', reject);
  });
}

/** The SHA-256 fingerprint of the certificate the LB presents now, on a new connection. */
function servedFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

const fingerprintOf = (pem: Buffer) =>
  spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem })
    .stdout.toString()
    .trim()
    .split('=')[1]!;

const execFileAsync = promisify(execFile);

describe('TLS (TLS_CERT, TLS_KEY): HTTP/1.1 and HTTP/2 by ALPN on one port', () => {
  let dir = '';
  let lb: RunningLb;
  let live: { cert: string; key: string };
  let first: { cert: Buffer; key: Buffer };
  let second: { cert: Buffer; key: Buffer };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-tls-'));
    const a = makePair(dir, 'first');
    const b = makePair(dir, 'second');
    first = { cert: await readFile(a.cert), key: await readFile(a.key) };
    second = { cert: await readFile(b.cert), key: await readFile(b.key) };
    live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    await copyFile(a.cert, live.cert);
    await copyFile(a.key, live.key);
    lb = await startLb({
      TLS_CERT: live.cert,
      TLS_KEY: live.key,
      HASH_KEY: 'header:x-user',
      REPLICA_COMMAND: await writeEchoReplica(dir),
      REQUEST_TIMEOUT_MS: '1500',
    });
  });
  after(async () => {
    await lb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 over TLS and tells the replica X-Forwarded-Proto: https (the client cannot say otherwise)', async () => {
    assert.match(lb.url, /^https:\/\//);
    const answer = await https1(lb.url, first.cert, { 'x-user': 'ada', 'x-forwarded-proto': 'http' });
    assert.equal(answer.status, 201);
    assert.equal(answer.json.headers['x-forwarded-proto'], 'https');
    assert.equal(answer.headers['x-served-by'], answer.json.name);
  });

  it('serves HTTP/2 when ALPN chooses h2, and routes the same key to the same replica as HTTP/1.1', async () => {
    for (const user of ['ada', 'grace', 'linus', 'barbara']) {
      const h2 = await https2(lb.url, first.cert, { 'x-user': user });
      const h1 = await https1(lb.url, first.cert, { 'x-user': user });
      assert.equal(h2.alpn, 'h2');
      assert.equal(h2.status, 201);
      assert.equal(h2.json.headers['x-forwarded-proto'], 'https');
      assert.equal(h2.headers['x-served-by'], h1.headers['x-served-by'], user);
    }
  });

  it('answers no cleartext request on the TLS port, and goes on serving TLS', async () => {
    const port = Number(new URL(lb.url).port);
    const got = await new Promise<string>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => socket.write('GET /who HTTP/1.1\r\nhost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.doesNotMatch(got, /HTTP\/1\.1 20\d/);
    assert.equal((await https1(lb.url, first.cert, { 'x-user': 'ada' })).status, 201);
  });

  it('cuts a TLS handshake that never finishes after REQUEST_TIMEOUT_MS, and goes on serving TLS', {
    timeout: 10_000,
  }, async () => {
    const port = Number(new URL(lb.url).port);
    const started = Date.now();
    // A TCP connection that sends no ClientHello, then one that stops halfway through its hello.
    const stalled = [Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])];
    const waited = await Promise.all(
      stalled.map(
        (bytes) =>
          new Promise<number>((resolve) => {
            const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes));
            socket.on('error', () => undefined);
            socket.on('close', () => resolve(Date.now() - started));
          }),
      ),
    );
    for (const ms of waited) assert.ok(ms >= 1400 && ms < 4000, `cut after ${ms} ms`);
    assert.equal((await https1(lb.url, first.cert, { 'x-user': 'ada' })).status, 201);
  });

  it('curl: HTTP/2 and HTTP/1.1 over TLS reach the same replica for the same key', async () => {
    const port = new URL(lb.url).port;
    const ca = join(dir, 'first.crt');
    // Asynchronously: the LB runs in this process.
    const curl = async (version: string, user: string) => {
      const args = ['-s', '-o', '/dev/null', '-D', '-', '-w', '%{http_version}', version, '--cacert', ca];
      const { stdout } = await execFileAsync('curl', [
        ...args,
        '-H',
        `x-user: ${user}`,
        `https://localhost:${port}/who`,
      ]);
      return { servedBy: /^x-served-by: (\S+)/im.exec(stdout)?.[1], version: stdout.trim().split('\n').at(-1) };
    };
    for (const user of ['ada', 'grace', 'linus', 'barbara']) {
      const h2 = await curl('--http2', user);
      const h1 = await curl('--http1.1', user);
      assert.deepEqual([h2.version, h1.version], ['2', '1.1']);
      assert.ok(h2.servedBy !== undefined && h2.servedBy === h1.servedBy, user);
    }
  });

  it('reads the pair again on SIGHUP; a pair that cannot be used leaves the old one in use; open connections go on', async () => {
    const port = Number(new URL(lb.url).port);
    const cas = [first.cert, second.cert];
    assert.equal(await servedFingerprint(port, cas), fingerprintOf(first.cert));
    // A session opened on the old pair, used again after each reload.
    const open = h2connect(lb.url, { ca: first.cert });
    const ask = () =>
      new Promise<number>((resolve, reject) => {
        const stream = open.request({ ':path': '/who', 'x-user': 'ada' });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
    assert.equal(await ask(), 201);
    await writeFile(live.cert, second.cert);
    await writeFile(live.key, second.key);
    lb.lb.reopenLogs(); // what the LB's SIGHUP handler calls
    assert.equal(await servedFingerprint(port, cas), fingerprintOf(second.cert));
    await writeFile(live.cert, 'not a certificate');
    lb.lb.reopenLogs();
    assert.equal(await servedFingerprint(port, cas), fingerprintOf(second.cert));
    assert.equal((await https1(lb.url, second.cert, { 'x-user': 'ada' })).status, 201);
    assert.equal(await ask(), 201);
    open.close();
  });

  it('refuses at start a pair that cannot be used, naming the variable', async () => {
    const refused = (env: Record<string, string>) => {
      try {
        parseConfig(env, { driver: 'process' });
        return 'accepted';
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        return error.message;
      }
    };
    assert.match(refused({ TLS_CERT: live.key }), /^TLS_CERT and TLS_KEY go together: .*TLS_CERT is set alone/);
    assert.match(
      refused({ TLS_CERT: join(dir, 'missing.crt'), TLS_KEY: live.key }),
      /^TLS_CERT cannot be read: ENOENT/,
    );
    const mismatched = makePair(dir, 'other');
    assert.match(
      refused({ TLS_CERT: mismatched.cert, TLS_KEY: join(dir, 'first.key') }),
      /^TLS_CERT and TLS_KEY cannot be used together/,
    );
    assert.equal(
      parseConfig({ TLS_CERT: mismatched.cert, TLS_KEY: mismatched.key }, { driver: 'process' }).tls?.certPath,
      mismatched.cert,
    );
  });
});
