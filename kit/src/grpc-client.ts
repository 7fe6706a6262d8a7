import { credentials } from '@grpc/grpc-js';
import { loadService } from '../../server/src/grpc.js';

/** A client of the replica's service at `path` in `file` (server/'s .proto files), enums as their names. */
export function grpcClient(file: string, path: string[], address: string) {
  const Client = loadService(file, path, { enums: String });
  // biome-ignore lint/suspicious/noExplicitAny: the client's methods come from the .proto at run time
  return new Client(address, credentials.createInsecure()) as any;
}

type Unary = (request: object, done: (error: Error | null, reply: unknown) => void) => void;

/** One unary call, as a promise. */
export const unary = <T>(client: Record<string, Unary>, method: string, request: object) =>
  new Promise<T>((resolve, reject) =>
    client[method]!(request, (error, reply) => (error ? reject(error) : resolve(reply as T))),
  );
