import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type GrpcObject,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceClientConstructor,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/**
 * Where a `.proto` file is: beside the bundle (`dist/`, where the build copies them and the image
 * has them), or in `server/` when run from source.
 */
function protoPath(name: string): string {
  const besideBundle = fileURLToPath(new URL(`./${name}`, import.meta.url));
  return existsSync(besideBundle) ? besideBundle : fileURLToPath(new URL(`../${name}`, import.meta.url));
}

/**
 * The service at `path` (package parts, then the service) in one of the replica's `.proto` files;
 * `enums: String` reads enum values as their names (what a client compares).
 */
export function loadService(
  file: string,
  path: string[],
  options: { enums?: typeof String } = {},
): ServiceClientConstructor {
  const definition = loadSync(protoPath(file), { keepCase: true, defaults: true, ...options });
  let node = loadPackageDefinition(definition) as GrpcObject;
  for (const part of path.slice(0, -1)) node = node[part] as GrpcObject;
  return node[path.at(-1)!] as ServiceClientConstructor;
}

interface WhoRequest {
  key: string;
}
interface WaitRequest extends WhoRequest {
  ms: number;
}
interface Msg {
  text: string;
}

/**
 * The replica as a gRPC server on HTTP/2 cleartext (REPLICA_PROTOCOL=h2c): `lb.v1.Echo` (Who,
 * Chat) and the standard health service, SERVING while it runs.
 */
export function buildGrpcServer(id: string): Server {
  const server = new Server();
  server.addService(loadService('echo.proto', ['lb', 'v1', 'Echo']).service, {
    Who: (call: ServerUnaryCall<WhoRequest, unknown>, done: sendUnaryData<unknown>) =>
      done(null, { server: id, key: call.request.key }),
    Chat: (call: ServerDuplexStream<Msg, Msg>) => {
      call.write({ text: id });
      call.on('data', (message: Msg) => {
        if (message.text.startsWith('fail:'))
          call.emit('error', { code: status.INVALID_ARGUMENT, details: message.text.slice('fail:'.length) });
        else call.write(message);
      });
      call.on('end', () => call.end());
    },
    Wait: (call: ServerUnaryCall<WaitRequest, unknown>, done: sendUnaryData<unknown>) => {
      const timer = setTimeout(() => done(null, { server: id, key: call.request.key }), call.request.ms);
      call.on('cancelled', () => clearTimeout(timer));
    },
  });
  server.addService(loadService('health.proto', ['grpc', 'health', 'v1', 'Health']).service, {
    Check: (_call: ServerUnaryCall<unknown, unknown>, done: sendUnaryData<unknown>) =>
      done(null, { status: 'SERVING' }),
    Watch: (call: ServerWritableStream<unknown, unknown>) =>
      call.emit('error', { code: status.UNIMPLEMENTED, details: 'Watch is not served: poll Check' }),
  });
  return server;
}

/** Listens on `host:port`; resolves to the port bound (0 asks the OS for one). */
export function listenGrpc(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
}
