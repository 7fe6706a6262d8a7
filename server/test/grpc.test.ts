import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { grpcClient, unary } from '../../kit/src/grpc-client.js';

describe('replica server, REPLICA_PROTOCOL=h2c (gRPC)', () => {
  let child: ReturnType<typeof spawn>;
  let address = '';
  before(async () => {
    // The bundle the LB's process driver runs, on a port the OS picks; it reports it over IPC.
    child = spawn(process.execPath, [fileURLToPath(new URL('../../dist/server.js', import.meta.url))], {
      env: {
        ...process.env,
        REPLICA_PROTOCOL: 'h2c',
        SERVER_ID: 'Server-9',
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const [message] = (await once(child, 'message')) as [{ type: string; port: number }];
    assert.equal(message.type, 'listening');
    address = `127.0.0.1:${message.port}`;
  });
  after(async () => {
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0); // a gRPC replica stops gracefully too
  });

  it('Who names the replica and the key it was asked for', async () => {
    const echo = grpcClient('echo.proto', ['lb', 'v1', 'Echo'], address);
    assert.deepEqual(await unary(echo, 'Who', { key: 'user-42' }), { server: 'Server-9', key: 'user-42' });
    echo.close();
  });

  it('Chat sends the replica name first, then echoes every message', async () => {
    const echo = grpcClient('echo.proto', ['lb', 'v1', 'Echo'], address);
    const chat = echo.Chat();
    const got: string[] = [];
    chat.on('data', (message: { text: string }) => got.push(message.text));
    chat.write({ text: 'hello' });
    chat.write({ text: 'again' });
    chat.end();
    await once(chat, 'end');
    assert.deepEqual(got, ['Server-9', 'hello', 'again']);
    echo.close();
  });

  it('answers the standard health check SERVING', async () => {
    const health = grpcClient('health.proto', ['grpc', 'health', 'v1', 'Health'], address);
    assert.deepEqual(await unary(health, 'Check', { service: '' }), { status: 'SERVING' });
    health.close();
  });
});
