import { fileURLToPath } from 'node:url';
import { credentials, type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** A .proto file that ships in server/ (what a user of the LB loads). */
const proto = (file: string) => fileURLToPath(new URL(`../../server/${file}`, import.meta.url));

/** A client of the service at `path` (package parts, then the service) in `file`, enums as their names. */
export function grpcClient(file: string, path: string[], address: string) {
  let node = loadPackageDefinition(
    loadSync(proto(file), { keepCase: true, defaults: true, enums: String }),
  ) as GrpcObject;
  for (const part of path.slice(0, -1)) node = node[part] as GrpcObject;
  const Client = node[path.at(-1)!] as ServiceClientConstructor;
  // biome-ignore lint/suspicious/noExplicitAny: the client's methods come from the .proto at run time
  return new Client(address, credentials.createInsecure()) as any;
}

type Unary = (request: object, done: (error: Error | null, reply: unknown) => void) => void;

/** One unary call, as a promise. */
export const unary = <T>(client: Record<string, Unary>, method: string, request: object) =>
  new Promise<T>((resolve, reject) =>
    client[method]!(request, (error, reply) => (error ? reject(error) : resolve(reply as T))),
  );
